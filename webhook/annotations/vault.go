package annotations

import (
	"errors"
	"net"
	"net/url"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/vault-injector/vault-injector/contract"
)

// VaultOptions is how the pod asks to reach Vault. Empty fields mean "the webhook's flag".
type VaultOptions struct {
	TLSSecret     string // Secret in the pod's namespace: ca.crt, optional tls.crt/tls.key
	ServerName    string
	Address       string // http:// only if the webhook allows it (checked with the defaults)
	Namespace     string
	AuthType      string // contract.AuthKubernetes or contract.AuthJWT
	ProxyAddress  string
	TokenAudience string
}

// vaultField validates a value and stores its normalized form.
func vaultField(validate func(string) (string, error), field func(*Options) *string) func(*Options, string) error {
	return func(o *Options, v string) error {
		n, err := validate(v)
		if err != nil {
			return err
		}
		*field(o) = n
		return nil
	}
}

// ValidateTLSSecret accepts the name of the Secret the agent takes its TLS files from.
func ValidateTLSSecret(v string) (string, error) {
	if errs := validation.IsDNS1123Subdomain(v); len(errs) > 0 {
		return "", errors.New("must be the name of a Secret in the pod's namespace (lower-case letters, digits, '-', '.') holding ca.crt and optionally tls.crt and tls.key")
	}
	return v, nil
}

// ValidateServerName accepts the DNS name or IP address expected in Vault's certificate.
func ValidateServerName(v string) (string, error) {
	if net.ParseIP(v) == nil && len(validation.IsDNS1123Subdomain(strings.ToLower(v))) > 0 {
		return "", errors.New("must be the DNS name (or IP address) in Vault's certificate, such as vault.example.com")
	}
	return v, nil
}

// ValidateVaultAddress accepts a Vault base URL such as https://vault.example.com:8200.
func ValidateVaultAddress(v string) (string, error) {
	const accepted = "must be a Vault address such as https://vault.example.com:8200 (scheme, host and port only)"
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New(accepted)
	}
	return strings.TrimSuffix(v, "/"), nil
}

// IsHTTP reports a plain-HTTP Vault address, which needs the webhook's --allow-http-vault.
func IsHTTP(addr string) bool { return strings.HasPrefix(addr, "http://") }

var namespaceRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`)

// ValidateNamespace accepts a Vault Enterprise namespace path such as admin or admin/team-a.
func ValidateNamespace(v string) (string, error) {
	p := strings.Trim(v, "/")
	if !namespaceRE.MatchString(p) || len(p) > 255 || strings.Contains("/"+p+"/", "/../") || strings.Contains("/"+p+"/", "/./") {
		return "", errors.New("must be a Vault namespace path such as admin or admin/team-a")
	}
	return p, nil
}

// ValidateAuthType accepts the login methods the agent offers.
func ValidateAuthType(v string) (string, error) {
	if v != contract.AuthKubernetes && v != contract.AuthJWT {
		return "", errors.New(`must be "kubernetes" (Vault reviews the token with the API server) or "jwt" (Vault checks the token's signature with the cluster's issuer keys)`)
	}
	return v, nil
}

// ValidateProxyAddress accepts an HTTP, HTTPS or SOCKS5 proxy URL.
func ValidateProxyAddress(v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("must be a proxy URL such as http://proxy.example.com:3128 (http, https or socks5)")
	}
	return v, nil
}

var audienceRE = regexp.MustCompile(`^[!-+\--~]{1,256}$`) // printable ASCII without space or ','

// ValidateAudience accepts a token audience such as vault or https://vault.example.com.
func ValidateAudience(v string) (string, error) {
	if !audienceRE.MatchString(v) {
		return "", errors.New("must be a token audience such as vault or https://vault.example.com: 1-256 printable characters, no spaces or commas")
	}
	return v, nil
}
