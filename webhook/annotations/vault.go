package annotations

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
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
	// Keys of the TLS Secret (files under contract.TLSDir); empty: ca.crt, tls.crt, tls.key.
	CAKey, ClientCertKey, ClientKeyKey string
	TLSSkipVerify                      bool // only with the webhook's --allow-vault-tls-skip-verify
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

// ValidateSecretKey accepts a key of the tls-secret's Secret, which is a file name under
// contract.TLSDir in the agent.
func ValidateSecretKey(v string) (string, error) {
	if len(validation.IsConfigMapKey(v)) > 0 {
		return "", errors.New("must be a key of the tls-secret's Secret, such as ca.crt or client.crt (letters, digits, '-', '_', '.'; no '/')")
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

// ValidateVaultAddress accepts a Vault base URL such as https://vault.example.com:8200 and
// returns its normal form: scheme and host in lower case, no trailing slash. Every later check
// (IsHTTP, policies) compares that form, so HTTP:// cannot pass for something else.
func ValidateVaultAddress(v string) (string, error) {
	n, err := baseURL(v, "https", "http")
	if err != nil {
		return "", fmt.Errorf("must be a Vault address such as https://vault.example.com:8200 (scheme, host and port only)%s", err)
	}
	return n, nil
}

// baseURL parses scheme://host[:port] with one of schemes and returns it normalized. The error
// is the detail after the caller's message ("" when the shape is wrong).
func baseURL(v string, schemes ...string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || !slices.Contains(schemes, u.Scheme) || u.Hostname() == "" || u.User != nil || u.Opaque != "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.HasSuffix(u.Host, ":") {
		return "", errors.New("")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf(": port %s is not 1-65535", p)
		}
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), nil
}

// IsHTTP reports a plain-HTTP Vault address, which needs the webhook's --allow-http-vault. The
// scheme is compared without case, for addresses that were not normalized.
func IsHTTP(addr string) bool { return len(addr) >= 7 && strings.EqualFold(addr[:7], "http://") }

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

// ValidateProxyAddress accepts an HTTP, HTTPS or SOCKS5 proxy URL and returns its normal form.
func ValidateProxyAddress(v string) (string, error) {
	n, err := baseURL(v, "http", "https", "socks5")
	if err != nil {
		return "", fmt.Errorf("must be a proxy URL such as http://proxy.example.com:3128 (http, https or socks5)%s", err)
	}
	return n, nil
}

var audienceRE = regexp.MustCompile(`^[!-+\--~]{1,256}$`) // printable ASCII without space or ','

// ValidateAudience accepts a token audience such as vault or https://vault.example.com.
func ValidateAudience(v string) (string, error) {
	if !audienceRE.MatchString(v) {
		return "", errors.New("must be a token audience such as vault or https://vault.example.com: 1-256 printable characters, no spaces or commas")
	}
	return v, nil
}
