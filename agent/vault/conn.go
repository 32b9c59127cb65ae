package vault

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/vault-injector/vault-injector/contract"
)

// TLSError is a Vault certificate the agent cannot trust, with the setting that fixes it. Its
// message is the agent's one-line reason in the log and the termination message.
type TLSError struct {
	Reason string // x509's words, without its per-certificate detail
	Addr   string // scheme://host of the Vault the agent talked to
	Fix    string
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("%s talking to %s: %s", e.Reason, e.Addr, e.Fix)
}

// tlsHintTransport turns certificate failures into a TLSError naming the fix: a bare "x509:
// certificate signed by unknown authority" does not tell a user where the CA comes from.
type tlsHintTransport struct{ next http.RoundTripper }

func (t *tlsHintTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		return resp, nil
	}
	addr := req.URL.Scheme + "://" + req.URL.Host
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return nil, &TLSError{Reason: "x509: certificate signed by unknown authority", Addr: addr,
			Fix: "set " + contract.AnnotationTLSSecret + " or --vault-ca-bundle"}
	}
	var he x509.HostnameError
	if errors.As(err, &he) {
		return nil, &TLSError{Reason: he.Error(), Addr: addr,
			Fix: "set " + contract.AnnotationTLSServerName + " or --vault-tls-server-name to a name in Vault's certificate"}
	}
	// Vault's alert arrives as an unexported crypto/tls type: only its text identifies it.
	if strings.Contains(err.Error(), "tls: certificate required") {
		return nil, &TLSError{Reason: "remote error: tls: certificate required", Addr: addr,
			Fix: "Vault requires a client certificate: put tls.crt and tls.key in the Secret of " + contract.AnnotationTLSSecret + " or --vault-tls-secret"}
	}
	return nil, err
}

// tlsConfig is the API client's TLS settings from the agent config. A tls-secret without
// tls.crt and tls.key means TLS without a client certificate.
func tlsConfig(v contract.Vault) (*api.TLSConfig, error) {
	tc := &api.TLSConfig{
		CACert: v.CACertFile, CACertBytes: []byte(v.CACert),
		ClientCert: v.ClientCert, ClientKey: v.ClientKey, TLSServerName: v.ServerName,
		Insecure: v.InsecureSkipVerify,
	}
	if v.ClientCertOptional && !exists(v.ClientCert) && !exists(v.ClientKey) {
		tc.ClientCert, tc.ClientKey = "", ""
	}
	if tc.CACert != "" && !exists(tc.CACert) {
		return nil, fmt.Errorf("the CA file %s does not exist: the Secret of %s needs a %s key", tc.CACert, contract.AnnotationTLSSecret, path.Base(tc.CACert))
	}
	return tc, nil
}

func exists(file string) bool {
	_, err := os.Stat(file)
	return err == nil
}

// setProxy sends every request through the proxy at addr (http, https or socks5).
func setProxy(hc *http.Client, addr string) error {
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		return fmt.Errorf("proxy address %q is not a URL such as http://proxy:3128", addr)
	}
	t, ok := hc.Transport.(*http.Transport)
	if !ok {
		return fmt.Errorf("the Vault client's transport is %T, not *http.Transport", hc.Transport)
	}
	t.Proxy = http.ProxyURL(u)
	return nil
}
