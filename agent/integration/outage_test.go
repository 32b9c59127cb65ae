package integration

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/internal/atomicdir"
	"github.com/vault-injector/vault-injector/test/freeport"
	"github.com/vault-injector/vault-injector/test/wait"
)

// TestVaultOutageKeepsLastGoodFiles stops Vault under a running sidecar: files, readiness and
// the published generation stay, failures are counted. When a (fresh, empty) Vault comes back
// the agent notices its token is gone, logs in again and renders the new state.
func TestVaultOutageKeepsLastGoodFiles(t *testing.T) {
	e := newEnv(t)
	e.putKV2("app", map[string]any{"k": "before"})
	port := freeport.For(t, "127.0.0.1")
	cfg := e.config(contract.Secret{Name: "app", Path: "secret/app", Format: "raw:k"})
	cfg.Refresh = d(50 * time.Millisecond)
	cfg.MetricsPort = port
	sc := e.startSidecar(cfg)
	file := filepath.Join(cfg.SecretsDir, "app")
	wait.For(t, 10*time.Second, "first render", fileIs(file, "before"))
	gen, _ := os.Readlink(filepath.Join(cfg.SecretsDir, atomicdir.DataDir))

	if err := e.vs.Stop(); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 10*time.Second, "failures while Vault is down", func() bool {
		return metric(port, `vault_injector_agent_render_failures_total{secret="app"}`) >= 3
	})
	if got := readFile(t, file); got != "before" {
		t.Fatalf("file changed to %q while Vault was down", got)
	}
	if err := atomicdir.Ready(cfg.SecretsDir); err != nil {
		t.Fatalf("not ready any more during the outage: %v", err)
	}
	if now, _ := os.Readlink(filepath.Join(cfg.SecretsDir, atomicdir.DataDir)); now != gen {
		t.Fatal("a new generation was published during the outage")
	}

	if err := e.vs.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.seedToken(readPolicy) // the dev server forgot everything, including the agent's token
	e.putKV2("app", map[string]any{"k": "after"})
	wait.For(t, 10*time.Second, "render after Vault is back", fileIs(file, "after"))
	if n := metric(port, "vault_injector_agent_logins_total"); n < 2 {
		t.Errorf("logins_total = %v, want a second login after the restart", n)
	}
	if code := sc.stop(t); code != 0 {
		t.Fatalf("sidecar exit %d", code)
	}
}
