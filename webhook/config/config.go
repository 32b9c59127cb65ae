// Package config holds the webhook's one configuration struct. Every field is bound to a
// command-line flag with an environment twin (flag > env > default) and validated once at start.
package config

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/vault-injector/vault-injector/webhook/mutate"
)

// EnvPrefix starts every flag's environment twin: --vault-addr is VAULT_INJECTOR_VAULT_ADDR.
const EnvPrefix = "VAULT_INJECTOR_"

// Config is the webhook's whole configuration, passed down as one value.
type Config struct {
	Inject mutate.Defaults

	VaultCABundle string // PEM file read into Inject.VaultCACert by LoadInjection

	Host        string // address /mutate listens on ("" = all)
	Port        int    // TLS port of /mutate
	TLSDir      string // tls.crt and tls.key, hot-reloaded
	HealthAddr  string // /healthz and /readyz, plain HTTP
	MetricsAddr string // /metrics, plain HTTP
	LogLevel    string // debug, info or error

	// ClientCAFile, when set, makes /mutate require a client certificate signed by one of its
	// CAs (the API server's, from its admission configuration); Validate reads it into ClientCAs.
	ClientCAFile string
	ClientCAs    *x509.CertPool

	// Self-managed TLS (certs package); off when cert-manager or files provide the certificate.
	TLSSelfManaged    bool
	TLSSecret         string
	WebhookConfigName string
	ServiceName       string
	Namespace         string
}

// AgentImageRepository is where each release's agent image is published; the agent of webhook
// version v is AgentImageRepository:v (the installed manifests pin the same).
const AgentImageRepository = "vault-injector/agent"

// DefaultVaultAddr is the installed manifests' Vault address, and the preview's.
const DefaultVaultAddr = "https://vault.vault.svc:8200"

// AgentImage is the agent image built from the same release as a webhook of that version.
func AgentImage(version string) string { return AgentImageRepository + ":" + version }

// New returns the defaults every flag starts from.
func New() Config {
	return Config{
		Inject:            mutate.NewDefaults(),
		Port:              9443,
		TLSDir:            "/tmp/vault-injector/tls",
		HealthAddr:        ":8081",
		MetricsAddr:       ":8080",
		LogLevel:          "info",
		TLSSelfManaged:    true,
		TLSSecret:         "vault-injector-tls",
		WebhookConfigName: "vault-injector",
		ServiceName:       "vault-injector",
	}
}

// BindInjection binds the flags that shape injected pods; the server and the inject preview
// share them.
func (c *Config) BindInjection(fs *flag.FlagSet) {
	d := &c.Inject
	fs.StringVar(&d.VaultAddr, "vault-addr", d.VaultAddr, "Vault address the agent uses, e.g. https://vault.vault:8200 (required)")
	fs.StringVar(&d.VaultNamespace, "vault-namespace", d.VaultNamespace, "Vault Enterprise namespace for the agent")
	fs.StringVar(&c.VaultCABundle, "vault-ca-bundle", c.VaultCABundle, "PEM file (mounted from a ConfigMap or Secret) with the CAs of Vault's certificate, embedded in every agent's config")
	fs.StringVar(&d.VaultTLSServerName, "vault-tls-server-name", d.VaultTLSServerName, "server name the agent expects in Vault's certificate")
	// Connection to Vault: cluster defaults of the tls-secret, proxy-address and
	// auth-type annotations, and whether a pod may name a plain-HTTP Vault.
	fs.StringVar(&d.VaultTLSSecret, "vault-tls-secret", d.VaultTLSSecret, "Secret (ca.crt, optional tls.crt/tls.key) in each pod's namespace for pods without the tls-secret annotation")
	fs.StringVar(&d.VaultProxyAddr, "vault-proxy-address", d.VaultProxyAddr, "proxy (http, https or socks5 URL) between the agent and Vault")
	fs.StringVar(&d.AuthType, "default-auth-type", d.AuthType, "kubernetes or jwt, for pods without the auth-type annotation")
	fs.BoolVar(&d.AllowHTTPVault, "allow-http-vault", d.AllowHTTPVault, "accept http:// Vault addresses in the vault-address annotation")
	fs.BoolVar(&d.AllowTLSSkipVerify, "allow-vault-tls-skip-verify", d.AllowTLSSkipVerify, "accept tls-skip-verify: \"true\", an agent that does not verify Vault's certificate")
	fs.StringVar(&d.AgentImage, "agent-image", d.AgentImage, "agent image, pinned by tag or digest (default: the agent of this release)")
	fs.StringVar(&d.AgentImagePullPolicy, "agent-image-pull-policy", d.AgentImagePullPolicy, "Always, IfNotPresent or Never")
	fs.IntVar(&d.AgentMetricsPort, "agent-metrics-port", d.AgentMetricsPort, "localhost port of the agent sidecar's /healthz and /metrics (0: off)")
	fs.StringVar(&d.AgentMetrics, "agent-metrics", d.AgentMetrics, "where the agent's metrics listen: off, loopback (127.0.0.1) or pod (the pod IP, containerPort vault-metrics; needs --agent-metrics-port)")
	fs.StringVar(&d.Role, "default-role", d.Role, "Vault role when a pod has no role annotation (empty: the annotation is required)")
	fs.StringVar(&d.AuthPath, "default-auth-path", d.AuthPath, "Vault kubernetes auth mount when a pod has no auth-path annotation")
	fs.StringVar(&d.Sidecar, "sidecar", d.Sidecar, "native (init container with restartPolicy Always, Kubernetes 1.29+) or classic (init container + sidecar)")
	fs.StringVar(&d.TokenAudience, "token-audience", d.TokenAudience, "audience of the agent's service-account token (empty: the API server's)")
	fs.DurationVar(&d.TokenExpiry, "token-expiry", d.TokenExpiry, "lifetime of the agent's service-account token")
	fs.Var(quantity{&d.VolumeSize}, "volume-size", "sizeLimit of the in-memory secrets volume")
	fs.Int64Var(&d.RunAsUser, "agent-uid", d.RunAsUser, "UID the agent runs as (non-root)")
	fs.Int64Var(&d.RunAsGroup, "agent-gid", d.RunAsGroup, "GID the agent runs as (non-root)")
	fs.Var(quantity{&d.CPURequest}, "agent-cpu-request", "agent CPU request (0: none)")
	fs.Var(quantity{&d.CPULimit}, "agent-cpu-limit", "agent CPU limit (0: none)")
	fs.Var(quantity{&d.MemoryRequest}, "agent-memory-request", "agent memory request (0: none)")
	fs.Var(quantity{&d.MemoryLimit}, "agent-memory-limit", "agent memory limit (0: none)")
	fs.BoolVar(&d.AcceptVaultK8s, "accept-vault-k8s-annotations", d.AcceptVaultK8s, "inject pods annotated for HashiCorp's vault-k8s (vault.hashicorp.com/agent-inject: \"true\") by translating their annotations")
}

