package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

// TestTemplateFile: a template read from a file (vault-k8s' agent-inject-template-file-<name>)
// renders against a real Vault, with Vault Agent's delimiters and compat; a missing file
// makes the agent exit at start naming the secret and the path.
func TestTemplateFile(t *testing.T) {
	e := newEnv(t)
	e.putKV2("db", map[string]any{"user": "app", "pass": "s3cr3t"})
	tmpl := filepath.Join(e.dir, "templates", "db.tmpl")
	if err := os.MkdirAll(filepath.Dir(tmpl), 0o755); err != nil {
		t.Fatal(err)
	}
	text := `[[ with secret "secret/data/db" ]]postgres://[[ .Data.data.user ]]:[[ .Data.data.pass ]]@db/app[[ end ]]` + "\n"
	if err := os.WriteFile(tmpl, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := e.config(contract.Secret{Name: "db", TemplateFile: tmpl, TemplateFileRoot: filepath.Dir(tmpl), LeftDelim: "[[", RightDelim: "]]", Compat: contract.CompatVaultAgent})
	code, logs, stderr := e.runOnce(cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, logs)
	}
	if got, want := readFile(t, filepath.Join(cfg.SecretsDir, "db")), "postgres://app:s3cr3t@db/app\n"; got != want {
		t.Errorf("db = %q, want %q", got, want)
	}

	missing := filepath.Join(e.dir, "templates", "missing.tmpl")
	cfg = e.config(contract.Secret{Name: "db", TemplateFile: missing, TemplateFileRoot: filepath.Dir(missing)})
	code, logs, stderr = e.runOnce(cfg)
	// The message is in a JSON log line too, where the quotes of "db" are escaped.
	if want := `secret "db": reading template file ` + missing + `: no such file or directory`; code != 1 ||
		!strings.Contains(strings.ReplaceAll(stderr+logs, `\"`, `"`), want) {
		t.Errorf("missing file: exit %d, want 1 with %q:\n%s\n%s", code, want, stderr, logs)
	}
}
