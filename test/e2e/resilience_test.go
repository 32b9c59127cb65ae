package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/test/stack"
)

// Scenario 7: the agent keeps working across token renewal and expiry (a 20 s token with a
// 40 s maximum must be renewed, then replaced by a new login), keeps the last good files while
// Vault is down, and picks up changes after Vault comes back (empty, as dev servers do, so the
// platform setup is replayed).
func TestTokenLifecycleAndVaultRestart(t *testing.T) {
	ctx, ns := scenario(t, "resilience", 6*time.Minute)
	if err := st.WriteSecret(ctx, "resilience", map[string]any{"v": "gen-1"}); err != nil {
		t.Fatal(err)
	}
	ann := rotationAnnotations("resilience", "role", stack.ShortRole)
	pod := deploy(ctx, t, ns, "resilience", template("resilience", ann, readerLoop))
	waitLog(ctx, t, ns, pod.Name, "app", "SAW gen-1 ")

	time.Sleep(45 * time.Second) // past the token's maximum TTL
	if err := st.WriteSecret(ctx, "resilience", map[string]any{"v": "gen-2"}); err != nil {
		t.Fatal(err)
	}
	waitLog(ctx, t, ns, pod.Name, "app", "SAW gen-2 ")
	if n := auditCount(t, "auth/token/renew-self", ns); n < 1 {
		t.Errorf("the agent never renewed its token\n%s", agentLog(ns, pod.Name))
	}
	if n := auditCount(t, "auth/kubernetes/login", ns); n < 2 {
		t.Errorf("%d logins: the agent did not log in again once its token reached its max TTL\n%s", n, agentLog(ns, pod.Name))
	}

	if err := st.Vault.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(15 * time.Second) // three refresh intervals against a dead Vault
	if err := st.Vault.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.ConfigureVault(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteSecret(ctx, "resilience", map[string]any{"v": "gen-3"}); err != nil {
		t.Fatal(err)
	}
	log := waitLog(ctx, t, ns, pod.Name, "app", "SAW gen-3 ")
	for _, bad := range []string{"MIXED", "PARTIAL", "GONE"} {
		if strings.Contains(log, bad) {
			t.Errorf("while Vault was down the reader saw %s:\n%s", bad, log)
		}
	}
}
