package render

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/agent/vault"
	"github.com/vault-injector/vault-injector/contract"
)

// mapSource serves secrets by path and records what was asked.
type mapSource struct {
	secrets map[string]*vault.Secret
	asked   []string
}

func (m *mapSource) Secret(path string, data map[string]any) (*vault.Secret, error) {
	m.asked = append(m.asked, path)
	if s, ok := m.secrets[path]; ok {
		return s, nil
	}
	return nil, &vault.Error{Op: "read", Path: path, Status: 403, Errors: []string{"permission denied"}}
}

func kv2(data map[string]any) *vault.Secret {
	return &vault.Secret{KVVersion: 2, Data: map[string]any{"data": data, "metadata": map[string]any{"version": json.Number("3")}}}
}

func testSource() *mapSource {
	return &mapSource{secrets: map[string]*vault.Secret{
		"secret/app": kv2(map[string]any{"user": "app", "pass": "p'w$x", "port": json.Number("5432"), "db-host": "h"}),
		"kv1/app":    {KVVersion: 1, Data: map[string]any{"key": "v1"}},
		"database/creds/app": {LeaseID: "database/creds/app/abc", LeaseDuration: 60, Renewable: true,
			Data: map[string]any{"username": "v-app-1", "password": "pw"}},
	}}
}

func render(t *testing.T, s contract.Secret) (string, error) {
	t.Helper()
	it, err := Compile(s)
	if err != nil {
		return "", err
	}
	b, err := it.Render(testSource())
	return string(b), err
}

func TestFormats(t *testing.T) {
	cases := []struct{ name, path, format, want string }{
		{"json kv2 is the inner data", "secret/app", "json", "{\n  \"db-host\": \"h\",\n  \"pass\": \"p'w$x\",\n  \"port\": 5432,\n  \"user\": \"app\"\n}\n"},
		{"json kv1", "kv1/app", "json", "{\n  \"key\": \"v1\"\n}\n"},
		{"yaml", "secret/app", "yaml", "db-host: h\npass: p'w$x\nport: 5432\nuser: app\n"},
		{"env", "secret/app", "env", "DB_HOST='h'\nPASS='p'\\''w$x'\nPORT='5432'\nUSER='app'\n"},
		{"raw", "database/creds/app", "raw:password", "pw"},
		{"raw number", "secret/app", "raw:port", "5432"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := render(t, contract.Secret{Name: "x", Path: c.path, Format: c.format})
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}

// TestEnvIsShellSafe sources the env file in a real shell: quotes, dollars and newlines must
// come back byte for byte and nothing may be executed.
func TestEnvIsShellSafe(t *testing.T) {
	nasty := "a'b\"c $(touch pwned) `x` \\n\nline2 $HOME"
	b, err := Format("env", map[string]any{"v": nasty})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "env")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", "-c", `cd "$1" && . ./env && printf %s "$V"`, "sh", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != nasty {
		t.Errorf("shell read %q, want %q", out, nasty)
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Error("sourcing the env file executed a command")
	}
}

func TestFormatErrors(t *testing.T) {
	if _, err := render(t, contract.Secret{Name: "x", Path: "secret/app", Format: "raw:nokey"}); err == nil || !strings.Contains(err.Error(), `no key "nokey"`) {
		t.Errorf("raw missing key: %v", err)
	}
	if _, err := Format("env", map[string]any{"a-b": "1", "a_b": "2"}); err == nil {
		t.Error("env key collision accepted")
	}
	_, err := render(t, contract.Secret{Name: "denied", Path: "secret/other", Format: "json"})
	if err == nil || !strings.Contains(err.Error(), `secret "denied": read secret/other: Vault answered 403: permission denied`) {
		t.Errorf("vault error not passed through with the secret name: %v", err)
	}
	if _, err := Compile(contract.Secret{Name: "x", Path: "p", Format: "xml"}); err == nil {
		t.Error("bad format compiled")
	}
}

