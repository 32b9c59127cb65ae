package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestInjectPreviewExample(t *testing.T) {
	code, out, stderr := run(t, "", "inject", "-f", "../manifests/examples/app-deployment.yaml",
		"--vault-addr", "https://vault.example:8200", "--agent-image", "agent:v1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, w := range []string{"kind: Deployment", "name: vault-agent", "restartPolicy: Always", "image: agent:v1",
		"vault-injector.io/status: injected", "https://vault.example:8200", "replicas: 2"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	if strings.Contains(out, "status: {}") || strings.Contains(out, "creationTimestamp") {
		t.Error("output carries round-trip noise")
	}
}

func TestInjectPreviewKinds(t *testing.T) {
	const docs = `
apiVersion: v1
kind: ConfigMap
metadata: {name: untouched}
data: {a: b}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        metadata:
          annotations: {vault-injector.io/inject: "true", vault-injector.io/role: r, vault-injector.io/mode: init-only, vault-injector.io/secret-a: kv/a}
        spec:
          restartPolicy: Never
          containers: [{name: job, image: job:1}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: plain}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: app, image: app:1}]
`
	code, out, stderr := run(t, docs, "inject", "-f", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	parts := strings.Split(out, "\n---\n")
	if len(parts) != 3 {
		t.Fatalf("want 3 documents, got %d:\n%s", len(parts), out)
	}
	if !strings.Contains(parts[0], "kind: ConfigMap") || strings.Contains(parts[0], "vault") {
		t.Errorf("ConfigMap changed:\n%s", parts[0])
	}
	if !strings.Contains(parts[1], "name: vault-agent-init") || strings.Contains(parts[1], "restartPolicy: Always") {
		t.Errorf("CronJob not injected init-only:\n%s", parts[1])
	}
	if strings.Contains(parts[2], "vault") {
		t.Errorf("StatefulSet without opt-in changed:\n%s", parts[2])
	}
}

func TestInjectPreviewInvalid(t *testing.T) {
	f := filepath.Join(t.TempDir(), "bad.yaml")
	bad := `apiVersion: v1
kind: Pod
metadata:
  name: bad
  annotations: {vault-injector.io/inject: "true", vault-injector.io/role: r, vault-injector.io/secret-a: kv/a, vault-injector.io/perms-a: "999", vault-injector.io/mode: job}
spec:
  containers: [{name: app, image: app:1}]
`
	if err := os.WriteFile(f, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, "", "inject", "-f", f)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, w := range []string{f + ": Pod/bad", "2 invalid vault-injector annotations", `vault-injector.io/perms-a="999"`, `vault-injector.io/mode="job"`} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"inject"}, {"frobnicate"}, {"inject", "-f", "/nonexistent.yaml"}, {"serve", "--vault-addr="}} {
		if code, _, stderr := run(t, "", args...); code != 1 || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
	if code, out, _ := run(t, "", "version"); code != 0 || strings.TrimSpace(out) != version {
		t.Errorf("version: %d %q", code, out)
	}
}
