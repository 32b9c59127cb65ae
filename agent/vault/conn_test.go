package vault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/testpki"
)

const loginAnswer = `{"auth":{"client_token":"hvs.issued","lease_duration":3600,"renewable":true}}`

// tlsVault is a TLS server with its own CA answering every request with loginAnswer;
// clientCA, when set, makes it require client certificates signed by that CA.
func tlsVault(t *testing.T, clientCA *testpki.CA) (srv *httptest.Server, caPEM []byte) {
	t.Helper()
	ca, err := testpki.NewCA("vault-ca")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Server("127.0.0.1", "vault.example")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(loginAnswer))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	if clientCA != nil {
		pool := x509.NewCertPool()
		pool.AddCert(clientCA.Cert)
		srv.TLS.ClientCAs, srv.TLS.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, ca.CertPEM
}

func tokenFile(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(f, []byte("jwt-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func login(t *testing.T, v contract.Vault, auth contract.Auth) error {
	t.Helper()
	t.Setenv("VAULT_CACERT", "")
	t.Setenv("VAULT_SKIP_VERIFY", "")
	c, err := New(&contract.Config{Vault: v, Auth: auth})
	if err != nil {
		return err
	}
	_, err = NewMethod(c, auth).Login(context.Background())
	return err
}

// TestUnknownCANamesTheFix: the one-line reason for an untrusted Vault says which address and
// which settings provide the CA; a wrong server name points at tls-server-name.
func TestUnknownCANamesTheFix(t *testing.T) {
	srv, caPEM := tlsVault(t, nil)
	auth := contract.Auth{Path: "auth/kubernetes", Role: "app", TokenFile: tokenFile(t)}
	err := login(t, contract.Vault{Address: srv.URL}, auth)
	want := "login auth/kubernetes/login: x509: certificate signed by unknown authority talking to " + srv.URL +
		": set vault-injector.io/tls-secret or --vault-ca-bundle"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	err = login(t, contract.Vault{Address: srv.URL, CACert: string(caPEM), ServerName: "other.example"}, auth)
	if err == nil || !strings.Contains(err.Error(), "not other.example talking to "+srv.URL+": set vault-injector.io/tls-server-name") {
		t.Errorf("wrong server name: %v", err)
	}
	if err := login(t, contract.Vault{Address: srv.URL, CACert: string(caPEM), ServerName: "vault.example"}, auth); err != nil {
		t.Errorf("with the CA and server name: %v", err)
	}
}

// TestTLSSecretFiles: a tls-secret directory with ca.crt and a client pair passes a Vault that
// requires client certificates; with ca.crt alone (ClientCertOptional) the agent still trusts
// Vault but Vault refuses it; a missing ca.crt is named.
func TestTLSSecretFiles(t *testing.T) {
	clientCA, err := testpki.NewCA("client-ca")
	if err != nil {
		t.Fatal(err)
	}
	srv, caPEM := tlsVault(t, clientCA)
	client, err := clientCA.Client("app")
	if err != nil {
		t.Fatal(err)
	}
	full, caOnly := t.TempDir(), t.TempDir()
	for _, d := range []string{full, caOnly} {
		if err := os.WriteFile(filepath.Join(d, "ca.crt"), caPEM, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := client.Write(full, "tls.crt", "tls.key"); err != nil {
		t.Fatal(err)
	}
	v := func(dir string) contract.Vault {
		return contract.Vault{Address: srv.URL, CACertFile: filepath.Join(dir, "ca.crt"),
			ClientCert: filepath.Join(dir, "tls.crt"), ClientKey: filepath.Join(dir, "tls.key"), ClientCertOptional: true}
	}
	auth := contract.Auth{Path: "auth/kubernetes", Role: "app", TokenFile: tokenFile(t)}
	if err := login(t, v(full), auth); err != nil {
		t.Errorf("with a client certificate: %v", err)
	}
	err = login(t, v(caOnly), auth)
	want := "login auth/kubernetes/login: remote error: tls: certificate required talking to " + srv.URL +
		": Vault requires a client certificate: put tls.crt and tls.key in the Secret of vault-injector.io/tls-secret or --vault-tls-secret"
	if err == nil || err.Error() != want {
		t.Errorf("without a client certificate: %v\nwant %s", err, want)
	}
	err = login(t, v(t.TempDir()), auth)
	if err == nil || !strings.Contains(err.Error(), "vault-injector.io/tls-secret needs a ca.crt key") {
		t.Errorf("without ca.crt: %v", err)
	}
}

// TestJWTLoginAndNamespace: jwt auth posts role and the projected token to auth/<mount>/login,
// and the namespace header goes with every request, the login included.
func TestJWTLoginAndNamespace(t *testing.T) {
	var mu sync.Mutex
	var paths, namespaces []string
	var body map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		paths, namespaces = append(paths, r.URL.Path), append(namespaces, r.Header.Get("X-Vault-Namespace"))
		if strings.HasSuffix(r.URL.Path, "/login") {
			_ = json.NewDecoder(r.Body).Decode(&body)
			_, _ = w.Write([]byte(loginAnswer))
			return
		}
		_, _ = w.Write([]byte(`{"data":{"k":"v"}}`))
	}))
	defer srv.Close()
	auth := contract.Auth{Method: contract.AuthJWT, Path: "auth/jwt-prod", Role: "app", TokenFile: tokenFile(t)}
	tok := loginAndRead(t, contract.Vault{Address: srv.URL, Namespace: "admin/team-a"}, auth, "other/x")
	if tok.Value != "hvs.issued" || body["role"] != "app" || body["jwt"] != "jwt-1" {
		t.Errorf("token %q, login body %v", tok.Value, body)
	}
	if len(paths) < 2 || paths[0] != "/v1/auth/jwt-prod/login" {
		t.Errorf("paths %v", paths)
	}
	for i, ns := range namespaces {
		if ns != "admin/team-a" {
			t.Errorf("request %s without the namespace header (%q)", paths[i], ns)
		}
	}
}

// TestProxyAddress: every request goes through the configured proxy.
func TestProxyAddress(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.String()) // a proxy sees the absolute URL
		mu.Unlock()
		_, _ = w.Write([]byte(loginAnswer))
	}))
	defer proxy.Close()
	t.Setenv("HTTP_PROXY", "")
	err := login(t, contract.Vault{Address: "http://vault.invalid:8200", ProxyAddress: proxy.URL},
		contract.Auth{Path: "auth/kubernetes", Role: "app", TokenFile: tokenFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != "http://vault.invalid:8200/v1/auth/kubernetes/login" {
		t.Errorf("the proxy saw %v", seen)
	}
	if _, err := New(&contract.Config{Vault: contract.Vault{ProxyAddress: "::"}}); err == nil {
		t.Error("a bad proxy address was accepted")
	}
}

// TestLoginNamespacePrefixedAuthPath: an auth path "<namespace>/auth/<mount>" (vault-k8s'
// auth-path for a Vault Enterprise namespace) logs in where Vault Agent does,
// <namespace>/auth/<mount>/login below the configured namespace, and reads stay in the
// configured namespace.
func TestLoginNamespacePrefixedAuthPath(t *testing.T) {
	for _, method := range []string{"", contract.AuthJWT} {
		var mu sync.Mutex
		var seen []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, r.Header.Get("X-Vault-Namespace")+" "+r.URL.Path)
			if strings.HasSuffix(r.URL.Path, "/login") {
				_, _ = w.Write([]byte(loginAnswer))
				return
			}
			_, _ = w.Write([]byte(`{"data":{"k":"v"}}`))
		}))
		auth := contract.Auth{Method: method, Path: "us-west-org/auth/kubernetes", Role: "app", TokenFile: tokenFile(t)}
		loginAndRead(t, contract.Vault{Address: srv.URL, Namespace: "admin"}, auth, "secret/x")
		srv.Close()
		want := []string{"admin/us-west-org /v1/auth/kubernetes/login", "admin /v1/secret/x"}
		if len(seen) < 2 || seen[0] != want[0] || seen[len(seen)-1] != want[1] {
			t.Errorf("method %q: requests %q, want %q", method, seen, want)
		}
	}
}

// TestInsecureSkipVerify: with InsecureSkipVerify (vault-k8s' tls-skip-verify, allowed by the
// webhook's flag) the agent talks to a Vault whose CA it does not have.
func TestInsecureSkipVerify(t *testing.T) {
	srv, _ := tlsVault(t, nil)
	auth := contract.Auth{Path: "auth/kubernetes", Role: "app", TokenFile: tokenFile(t)}
	if err := login(t, contract.Vault{Address: srv.URL, InsecureSkipVerify: true}, auth); err != nil {
		t.Errorf("with InsecureSkipVerify: %v", err)
	}
	if err := login(t, contract.Vault{Address: srv.URL}, auth); err == nil {
		t.Error("without InsecureSkipVerify an unknown CA was trusted")
	}
}

// loginAndRead logs in with auth against v, then reads path with the token it got.
func loginAndRead(t *testing.T, v contract.Vault, auth contract.Auth, path string) Token {
	t.Helper()
	c, err := New(&contract.Config{Vault: v, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := NewMethod(c, auth).Login(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(tok.Value)
	if _, err := c.Read(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	return tok
}
