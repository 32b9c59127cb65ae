package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/agent/vault/fakehttp"
	"github.com/vault-injector/vault-injector/contract"
)

// agentConfig writes a config for the agent against srv with token auth and returns its path.
func agentConfig(t *testing.T, srv *fakehttp.Server, edit func(*contract.Config)) string {
	t.Helper()
	return agentConfigIn(t, t.TempDir(), srv, edit)
}

// agentConfigIn is agentConfig with the token, config and secrets dir under dir.
func agentConfigIn(t *testing.T, dir string, srv *fakehttp.Server, edit func(*contract.Config)) string {
	t.Helper()
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("hvs.test"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := func(v time.Duration) contract.Duration { return contract.Duration{Duration: v} }
	cfg := contract.Config{
		Version: contract.ConfigVersion, Vault: contract.Vault{Address: srv.URL},
		Auth:       contract.Auth{Method: contract.AuthToken, TokenFile: tok},
		Secrets:    []contract.Secret{{Name: "app", Path: "secret/app", Format: "json", File: "app.json", Perms: 0o400}},
		SecretsDir: filepath.Join(dir, "secrets"), Refresh: d(time.Hour), InitTimeout: d(300 * time.Millisecond),
		Backoff: contract.Backoff{Min: d(10 * time.Millisecond), Max: d(50 * time.Millisecond)},
	}
	if edit != nil {
		edit(&cfg)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "config.json")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestFailingTemplateLeaksNothing runs `run --once` with templates that fail on a secret's
// values: neither stderr, the termination log nor the JSON log may hold a value.
func TestFailingTemplateLeaksNothing(t *testing.T) {
	srv := fakehttp.Start(0)
	t.Cleanup(srv.Close)
	srv.Put("secret/app", map[string]any{"password": "Zq-P@ss-4417", "list": []any{"Lst-val-0923"}}, 0)
	tl := filepath.Join(t.TempDir(), "termination-log")
	_ = os.WriteFile(tl, nil, 0o600)
	TerminationLog = tl
	defer func() { TerminationLog = "/dev/termination-log" }()
	f := agentConfig(t, srv, func(c *contract.Config) {
		c.Secrets = []contract.Secret{
			{Name: "a", Path: "secret/app", Template: `{{ range .Data.data.password }}{{ end }}`, File: "a", Perms: 0o400},
			{Name: "b", Path: "secret/app", Template: `{{ eq .Data.data .Data.data }}`, File: "b", Perms: 0o400},
		}
	})
	code, stdout, stderr := invoke("run", "--once", "--config", f)
	term, _ := os.ReadFile(tl)
	if code != ExitFail || !strings.Contains(stderr, `secret "a"`) || !strings.Contains(stderr, `secret "b"`) {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for name, out := range map[string]string{"stderr": stderr, "termination log": string(term), "log": stdout} {
		for _, v := range []string{"Zq-P@ss-4417", "P@ss", "Lst-val-0923"} {
			if strings.Contains(out, v) {
				t.Errorf("%s holds %q:\n%s", name, v, out)
			}
		}
	}
}
