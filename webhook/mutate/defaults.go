package mutate

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/webhook/annotations"
)

// Sidecar styles for clusters with and without native sidecars.
const (
	SidecarNative  = "native"
	SidecarClassic = "classic"
)

// Values of Defaults.AgentMetrics (--agent-metrics).
const (
	AgentMetricsOff      = "off"
	AgentMetricsLoopback = "loopback" // 127.0.0.1:--agent-metrics-port, as before the flag existed
	AgentMetricsPod      = "pod"      // the pod IP, with a containerPort named vault-metrics
)

// Defaults are the cluster-wide settings (the webhook's flags) that annotations may override.
type Defaults struct {
	VaultAddr          string
	VaultNamespace     string
	VaultCACert        string // PEM handed to the agent in its config
	VaultTLSServerName string

	// Connection to Vault: the defaults of the per-pod connection annotations.
	VaultTLSSecret string // Secret, in each pod's namespace, for pods without tls-secret
	VaultProxyAddr string
	AuthType       string // contract.AuthKubernetes or contract.AuthJWT
	AllowHTTPVault bool   // accept http:// in the vault-address annotation
	// AllowTLSSkipVerify accepts tls-skip-verify: "true" (an agent that trusts any certificate).
	AllowTLSSkipVerify bool

	AgentImage           string
	AgentImagePullPolicy string // Always, IfNotPresent or Never
	AgentMetricsPort     int    // 0: off
	AgentMetrics         string // AgentMetricsOff, AgentMetricsLoopback or AgentMetricsPod

	Role     string // "" makes the role annotation required
	AuthPath string

	Sidecar       string // SidecarNative or SidecarClassic
	TokenAudience string // "" = the API server's own audience
	TokenExpiry   time.Duration
	VolumeSize    resource.Quantity

	RunAsUser, RunAsGroup int64

	// Zero quantities mean "not set".
	CPURequest, CPULimit, MemoryRequest, MemoryLimit resource.Quantity

	// AcceptVaultK8s injects pods annotated for HashiCorp's vault-k8s (vault.hashicorp.com/*)
	// by translating their annotations (package vaultk8s).
	AcceptVaultK8s bool
}

// NewDefaults returns the documented defaults; the webhook's flags start from these. They are
// the installed defaults too (manifests/base passes the same values, and a test holds the two
// together), so `webhook inject` without flags previews what the installed webhook does.
func NewDefaults() Defaults {
	return Defaults{
		AgentImagePullPolicy: "IfNotPresent",
		AgentMetrics:         AgentMetricsLoopback,
		AuthPath:             "auth/kubernetes",
		AuthType:             contract.AuthKubernetes,
		Sidecar:              SidecarNative,
		// The audience Vault roles are told to expect (docs/install.md: the Vault side).
		TokenAudience: "vault",
		TokenExpiry:   time.Hour,
		// Rendered secrets are small; two generations of them fit with room to spare.
		VolumeSize:    resource.MustParse("4Mi"),
		RunAsUser:     65532,
		RunAsGroup:    65532,
		CPURequest:    resource.MustParse("10m"),
		MemoryRequest: resource.MustParse("16Mi"),
		MemoryLimit:   resource.MustParse("64Mi"),
		// On: a pod annotated for vault-k8s gets the same files without a manifest change.
		AcceptVaultK8s: true,
	}
}

