package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vault-injector/vault-injector/contract"
)

// requestTimeout bounds one HTTP request; the agent's own backoff loop does the retrying.
const requestTimeout = 15 * time.Second

// APIClient is the Conn over the official Vault API client: the TLS, proxy and size-limited
// transport, the KV mount cache, the lease watches, and the token the session installed. The
// token's lifetime and its renewal belong to the Session.
type APIClient struct {
	c       *api.Client
	kv      kvCache
	backoff contract.Backoff // between lease renewal retries
	obs     *observerRef     // metrics, set after New
}

var _ Conn = (*APIClient)(nil)

// New builds a client from the agent config: cfg.Vault, cfg.Backoff (lease renewal retries;
// zero means the contract defaults) and the response size limit; logging in is a Method's job
// (NewMethod). Empty Vault fields fall back to the VAULT_* environment (address, CA, client
// cert, namespace, ...), as every Vault client does. A VAULT_TOKEN in the environment is
// ignored: the agent only uses tokens it logged in for (or was handed over).
func New(cfg *contract.Config) (*APIClient, error) {
	v := cfg.Vault
	ac := api.DefaultConfig()
	if ac.Error != nil {
		return nil, fmt.Errorf("reading VAULT_* environment: %w", ac.Error)
	}
	// Skipping verification is the webhook's decision (--allow-vault-tls-skip-verify and the
	// pod's tls-skip-verify), never the environment's: a VAULT_SKIP_VERIFY added to the agent
	// container (agent-json-patch) must not turn it off.
	if t, ok := ac.HttpClient.Transport.(*http.Transport); ok && t.TLSClientConfig != nil {
		t.TLSClientConfig.InsecureSkipVerify = v.InsecureSkipVerify
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
	if v.CACert != "" || v.CACertFile != "" || v.ClientCert != "" || v.ClientKey != "" || v.ServerName != "" || v.InsecureSkipVerify {
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
	return &APIClient{c: c, backoff: backoffOrDefault(cfg.Backoff), obs: obs}, nil
}

// backoffOrDefault is bo, or the contract's defaults when bo is unset or inconsistent (the
// config was not validated: tests, the benchmark).
func backoffOrDefault(bo contract.Backoff) contract.Backoff {
	if bo.Min.Duration <= 0 || bo.Max.Duration < bo.Min.Duration {
		return contract.Backoff{Min: contract.Duration{Duration: contract.DefaultBackoffMin}, Max: contract.Duration{Duration: contract.DefaultBackoffMax}}
	}
	return bo
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
		Path: path, KVVersion: kv, RequestID: s.RequestID, LeaseID: s.LeaseID, LeaseDuration: s.LeaseDuration,
		Renewable: s.Renewable, Data: s.Data, Warnings: s.Warnings,
	}
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
