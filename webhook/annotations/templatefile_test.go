package annotations

import (
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

func TestTemplateFile(t *testing.T) {
	t.Run("accepted without a path, with delimiters and compat", func(t *testing.T) {
		o, warns, err := Parse(withInject("role", "r", "template-file-db", "/etc/app/db.tmpl", "left-delim-db", "[[", "right-delim-db", "]]",
			"compat-db", contract.CompatVaultAgent))
		if err != nil || len(warns) > 0 {
			t.Fatalf("Parse() = %v, warnings %q", err, warns)
		}
		want := Secret{Name: "db", TemplateFile: "/etc/app/db.tmpl", Format: contract.FormatJSON, File: "db", Perms: contract.DefaultPerms,
			Compat: contract.CompatVaultAgent, LeftDelim: "[[", RightDelim: "]]"}
		if len(o.Secrets) != 1 || o.Secrets[0] != want {
			t.Errorf("secrets = %+v, want %+v", o.Secrets, want)
		}
	})
	t.Run("with a path", func(t *testing.T) {
		o, _, err := Parse(withInject("role", "r", "secret-db", "secret/data/db", "template-file-db", "/etc/app/db.tmpl"))
		if err != nil || len(o.Secrets) != 1 || o.Secrets[0].Path != "secret/data/db" || o.Secrets[0].TemplateFile != "/etc/app/db.tmpl" {
			t.Fatalf("Parse() = %+v, %v", o.Secrets, err)
		}
	})
	for _, bad := range []struct {
		name string
		kv   []string
		want string
	}{
		{"both template and template file", []string{"template-file-db", "/etc/app/db.tmpl", "template-db", "static"},
			`vault-injector.io/template-file-db="/etc/app/db.tmpl": vault-injector.io/template-db is set too`},
		{"relative", []string{"template-file-db", "etc/db.tmpl"}, `template-file-db="etc/db.tmpl": template file path "etc/db.tmpl" is not absolute`},
		{"not clean", []string{"template-file-db", "/etc/../db.tmpl"}, "not clean"},
		{"invisible", []string{"template-file-db", "/etc/db\u200b.tmpl"}, "invisible character U+200B"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			_, _, err := Parse(withInject(append([]string{"role", "r"}, bad.kv...)...))
			if err == nil || !strings.Contains(err.Error(), bad.want) {
				t.Errorf("Parse() = %v, want %q", err, bad.want)
			}
		})
	}
	t.Run("a secret named file-<name> keeps its template", func(t *testing.T) {
		o, _, err := Parse(withInject("role", "r", "secret-file-db", "secret/data/db", "template-file-db", "{{ .Data.data.x }}"))
		if err != nil || len(o.Secrets) != 1 || o.Secrets[0].Name != "file-db" || o.Secrets[0].Template != "{{ .Data.data.x }}" {
			t.Fatalf("Parse() = %+v, %v", o.Secrets, err)
		}
		// Its template is named in a refusal, never echoed.
		_, _, err = Parse(withInject("role", "r", "secret-file-db", "secret/data/db", "template-file-db", "{{ SECRET-LOOKING }}"))
		if err == nil || strings.Contains(err.Error(), "SECRET-LOOKING") || !strings.Contains(err.Error(), "template-file-db") {
			t.Errorf("Parse() = %v, want the key named and the template not echoed", err)
		}
	})
}
