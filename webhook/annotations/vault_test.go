package annotations

import (
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

// TestVaultValidators covers the connection annotations: each accepted value, and refusals that
// name the annotation, echo the value and say what is accepted.
func TestVaultValidators(t *testing.T) {
	tests := []struct {
		key, value, wantErr string
	}{
		{"tls-secret", "vault-tls", ""},
		{"tls-secret", "vault.tls-1", ""},
		{"tls-secret", "Vault_TLS", "name of a Secret in the pod's namespace"},
		{"tls-secret", "", "name of a Secret"},
		{"tls-server-name", "vault.example.com", ""},
		{"tls-server-name", "10.0.0.7", ""},
		{"tls-server-name", "vault example", "DNS name (or IP address)"},
		{"tls-server-name", "https://vault", "DNS name (or IP address)"},
		{"vault-address", "https://vault.example.com:8200", ""},
		{"vault-address", "https://10.0.0.7:8200/", ""},
		{"vault-address", "http://vault:8200", ""}, // refused later unless the webhook allows it
		{"vault-address", "vault:8200", "Vault address such as https://"},
		{"vault-address", "https://vault:8200/v1/secret", "scheme, host and port only"},
		{"vault-address", "https://user:pw@vault:8200", "scheme, host and port only"},
		{"vault-address", "ftp://vault", "Vault address"},
		{"vault-address", "https://vault:0", "port 0 is not 1-65535"},
		{"vault-address", "https://vault:99999", "port 99999 is not 1-65535"},
		{"vault-address", "https://vault:", "scheme, host and port only"},
		{"vault-address", "https://:8200", "scheme, host and port only"},
		{"vault-address", "https://[::1]:8200", ""},
		{"vault-address", "HTTPS://Vault.Example.com:8200", ""},
		{"namespace", "admin", ""},
		{"namespace", "admin/team-a/", ""},
		{"namespace", "admin team", "Vault namespace path"},
		{"namespace", "admin/../root", "Vault namespace path"},
		{"auth-type", "kubernetes", ""},
		{"auth-type", "jwt", ""},
		{"auth-type", "oidc", `"kubernetes"`},
		{"auth-type", "JWT", `"jwt"`},
		{"proxy-address", "http://proxy.example.com:3128", ""},
		{"proxy-address", "socks5://10.0.0.1:1080", ""},
		{"proxy-address", "proxy:3128", "proxy URL"},
		{"proxy-address", "ftp://proxy", "http, https or socks5"},
		{"proxy-address", "http://proxy:70000", "port 70000 is not 1-65535"},
		{"token-audience", "vault", ""},
		{"token-audience", "https://vault.example.com", ""},
		{"token-audience", "vault,other", "no spaces or commas"},
		{"token-audience", "my vault", "token audience"},
		{"token-audience", strings.Repeat("a", 257), "1-256"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			_, _, err := Parse(withInject(tt.key, tt.value))
			checkErr(t, err, tt.wantErr, contract.Prefix+tt.key, Shorten(tt.value))
		})
	}
}

// TestVaultOptionsParsed: accepted values arrive normalized in Options.Vault.
func TestVaultOptionsParsed(t *testing.T) {
	o, _, err := Parse(withInject("tls-secret", "vault-tls", "tls-server-name", "vault.example.com",
		"vault-address", "https://vault.example.com:8200/", "namespace", "/admin/team-a/", "auth-type", "jwt",
		"proxy-address", "http://proxy:3128", "token-audience", "https://vault.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	want := VaultOptions{TLSSecret: "vault-tls", ServerName: "vault.example.com", Address: "https://vault.example.com:8200",
		Namespace: "admin/team-a", AuthType: "jwt", ProxyAddress: "http://proxy:3128", TokenAudience: "https://vault.example.com"}
	if o.Vault != want {
		t.Errorf("got %+v\nwant %+v", o.Vault, want)
	}
}

// TestVaultAddressNormalized: "HTTP://" passed the plain-HTTP refusal, which compared the
// scheme with case, and the agent then logged in over plain HTTP. Addresses are stored in
// their normal form, and IsHTTP compares without case either way.
func TestVaultAddressNormalized(t *testing.T) {
	for in, want := range map[string]string{
		"HTTP://vault:8200": "http://vault:8200", "Http://Vault:8200/": "http://vault:8200",
		"HTTPS://VAULT.example.COM:8200": "https://vault.example.com:8200", "https://[::1]:8200": "https://[::1]:8200",
	} {
		o, _, err := Parse(withInject("vault-address", in, "proxy-address", strings.Replace(in, "8200", "3128", 1)))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if o.Vault.Address != want || o.Vault.ProxyAddress != strings.Replace(want, "8200", "3128", 1) {
			t.Errorf("%s: stored %q and proxy %q, want %q", in, o.Vault.Address, o.Vault.ProxyAddress, want)
		}
		if IsHTTP(in) != strings.HasPrefix(want, "http://") || IsHTTP(o.Vault.Address) != IsHTTP(in) {
			t.Errorf("%s: IsHTTP(%q) = %v, IsHTTP(%q) = %v", in, in, IsHTTP(in), o.Vault.Address, IsHTTP(o.Vault.Address))
		}
	}
}
