package config

import (
	"crypto/x509"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/test/testpki"
)

func TestEnvTwins(t *testing.T) {
	t.Setenv("VAULT_INJECTOR_VAULT_ADDR", "https://from-env:8200")
	t.Setenv("VAULT_INJECTOR_TOKEN_EXPIRY", "2h")
	t.Setenv("VAULT_INJECTOR_AGENT_MEMORY_LIMIT", "128Mi")
	t.Setenv("VAULT_INJECTOR_PORT", "8443")
	c := New()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.BindInjection(fs)
	c.BindServer(fs)
	if err := fs.Parse([]string{"--port=9000"}); err != nil {
		t.Fatal(err)
	}
	if err := ApplyEnv(fs); err != nil {
		t.Fatal(err)
	}
	if c.Inject.VaultAddr != "https://from-env:8200" || c.Inject.TokenExpiry != 2*time.Hour || c.Inject.MemoryLimit.String() != "128Mi" {
		t.Errorf("env not applied: %+v", c.Inject)
	}
	if c.Port != 9000 {
		t.Errorf("flag must win over env: port = %d", c.Port)
	}
}

func TestEnvTwinErrorsNameTheVariable(t *testing.T) {
	t.Setenv("VAULT_INJECTOR_VOLUME_SIZE", "lots")
	c := New()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.BindInjection(fs)
	_ = fs.Parse(nil)
	err := ApplyEnv(fs)
	if err == nil || !strings.Contains(err.Error(), `VAULT_INJECTOR_VOLUME_SIZE="lots"`) {
		t.Errorf("err = %v", err)
	}
}

func TestEveryFlagHasAnEnvTwinName(t *testing.T) {
	c := New()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.BindInjection(fs)
	c.BindServer(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if n := EnvName(f.Name); !strings.HasPrefix(n, EnvPrefix) || strings.ContainsAny(n, "-a") {
			t.Errorf("flag %s: env twin %q", f.Name, n)
		}
	})
}

func TestValidate(t *testing.T) {
	c := New()
	c.Inject.VaultAddr, c.Inject.AgentImage, c.Namespace = "https://v:8200", "agent:1", "vault-injector"
	if err := c.Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	c.Port, c.LogLevel, c.Namespace, c.VaultCABundle = 0, "loud", "", "/nonexistent/ca.pem"
	err := c.Validate()
	for _, w := range []string{"--port 0", "--log-level", "--namespace", "--vault-ca-bundle"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() = %v; want it to mention %q", err, w)
		}
	}
}

// --client-ca-file (and its env twin) is read at start: a file without a certificate is
// refused with the others' errors, one with a CA becomes the pool clients are verified against.
func TestClientCAFile(t *testing.T) {
	dir := t.TempDir()
	junk, ca := filepath.Join(dir, "junk.pem"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	root, err := testpki.NewCA("client-ca")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, root.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"/nonexistent/ca.pem": "--client-ca-file: open", junk: "holds no PEM certificate", ca: ""} {
		t.Setenv("VAULT_INJECTOR_CLIENT_CA_FILE", file)
		c := New()
		c.Inject.VaultAddr, c.Inject.AgentImage, c.Namespace = "https://v:8200", "agent:1", "vault-injector"
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		c.BindInjection(fs)
		c.BindServer(fs)
		if err := errors.Join(fs.Parse(nil), ApplyEnv(fs)); err != nil {
			t.Fatal(err)
		}
		err := c.Validate()
		switch {
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: Validate() = %v, want %q", file, err, want)
		case want == "" && (err != nil || c.ClientCAs == nil || !c.ClientCAs.Equal(poolOf(root.Cert))):
			t.Errorf("%s: Validate() = %v, pool %v", file, err, c.ClientCAs)
		}
	}
}

func poolOf(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}
