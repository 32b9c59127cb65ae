package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	k8sauth "github.com/hashicorp/vault/api/auth/kubernetes"

	"github.com/vault-injector/vault-injector/contract"
)

// requestTimeout bounds one HTTP request; the agent's own backoff loop does the retrying.
const requestTimeout = 15 * time.Second

// APIClient is the Client over the official Vault API client.
type APIClient struct {
	c    *api.Client
	auth contract.Auth

	mu        sync.Mutex
	ttl       time.Duration // of the current token; 0 = does not expire
	renewable bool

	kv      kvCache
	backoff contract.Backoff // between renewal retries

	tokenBoOnce sync.Once
	tokenBo     *lockedBackoff // shared by successive token watches

	obs *observerRef // metrics, set after New
}

var _ Client = (*APIClient)(nil)

// New builds a client from the agent config: cfg.Vault, cfg.Auth, cfg.Backoff (renewal
// retries; zero means the contract defaults) and the response size limit. Empty Vault fields
// fall back to the VAULT_* environment (address, CA, client cert, namespace, ...), as every
// Vault client does. A VAULT_TOKEN in the environment is ignored: the agent only uses tokens it
// logged in for (or was handed over).
func New(cfg *contract.Config) (*APIClient, error) {
	v, auth := cfg.Vault, cfg.Auth
	ac := api.DefaultConfig()
	if ac.Error != nil {
		return nil, fmt.Errorf("reading VAULT_* environment: %w", ac.Error)
	}
	// No retries inside the API client, even with VAULT_MAX_RETRIES: every retry goes through
	// the agent's own backoff.
	ac.MaxRetries = 0
	if os.Getenv(api.EnvVaultClientTimeout) == "" {
		ac.Timeout = requestTimeout
	}
	if v.Address != "" {
		ac.Address = v.Address
	}
	tls, err := tlsConfig(v)
	if err != nil {
		return nil, fmt.Errorf("configuring Vault TLS: %w", err)
	}
	if v.CACert != "" || v.CACertFile != "" || v.ClientCert != "" || v.ClientKey != "" || v.ServerName != "" {
		if err := ac.ConfigureTLS(tls); err != nil {
			return nil, fmt.Errorf("configuring Vault TLS: %w", err)
		}
	}
	if v.ProxyAddress != "" {
		if err := setProxy(ac.HttpClient, v.ProxyAddress); err != nil {
			return nil, err
		}
	}
	// After ConfigureTLS and setProxy, which need the *http.Transport itself.
	ac.HttpClient.Transport = &tlsHintTransport{next: &limitTransport{next: ac.HttpClient.Transport, max: cfg.SecretBytesLimit()}}
	obs := &observerRef{}
	ac.HttpClient.Transport = &timedTransport{next: ac.HttpClient.Transport, obs: obs}
	c, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("creating Vault client: %w", err)
	}
	c.ClearToken()
	if v.Namespace != "" {
		c.SetNamespace(v.Namespace)
	}
	bo := cfg.Backoff
	if bo.Min.Duration <= 0 || bo.Max.Duration < bo.Min.Duration {
		bo = contract.Backoff{Min: contract.Duration{Duration: contract.DefaultBackoffMin}, Max: contract.Duration{Duration: contract.DefaultBackoffMax}}
	}
	return &APIClient{c: c, auth: auth, backoff: bo, obs: obs}, nil
}

// Login implements Client. Kubernetes auth builds a fresh KubernetesAuth per login, because it
// reads the projected token file when built and the kubelet rotates that file.
func (a *APIClient) Login(ctx context.Context) error {
	if a.auth.Method == contract.AuthToken {
		b, err := os.ReadFile(a.auth.TokenFile)
		if err != nil {
			return &Error{Op: "login", Path: "token file " + a.auth.TokenFile, Err: err}
		}
		return a.UseToken(ctx, strings.TrimSpace(string(b)))
	}
	mount := strings.TrimPrefix(strings.Trim(a.auth.Path, "/"), "auth/")
	loginPath := "auth/" + mount + "/login"
	if a.auth.Method == contract.AuthJWT {
		return a.loginJWT(ctx, loginPath)
	}
	k, err := k8sauth.NewKubernetesAuth(a.auth.Role,
		k8sauth.WithMountPath(mount), k8sauth.WithServiceAccountTokenPath(a.auth.TokenFile))
	if err != nil {
		return &Error{Op: "login", Path: loginPath, Err: err}
	}
	s, err := a.c.Auth().Login(ctx, k)
	if err != nil {
		return wrap("login", loginPath, err)
	}
	a.setToken(s.Auth.ClientToken, time.Duration(s.Auth.LeaseDuration)*time.Second, s.Auth.Renewable)
	return nil
}

