package contract_test

import (
	"strings"
	"testing"
	"text/template"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/internal/atomicdir"
)

// TestFilePathOneValidator: "file-x: ." was admitted by the webhook and refused by the agent,
// so the pod never got its secrets. ValidateFilePath is the one check both run; every path it
// accepts must also be writable by the agent's atomic writer, and what it refuses is refused
// with the reason.
func TestFilePathOneValidator(t *testing.T) {
	for _, p := range []string{"db.json", "tls/ca.pem", "a/b/c", "données/clé.json", ".hidden", "a.", "x..y", strings.Repeat("é", 127) + "x"} {
		if err := contract.ValidateFilePath(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
			continue
		}
		if _, err := atomicdir.Write(t.TempDir(), []atomicdir.File{{Path: p, Data: []byte("x"), Mode: 0o400}}); err != nil {
			t.Errorf("%q: accepted by ValidateFilePath, refused by the writer: %v", p, err)
		}
	}
	for p, want := range map[string]string{
		"": "empty", ".": "secrets directory itself", "..": "'..' is not allowed", "a/..b": "'..' is not allowed",
		"/etc/x": "absolute", "a//b": "not clean", "a/": "not clean", "./a": "not clean", `a\\b`: "not clean",
		".version": "version file", "db\u200b": "invisible character U+200B", "\ufeffdb": "invisible character U+FEFF",
		"a\u2028b": "invisible character U+2028", "a\u2029b": "invisible character U+2029", "a\u202eb": "bidirectional-text control",
		"a\x00b": "control character U+0000", "a\xffb": "not valid UTF-8", strings.Repeat("x", 256): "256 bytes long",
	} {
		err := contract.ValidateFilePath(p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", p, err, want)
		}
	}
}

// TestTokenPathsRefused: a secret at auth/token/lookup-self rendered the agent's own Vault token
// into the app's volume, seen with a real Vault. Every spelling Vault routes there is refused,
// for secret paths and for template constants; neighbours are not.
func TestTokenPathsRefused(t *testing.T) {
	for _, p := range []string{"auth/token/lookup-self", "auth/token/create", "auth/token/renew-self", "team-a/auth/token/lookup-self", "auth/token/roles/x"} {
		if err := contract.ValidateVaultPath(p); err == nil || !strings.Contains(err.Error(), "the agent's own Vault token") {
			t.Errorf("%q: err = %v", p, err)
		}
	}
	for _, p := range []string{"/auth/token/lookup-self", "auth//token/lookup-self", "auth/./token/x", "auth/token"} {
		if err := contract.RefuseTokenPath(p); err == nil {
			t.Errorf("%q: a loose spelling of a token path passed", p)
		}
	}
	for _, p := range []string{"secret/data/auth-token", "secret/data/token/auth", "auth/kubernetes/role/x", "kv/token/x", "secret/data/app"} {
		if err := contract.ValidateVaultPath(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
	tt := template.Must(template.New("t").Funcs(template.FuncMap{"secret": func(...any) any { return nil }}).
		Parse(`{{ with secret "secret/data/x" }}{{ end }}{{ if . }}{{ with secret "auth/token/lookup-self" }}{{ .Data.id }}{{ end }}{{ end }}`))
	if err := contract.CheckTemplatePaths(tt); err == nil || !strings.Contains(err.Error(), `secret "auth/token/lookup-self" is under auth/token/`) {
		t.Errorf("template: err = %v", err)
	}
}

// TestTokenPathInAChain: a secret call inside a field chain ({{ (secret "…").Data.id }}) is a
// constant path too.
func TestTokenPathInAChain(t *testing.T) {
	tt := template.Must(template.New("t").Funcs(template.FuncMap{"secret": func(...any) any { return nil }}).
		Parse(`{{ (secret "auth/token/lookup-self").Data.id }}`))
	if err := contract.CheckTemplatePaths(tt); err == nil {
		t.Error("a token path inside a chain passed")
	}
}
