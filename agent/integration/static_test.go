package integration

import (
	"path/filepath"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

// A template of static text with a path that holds nothing (vault-k8s' agent-inject-secret with
// a template that calls no secret): the text is written and the path is never read, as with
// Vault Agent. A template alone (no agent-inject-secret) gets the same.
func TestStaticTemplateNeedsNoSecret(t *testing.T) {
	e := newEnv(t)
	cfg := e.config(contract.Secret{Name: "static.conf", Path: "secret/data/nothing-here", Template: "listen 8080\n", Compat: contract.CompatVaultAgent},
		contract.Secret{Name: "banner", Template: "welcome\n", Compat: contract.CompatVaultAgent})
	code, logs, stderr := e.runOnce(cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, logs)
	}
	if got := readFile(t, filepath.Join(cfg.SecretsDir, "static.conf")); got != "listen 8080\n" {
		t.Errorf("static.conf = %q", got)
	}
	if got := readFile(t, filepath.Join(cfg.SecretsDir, "banner")); got != "welcome\n" {
		t.Errorf("banner = %q", got)
	}
}