// Validate reports every bad default at once. It stores VaultAddr in its normal form (scheme
// and host in lower case, no trailing slash), the form the vault-address annotation takes, so
// every agent config carries one spelling of the cluster's Vault.
func (d *Defaults) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if d.VaultAddr == "" {
		bad("vault address is required (--vault-addr)")
	} else if addr, err := annotations.ValidateVaultAddress(d.VaultAddr); err != nil {
		bad("--vault-addr %q: %w", d.VaultAddr, err)
	} else {
		d.VaultAddr = addr
	}
	if d.AgentImage == "" {
		bad("agent image is required (--agent-image)")
	}
	switch d.AgentImagePullPolicy {
	case "Always", "IfNotPresent", "Never":
	default:
		bad("agent image pull policy %q is invalid: use Always, IfNotPresent or Never", d.AgentImagePullPolicy)
	}
	if d.Role != "" {
		if err := annotations.ValidateRole(d.Role); err != nil {
			bad("default role %q: %w", d.Role, err)
		}
	}
	if p, err := annotations.NormalizeAuthPath(d.AuthPath); err != nil || p != d.AuthPath {
		bad("default auth path %q is invalid: use the form auth/<mount>, such as auth/kubernetes, or <namespace>/auth/<mount>", d.AuthPath)
	}
	if d.Sidecar != SidecarNative && d.Sidecar != SidecarClassic {
		bad("sidecar mode %q is invalid: use %s or %s", d.Sidecar, SidecarNative, SidecarClassic)
	}
	// The API server refuses projected tokens shorter than 10 minutes.
	if d.TokenExpiry < 10*time.Minute || d.TokenExpiry > 48*time.Hour {
		bad("token expiry %s is invalid: use 10m to 48h", d.TokenExpiry)
	}
	// The agent keeps the replaced generation until the next write, so the volume must hold two
	// copies of the largest answer it accepts for a secret.
	if minSize := int64(2 * contract.DefaultMaxSecretBytes); d.VolumeSize.Value() < minSize {
		bad("volume size %s cannot hold two generations of a %d-byte secret (the agent's read cap): use at least %dMi",
			d.VolumeSize.String(), contract.DefaultMaxSecretBytes, minSize>>20)
	}
	if d.RunAsUser <= 0 || d.RunAsGroup <= 0 {
		bad("agent user and group must be non-root (> 0)")
	}
	if d.AgentMetricsPort < 0 || d.AgentMetricsPort > 65535 {
		bad("agent metrics port %d is invalid: use 0 (off) or 1-65535", d.AgentMetricsPort)
	}
	errs = append(errs, d.validateAgentMetrics())
	errs = append(errs, d.validateVault()...)
	if !d.CPULimit.IsZero() && d.CPURequest.Cmp(d.CPULimit) > 0 ||
		!d.MemoryLimit.IsZero() && d.MemoryRequest.Cmp(d.MemoryLimit) > 0 {
		bad("agent resource requests must not exceed their limits")
	}
	return errors.Join(errs...)
}

func (d *Defaults) validateAgentMetrics() error {
	switch d.AgentMetrics {
	case AgentMetricsOff, AgentMetricsLoopback:
	case AgentMetricsPod:
		if d.AgentMetricsPort == 0 {
			return errors.New("--agent-metrics=pod needs --agent-metrics-port (the port Prometheus scrapes on the pod IP)")
		}
	default:
		return fmt.Errorf("agent metrics %q is invalid: use %s, %s or %s (--agent-metrics)", d.AgentMetrics, AgentMetricsOff, AgentMetricsLoopback, AgentMetricsPod)
	}
	return nil
}

// validateVault checks the connection defaults (the --vault-* flags, --default-auth-type,
// --token-audience) with the rules of the matching annotations.
func (d *Defaults) validateVault() []error {
	var errs []error
	check := func(flag, v string, validate func(string) (string, error)) {
		if v == "" {
			return
		}
		if _, err := validate(v); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", flag, v, err))
		}
	}
	check("--vault-namespace", d.VaultNamespace, annotations.ValidateNamespace)
	check("--vault-tls-server-name", d.VaultTLSServerName, annotations.ValidateServerName)
	check("--vault-proxy-address", d.VaultProxyAddr, annotations.ValidateProxyAddress)
	check("--vault-tls-secret", d.VaultTLSSecret, annotations.ValidateTLSSecret)
	check("--token-audience", d.TokenAudience, annotations.ValidateAudience)
	check("--default-auth-type", d.AuthType, annotations.ValidateAuthType) // "": kubernetes
	return errs
}
