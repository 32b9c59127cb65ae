package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMigrateCommand: --check fails on a file that would change and writes nothing; a real
// run rewrites it in place keeping its mode; then --check passes; stdin goes to stdout; an
// untranslatable object fails the command with the reason.
func TestMigrateCommand(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "app.yaml")
	src := `apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  template:
    metadata:
      annotations:
        vault.hashicorp.com/agent-inject: "true"
        vault.hashicorp.com/role: app
        vault.hashicorp.com/agent-inject-secret-db: secret/data/db
        vault.hashicorp.com/agent-image: hashicorp/vault:1.21.1
    spec:
      containers: [{name: app, image: app:1}]
`
	if err := os.WriteFile(f, []byte(src), 0o640); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, "", "migrate", "--check", "-f", f)
	if code != 1 || !strings.Contains(stderr, "would change") {
		t.Fatalf("--check: exit %d, stderr %q", code, stderr)
	}
	if b, _ := os.ReadFile(f); string(b) != src {
		t.Fatal("--check wrote the file")
	}
	code, _, stderr = run(t, "", "migrate", "-f", f)
	if code != 0 || !strings.Contains(stderr, "agent-image") || !strings.Contains(stderr, "migrated") {
		t.Fatalf("migrate: exit %d, stderr %q", code, stderr)
	}
	b, _ := os.ReadFile(f)
	if !strings.Contains(string(b), "vault-injector.io/secret-db: secret/data/db") || strings.Contains(string(b), "vault.hashicorp.com/") {
		t.Errorf("not migrated:\n%s", b)
	}
	if st, _ := os.Stat(f); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st.Mode().Perm())
	}
	if code, _, stderr = run(t, "", "migrate", "--check", "-f", f); code != 0 {
		t.Errorf("--check after migrating: exit %d, %q", code, stderr)
	}
	code, out, _ := run(t, src, "migrate", "-f", "-")
	if code != 0 || out != string(b) {
		t.Errorf("stdin: exit %d, output differs from the file's:\n%s", code, out)
	}
	bad := strings.Replace(src, "agent-image: hashicorp/vault:1.21.1", "agent-inject-command-db: pkill app", 1)
	code, out, stderr = run(t, bad, "migrate", "-f", "-")
	if code != 1 || out != bad || !strings.Contains(stderr, "agent-inject-command-db") {
		t.Errorf("untranslatable: exit %d, stderr %q, output changed: %v", code, stderr, out != bad)
	}
	// A file with one pod the webhook would refuse is not rewritten at all; the injection flags
	// decide, as at admission.
	refused := src + "---\n" + strings.Replace(src, "agent-image: hashicorp/vault:1.21.1", "service: http://vault:8200", 1)
	if err := os.WriteFile(f, []byte(refused), 0o640); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, "", "migrate", "-f", f)
	if b, _ := os.ReadFile(f); code != 1 || string(b) != refused || !strings.Contains(stderr, "from vault.hashicorp.com/service") ||
		!strings.Contains(stderr, "not rewritten") {
		t.Errorf("refused at admission: exit %d, file changed: %v, stderr %q", code, string(b) != refused, stderr)
	}
	if code, _, stderr = run(t, "", "migrate", "--allow-http-vault", "-f", f); code != 0 {
		t.Errorf("with --allow-http-vault: exit %d, stderr %q", code, stderr)
	}
}
