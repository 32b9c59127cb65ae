package vault

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

// TestTLSFromConfig: the CA from the config (PEM or file) is what makes a TLS Vault trusted;
// without it the same server is refused.
func TestTLSFromConfig(t *testing.T) {
	t.Setenv("VAULT_CACERT", "")
	t.Setenv("VAULT_SKIP_VERIFY", "")
	srv, read := readingTLSServer(t)
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	_ = os.WriteFile(caFile, []byte(caPEM), 0o600)
	if err := read(contract.Vault{CACert: caPEM}); err != nil {
		t.Errorf("CA PEM: %v", err)
	}
	if err := read(contract.Vault{CACertFile: caFile, ServerName: "example.com"}); err != nil {
		t.Errorf("CA file + server name: %v", err)
	}
	if err := read(contract.Vault{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted server accepted: %v", err)
	}
}

// TestSkipVerifyOnlyFromConfig: VAULT_SKIP_VERIFY in the agent's environment (which an
// agent-json-patch could add) does not make an untrusted Vault trusted; the config's
// insecureSkipVerify, which the webhook writes only under --allow-vault-tls-skip-verify, does.
func TestSkipVerifyOnlyFromConfig(t *testing.T) {
	t.Setenv("VAULT_CACERT", "")
	t.Setenv("VAULT_SKIP_VERIFY", "true")
	_, read := readingTLSServer(t)
	if err := read(contract.Vault{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("VAULT_SKIP_VERIFY=true made an untrusted server trusted: %v", err)
	}
	if err := read(contract.Vault{InsecureSkipVerify: true}); err != nil {
		t.Errorf("insecureSkipVerify in the config: %v", err)
	}
}

// readingTLSServer is a TLS server answering every read, and a read through a client built from v
// (its address set to the server's).
func readingTLSServer(t *testing.T) (*httptest.Server, func(v contract.Vault) error) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":{"k":"v"}}`))
	}))
	t.Cleanup(srv.Close)
	return srv, func(v contract.Vault) error {
		v.Address = srv.URL
		c, err := New(&contract.Config{Vault: v})
		if err != nil {
			return err
		}
		_, err = c.Read(context.Background(), "other/x")
		return err
	}
}