// UseToken implements Client.
func (a *APIClient) UseToken(ctx context.Context, token string) error {
	if token == "" {
		return &Error{Op: "lookup-self", Path: "auth/token/lookup-self", Err: errors.New("empty token")}
	}
	c, err := a.c.CloneWithHeaders() // keeps the namespace header
	if err != nil {
		return err
	}
	c.SetToken(token)
	s, err := c.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return wrap("lookup-self", "auth/token/lookup-self", err)
	}
	ttl, err := s.TokenTTL()
	if err != nil {
		return fmt.Errorf("parsing token ttl: %w", err)
	}
	renewable, _ := s.TokenIsRenewable()
	a.setToken(token, ttl, renewable)
	return nil
}

func (a *APIClient) setToken(token string, ttl time.Duration, renewable bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.c.SetToken(token)
	a.ttl, a.renewable = ttl, renewable
}

// Token implements Client.
func (a *APIClient) Token() string { return a.c.Token() }

// LookupSelf implements Client.
func (a *APIClient) LookupSelf(ctx context.Context) error {
	if _, err := a.c.Auth().Token().LookupSelfWithContext(ctx); err != nil {
		return wrap("lookup-self", "auth/token/lookup-self", err)
	}
	return nil
}

// Read implements Client.
func (a *APIClient) Read(ctx context.Context, path string) (*Secret, error) {
	path = strings.Trim(path, "/")
	readPath, kv, err := a.kv.resolve(ctx, a.c, path)
	if err != nil {
		return nil, err
	}
	s, err := a.read(ctx, readPath)
	if err != nil {
		return nil, wrap("read", readPath, err)
	}
	if s == nil || (s.Data == nil && kv != 2) {
		return nil, &Error{Op: "read", Path: readPath, Status: 404, Errors: []string{"no secret at this path"}}
	}
	if kv == 2 && s.Data["data"] == nil {
		return nil, &Error{Op: "read", Path: readPath, Status: 404, Errors: []string{"the latest version is deleted or destroyed"}}
	}
	return convert(readPath, kv, s), nil
}

// Write implements Client.
func (a *APIClient) Write(ctx context.Context, path string, data map[string]any) (*Secret, error) {
	path = strings.Trim(path, "/")
	s, err := a.c.Logical().WriteWithContext(ctx, path, data)
	if err != nil {
		return nil, wrap("write", path, err)
	}
	if s == nil {
		return nil, &Error{Op: "write", Path: path, Status: 204, Errors: []string{"Vault returned no data"}}
	}
	return convert(path, 0, s), nil
}

func convert(path string, kv int, s *api.Secret) *Secret {
	return &Secret{
		Path: path, KVVersion: kv, LeaseID: s.LeaseID, LeaseDuration: s.LeaseDuration,
		Renewable: s.Renewable, Data: s.Data, Warnings: s.Warnings,
	}
}

// RevokeSelf implements Client.
func (a *APIClient) RevokeSelf(ctx context.Context) error {
	if err := a.c.Auth().Token().RevokeSelfWithContext(ctx, ""); err != nil {
		return wrap("revoke-self", "auth/token/revoke-self", err)
	}
	return nil
}

// wrap turns an API error into an Error carrying Vault's status and messages.
func wrap(op, path string, err error) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return &Error{Op: op, Path: path, Status: re.StatusCode, Errors: re.Errors}
	}
	var tl *TooLargeError
	if errors.As(err, &tl) {
		// Without the URL error around it, which repeats the path as a URL.
		return &Error{Op: op, Path: path, Err: tl}
	}
	var te *TLSError
	if errors.As(err, &te) {
		return &Error{Op: op, Path: path, Err: te}
	}
	return &Error{Op: op, Path: path, Err: err}
}