func TestTemplates(t *testing.T) {
	cases := []struct{ name, tmpl, want string }{
		{"vault agent kv2 form", `{{ with secret "secret/app" }}{{ .Data.data.user }}:{{ .Data.data.pass }}{{ end }}`, "app:p'w$x"},
		{"kv1 and dynamic form", `{{ with secret "database/creds/app" }}{{ .Data.username }}/{{ .LeaseDuration }}{{ end }}{{ with secret "kv1/app" }} {{ .Data.key }}{{ end }}`, "v-app-1/60 v1"},
		{"dot is the configured secret", `{{ .Data.data.user }}`, "app"},
		{"helpers", `{{ with secret "secret/app" }}{{ .Data.data | toJSON }}|{{ .Data.data.user | base64Encode }}|{{ "YXBw" | base64Decode }}|{{ .Data.data.pass | shellQuote }}|{{ envKey "db-host" }}{{ end }}`,
			`{"db-host":"h","pass":"p'w$x","port":5432,"user":"app"}|YXBw|app|'p'\''w$x'|DB_HOST`},
		{"range env lines", `{{ range $k, $v := (secret "kv1/app").Data }}export {{ envKey $k }}={{ shellQuote $v }}{{ end }}`, "export KEY='v1'"},
		{"toYAML", `{{ (secret "kv1/app").Data | toYAML }}`, "key: v1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := render(t, contract.Secret{Name: "t", Path: "secret/app", Template: c.tmpl})
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestTemplateDotIsLazy(t *testing.T) {
	it, err := Compile(contract.Secret{Name: "t", Path: "database/creds/app", Template: `{{ with secret "kv1/app" }}{{ .Data.key }}{{ end }}`})
	if err != nil {
		t.Fatal(err)
	}
	src := testSource()
	if _, err := it.Render(src); err != nil {
		t.Fatal(err)
	}
	if strings.Join(src.asked, ",") != "kv1/app" {
		t.Errorf("template read %v; the unused configured path must not be read", src.asked)
	}
}

func TestTemplateErrorsNameSecretAndLine(t *testing.T) {
	cases := []struct {
		name, tmpl string
		want       []string
	}{
		{"missing key", "line1\n{{ with secret \"secret/app\" }}{{ .Data.data.nokey }}{{ end }}", []string{`secret "tpl"`, "tpl:2:", `"nokey"`}},
		{"missing key on dot", "a\nb\n{{ .Data.nope }}", []string{"tpl:3:", `"nope"`}},
		{"vault error", "{{ with secret \"secret/denied\" }}{{ end }}", []string{"tpl:1:", "secret/denied", "403", "permission denied"}},
		{"bad write arg", `{{ secret "pki/issue/x" "nokv" }}`, []string{`secret argument 1 is not key=value`}},
		{"bad base64", `{{ "%%%" | base64Decode }}`, []string{"base64"}},
		{"output limit", `{{ range 100000000 }}xxxxxxxxxxxxxxxxxxxxxx{{ end }}`, []string{"larger than"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := render(t, contract.Secret{Name: "tpl", Path: "secret/app", Template: c.tmpl})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "p'w$x") {
				t.Errorf("error leaks a secret value: %v", err)
			}
		})
	}
}

func TestParseErrorsAtCompile(t *testing.T) {
	_, err := CompileAll([]contract.Secret{
		{Name: "ok", Path: "p", Format: "json"},
		{Name: "broken", Path: "p", Template: "x\n{{ with secret \"p\" }}"},
		{Name: "unknownfunc", Path: "p", Template: "{{ vaultRead \"p\" }}"},
	}, WriteDir{})
	if err == nil {
		t.Fatal("broken templates compiled")
	}
	for _, w := range []string{`secret "broken"`, "broken:2", `secret "unknownfunc"`, "vaultRead"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	var ve *vault.Error
	if errors.As(err, &ve) {
		t.Error("compile error claims to come from Vault")
	}
}

// TestCompileRefusesRecursion: a template that calls itself grew the agent past its memory
// limit before text/template stopped it; the agent refuses it at start, naming the secret.
func TestCompileRefusesRecursion(t *testing.T) {
	_, err := Compile(contract.Secret{Name: "loop", Path: "kv/x", Template: `{{define "r"}}{{template "r" .}}{{end}}{{template "r" .}}`})
	if err == nil || !strings.Contains(err.Error(), `secret "loop": the template calls itself ("r" calls "r")`) {
		t.Fatalf("err = %v", err)
	}
}

// TestTemplateTokenPathsRefused: a template that reads auth/token/ would write the agent's own
// token into the app's volume; a constant path is refused when the agent starts, a computed one
// when the template asks for it, without naming it.
func TestTemplateTokenPathsRefused(t *testing.T) {
	_, err := Compile(contract.Secret{Name: "tok", Path: "kv/x", Template: `{{ with secret "auth/token/lookup-self" }}{{ .Data.id }}{{ end }}`})
	if err == nil || !strings.Contains(err.Error(), `secret "tok": template: secret "auth/token/lookup-self" is under auth/token/`) {
		t.Errorf("constant: err = %v", err)
	}
	it, err := Compile(contract.Secret{Name: "tok", Path: "secret/app", Template: `{{ with secret (printf "auth/%s/lookup-self" "token") }}{{ .Data.id }}{{ end }}`})
	if err != nil {
		t.Fatal(err)
	}
	src := testSource()
	_, err = it.Render(src)
	if err == nil || !strings.Contains(err.Error(), "a path computed by the template is under auth/token/") {
		t.Errorf("computed: err = %v", err)
	}
	if len(src.asked) != 0 {
		t.Errorf("Vault was asked for %v", src.asked)
	}
}
