package render

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

func writeTemplate(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "db.tmpl")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTemplateFileRendered(t *testing.T) {
	p := writeTemplate(t, `user=[[ with secret "secret/app" ]][[ .Data.data.user ]][[ end ]] pass=[[ .Data.data.pass ]]`)
	got, err := render(t, contract.Secret{Name: "db", Path: "secret/app", TemplateFile: p, TemplateFileRoot: filepath.Dir(p), LeftDelim: "[[", RightDelim: "]]",
		Compat: contract.CompatVaultAgent})
	if err != nil {
		t.Fatal(err)
	}
	if want := "user=app pass=p'w$x"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// Read once, at start: a later change of the file does not change what renders.
	it, err := Compile(contract.Secret{Name: "db", Path: "secret/app", TemplateFile: p, TemplateFileRoot: filepath.Dir(p), LeftDelim: "[[", RightDelim: "]]"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("changed"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := it.Render(testSource()); err != nil || !strings.HasPrefix(string(b), "user=app") {
		t.Errorf("after the file changed: %q, %v", b, err)
	}
}

func TestTemplateFileRefused(t *testing.T) {
	const content = "SECRET-LOOKING-CONTENT"
	missing := filepath.Join(t.TempDir(), "missing.tmpl")
	big := writeTemplate(t, strings.Repeat("x", contract.MaxTemplateFileBytes+1))
	for _, tt := range []struct {
		name, file, want string
	}{
		{"missing", missing, `secret "db": reading template file ` + missing + `: no such file or directory`},
		{"a directory", t.TempDir(), "reading template file"},
		{"a symlink out of its mount", escapingLink(t), "path escapes from parent"},
		{"too large", big, "larger than 1048576 bytes"},
		{"empty", writeTemplate(t, " \n"), "is empty"},
		{"a refused function", writeTemplate(t, content+`{{ env "HOME" }}`), `function "env" not defined`},
		{"recursion", writeTemplate(t, content+`{{ define "a" }}{{ template "a" }}{{ end }}{{ template "a" }}`), "recursion is refused"},
		{"a token path", writeTemplate(t, content+`{{ secret "auth/token/lookup-self" }}`), "agent's own Vault token"},
		{"too deep", writeTemplate(t, content+strings.Repeat("{{ if true }}", 33)+strings.Repeat("{{ end }}", 33)), "over the limit of 32"},
		{"writeToFile outside the secrets dir", writeTemplate(t, content+`{{ writeToFile "/etc/x" "" "" "0600" "y" }}`), "outside the secrets volume"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CompileAll([]contract.Secret{{Name: "db", TemplateFile: tt.file, TemplateFileRoot: filepath.Dir(tt.file), File: "db", Perms: 0o400}},
				WriteDir{Dir: "/vault/secrets"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CompileAll() = %v, want %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), `secret "db"`) || !strings.Contains(err.Error(), tt.file) && tt.name != "a directory" {
				t.Errorf("error %q does not name the secret and the file", err)
			}
			if strings.Contains(err.Error(), content) {
				t.Errorf("error %q shows the template's content", err)
			}
		})
	}
}

// escapingLink is a template file in a mount of its own that is a symlink to a file outside it,
// as an app could plant in a volume it shares with the agent to make it read its token.
func escapingLink(t *testing.T) string {
	t.Helper()
	outside := writeTemplate(t, "SECRET-LOOKING-CONTENT")
	link := filepath.Join(t.TempDir(), "db.tmpl")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	return link
}

// TestTemplateFileLinksInsideItsMount: a ConfigMap volume's own links ("db.tmpl" ->
// "..data/db.tmpl") stay inside the mount and are followed.
func TestTemplateFileLinksInsideItsMount(t *testing.T) {
	mount := t.TempDir()
	if err := os.Mkdir(filepath.Join(mount, "..2026"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mount, "..2026", "db.tmpl"), []byte(`static`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..2026", filepath.Join(mount, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/db.tmpl", filepath.Join(mount, "db.tmpl")); err != nil {
		t.Fatal(err)
	}
	got, err := render(t, contract.Secret{Name: "db", TemplateFile: filepath.Join(mount, "db.tmpl"), TemplateFileRoot: mount})
	if err != nil || got != "static" {
		t.Errorf("got %q, %v", got, err)
	}
}
