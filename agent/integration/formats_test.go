package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/vault-injector/vault-injector/contract"
)

// TestKVDetectionFormatsTemplatesModes renders every format and the Vault Agent template forms
// from KV v2 (with and without "data/") and KV v1 with a least-privilege token, in one
// `--once` run, and checks contents, modes and that no value or token reaches the logs.
func TestKVDetectionFormatsTemplatesModes(t *testing.T) {
	e := newEnv(t)
	root := e.vs.MustClient(t)
	if err := root.Sys().Mount("kv1", &api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("kv1/app", map[string]any{"key": "v1-value", "n": 7}); err != nil {
		t.Fatal(err)
	}
	pass := "p'a$s\"w"
	e.putKV2("app", map[string]any{"user": "app", "pass": pass, "port": 5432})

	cfg := e.config(
		contract.Secret{Name: "json", Path: "secret/app", Format: "json"},
		contract.Secret{Name: "yaml", Path: "secret/data/app", Format: "yaml", Perms: 0o440},
		contract.Secret{Name: "env", Path: "secret/app", Format: "env", File: "app.env"},
		contract.Secret{Name: "raw", Path: "kv1/app", Format: "raw:key", File: "nested/dir/raw.txt", Perms: 0o600},
		contract.Secret{Name: "kv1json", Path: "kv1/app", Format: "json"},
		contract.Secret{Name: "tkv2", Path: "secret/app", File: "t/kv2",
			Template: `{{ with secret "secret/app" }}{{ .Data.data.user }}:{{ .Data.data.port }}{{ end }}`},
		contract.Secret{Name: "tkv2data", Path: "secret/data/app", File: "t/meta",
			Template: `{{ with secret "secret/data/app" }}v{{ .Data.metadata.version }} {{ .Data.data | toJSON }}{{ end }}`},
		contract.Secret{Name: "tkv1", Path: "kv1/app", File: "t/kv1",
			Template: "{{ with secret \"kv1/app\" }}KEY={{ .Data.key | shellQuote }}\nB64={{ .Data.key | base64Encode }}{{ end }}"},
		contract.Secret{Name: "tdot", Path: "kv1/app", File: "t/dot", Template: `{{ .Data.n }}`},
	)
	code, logs, stderr := e.runOnce(cfg)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q\nlogs:\n%s", code, stderr, logs)
	}
	dir := cfg.SecretsDir
	want := map[string]string{
		"json":               "{\n  \"pass\": \"p'a$s\\\"w\",\n  \"port\": 5432,\n  \"user\": \"app\"\n}\n",
		"yaml":               "pass: p'a$s\"w\nport: 5432\nuser: app\n",
		"app.env":            "PASS='p'\\''a$s\"w'\nPORT='5432'\nUSER='app'\n",
		"nested/dir/raw.txt": "v1-value",
		"kv1json":            "{\n  \"key\": \"v1-value\",\n  \"n\": 7\n}\n",
		"t/kv2":              "app:5432",
		"t/meta":             `v1 {"pass":"p'a$s\"w","port":5432,"user":"app"}`,
		"t/kv1":              "KEY='v1-value'\nB64=djEtdmFsdWU=",
		"t/dot":              "7",
	}
	for f, w := range want {
		if got := readFile(t, filepath.Join(dir, f)); got != w {
			t.Errorf("%s:\n got %q\nwant %q", f, got, w)
		}
	}
	modes := map[string]os.FileMode{"json": 0o400, "yaml": 0o440, "nested/dir/raw.txt": 0o600, "t/kv2": 0o400}
	for f, m := range modes {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != m {
			t.Errorf("%s: mode %v (%v), want %v", f, st.Mode().Perm(), err, m)
		}
	}
	tok := strings.TrimSpace(readFile(t, e.tokenFile))
	noLeaks(t, logs+stderr, pass, "v1-value", tok)
	if len(jsonLines(t, logs)) < 3 {
		t.Errorf("expected structured logs, got:\n%s", logs)
	}
}

// TestTemplateAndPathFailures: a missing key names the secret and template line; a denied
// path names the path and Vault's answer. Both fail --once with one stderr line.
func TestTemplateAndPathFailures(t *testing.T) {
	e := newEnv(t)
	e.putKV2("app", map[string]any{"user": "app"})
	cases := []struct {
		name   string
		secret contract.Secret
		want   []string
	}{
		{"missing key", contract.Secret{Name: "bad", Path: "secret/app",
			Template: "ok\n{{ with secret \"secret/app\" }}{{ .Data.data.nokey }}{{ end }}"},
			[]string{`secret "bad"`, "bad:2:", `"nokey"`}},
		{"denied template path", contract.Secret{Name: "denied", Path: "secret/app",
			Template: `{{ with secret "sys/config/state/sanitized" }}{{ .Data }}{{ end }}`},
			[]string{`secret "denied"`, "sys/config/state/sanitized", "403", "permission denied"}},
		{"missing secret", contract.Secret{Name: "gone", Path: "secret/nothere", Format: "json"},
			[]string{`secret "gone"`, "secret/data/nothere", "404"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.seedToken(readPolicy) // a failed --once revokes its token
			cfg := e.config(c.secret)
			cfg.SecretsDir = filepath.Join(t.TempDir(), "s")
			// --once retries until initTimeout and reports the last error: the budget must let one
			// attempt finish even on a loaded machine (400ms did not, with e2e running alongside).
			cfg.InitTimeout = d(2e9)
			code, _, stderr := e.runOnce(cfg)
			if code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			if n := strings.Count(stderr, "\n"); n != 1 {
				t.Errorf("stderr has %d lines, want 1: %q", n, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
			if _, err := os.Stat(filepath.Join(cfg.SecretsDir, "..data")); err == nil {
				t.Error("a failed first render published files")
			}
		})
	}
	_ = context.Background
}
