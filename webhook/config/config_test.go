package config

import (
	"flag"
	"strings"
	"testing"
	"time"
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