// BindServer binds the flags of the serving process.
func (c *Config) BindServer(fs *flag.FlagSet) {
	fs.StringVar(&c.Host, "host", c.Host, "address the /mutate endpoint listens on (empty: all)")
	fs.IntVar(&c.Port, "port", c.Port, "TLS port of the /mutate endpoint")
	fs.StringVar(&c.TLSDir, "tls-dir", c.TLSDir, "directory with tls.crt and tls.key (reloaded when they change)")
	fs.StringVar(&c.HealthAddr, "health-addr", c.HealthAddr, "address of /healthz and /readyz")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "address of Prometheus /metrics (empty: off)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info or error")
	fs.StringVar(&c.ClientCAFile, "client-ca-file", c.ClientCAFile, "PEM file of the CA(s) the API server's client certificate is signed by: /mutate then refuses requests without such a certificate (empty: any client)")
	fs.BoolVar(&c.TLSSelfManaged, "tls-self-managed", c.TLSSelfManaged, "keep a CA and serving certificate in a Secret and the webhook's caBundle up to date (false: cert-manager or files provide them)")
	fs.StringVar(&c.TLSSecret, "tls-secret", c.TLSSecret, "Secret holding the self-managed CA and certificate")
	fs.StringVar(&c.WebhookConfigName, "webhook-config-name", c.WebhookConfigName, "MutatingWebhookConfiguration whose caBundle is kept current")
	fs.StringVar(&c.ServiceName, "service-name", c.ServiceName, "Service in front of the webhook (names in the certificate)")
	fs.StringVar(&c.Namespace, "namespace", c.Namespace, "namespace of the webhook (usually from the downward API)")
}

// ApplyEnv sets every flag not given on the command line from its environment twin.
func ApplyEnv(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// EnvName is a flag's environment twin.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// LoadInjection reads the files the injection flags name and validates the injection defaults.
func (c *Config) LoadInjection() error {
	if c.VaultCABundle != "" {
		b, err := os.ReadFile(c.VaultCABundle)
		if err != nil {
			return fmt.Errorf("--vault-ca-bundle: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(b) {
			return fmt.Errorf("--vault-ca-bundle %s holds no PEM certificate", c.VaultCABundle)
		}
		c.Inject.VaultCACert = string(b)
	}
	return c.Inject.Validate()
}

// Validate checks the whole serving configuration at once.
func (c *Config) Validate() error {
	errs := []error{c.LoadInjection()}
	if c.Port < 1 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("--port %d is invalid: use 1-65535", c.Port))
	}
	if c.TLSDir == "" {
		errs = append(errs, errors.New("--tls-dir is required"))
	}
	if c.HealthAddr == "" {
		errs = append(errs, errors.New("--health-addr is required: the probes need it"))
	}
	switch c.LogLevel {
	case "debug", "info", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q is invalid: use debug, info or error", c.LogLevel))
	}
	if c.ClientCAFile != "" {
		errs = append(errs, c.loadClientCAs())
	}
	if c.TLSSelfManaged && (c.Namespace == "" || c.TLSSecret == "" || c.ServiceName == "" || c.WebhookConfigName == "") {
		errs = append(errs, errors.New("self-managed TLS needs --namespace, --tls-secret, --service-name and --webhook-config-name (or --tls-self-managed=false)"))
	}
	return errors.Join(errs...)
}

// loadClientCAs reads ClientCAFile into ClientCAs.
func (c *Config) loadClientCAs() error {
	b, err := os.ReadFile(c.ClientCAFile)
	if err != nil {
		return fmt.Errorf("--client-ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return fmt.Errorf("--client-ca-file %s holds no PEM certificate", c.ClientCAFile)
	}
	c.ClientCAs = pool
	return nil
}

// quantity is a flag.Value for a resource.Quantity.
type quantity struct{ q *resource.Quantity }

func (v quantity) String() string {
	if v.q == nil {
		return ""
	}
	return v.q.String()
}

func (v quantity) Set(s string) error {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return fmt.Errorf("not a Kubernetes quantity such as 10m or 64Mi: %w", err)
	}
	*v.q = q
	return nil
}
