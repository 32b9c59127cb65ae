package main

import (
	"strings"
	"testing"
)

const vaultK8sDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  template:
    metadata:
      annotations:
        vault.hashicorp.com/agent-inject: "true"
        vault.hashicorp.com/role: app
        vault.hashicorp.com/agent-inject-secret-db: secret/data/db
        vault.hashicorp.com/log-level: debug
    spec:
      containers: [{name: app, image: app:1}]
`

// TestInjectPreviewVaultK8s: the preview injects a vault-k8s pod as the webhook does (the
// same translation), with its warnings; with the flag off the pod passes through.
func TestInjectPreviewVaultK8s(t *testing.T) {
	code, out, stderr := run(t, vaultK8sDeployment, "inject", "-f", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, w := range []string{"name: vault-agent", "vault-injector.io/status: injected", `"compat":"vault-agent"`, `"perms":"0644"`} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	if !strings.Contains(stderr, "vault.hashicorp.com/log-level") {
		t.Errorf("no warning for log-level: %q", stderr)
	}
	code, out, _ = run(t, vaultK8sDeployment, "inject", "--accept-vault-k8s-annotations=false", "-f", "-")
	if code != 0 || strings.Contains(out, "vault-agent") {
		t.Errorf("with the flag off: exit %d, injected: %v", code, strings.Contains(out, "vault-agent"))
	}
}
