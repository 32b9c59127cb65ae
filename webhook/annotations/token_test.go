package annotations

import (
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

func TestInjectToken(t *testing.T) {
	o, _, err := Parse(withInject("role", "app", "inject-token", "true", "secret-db", "secret/db"))
	if err != nil || !o.InjectToken {
		t.Fatalf("Parse = %+v, %v; want InjectToken", o, err)
	}
	if _, _, err := Parse(withInject("role", "app", "inject-token", "yes")); err == nil ||
		!strings.Contains(err.Error(), `vault-injector.io/inject-token="yes": use "true"`) {
		t.Errorf("inject-token=yes: %v", err)
	}
	// A secret named token, or filed as token (or inside it), would take the token file's place.
	for _, kv := range [][]string{
		{"secret-token", "secret/t"},
		{"secret-db", "secret/db", "file-db", "token"},
		{"secret-db", "secret/db", "file-db", "token/db.json"},
	} {
		_, _, err := Parse(withInject(append([]string{"role", "app", "inject-token", "true"}, kv...)...))
		if err == nil || !strings.Contains(err.Error(), `collides with the agent's token file "token", which vault-injector.io/inject-token=true writes`) ||
			!strings.Contains(err.Error(), "vault-injector.io/"+kv[len(kv)-2]) {
			t.Errorf("%v: %v; want the collision naming both annotations", kv, err)
		}
		if _, _, err := Parse(withInject(append([]string{"role", "app"}, kv...)...)); err != nil {
			t.Errorf("%v without inject-token: %v", kv, err)
		}
	}
}

// A template alone (no secret-<name>) is a secret without a path when it never reads its dot;
// one that reads .Data still needs secret-<name> (and so catches a typo in the name).
func TestTemplateAlone(t *testing.T) {
	o, _, err := Parse(withInject("role", "app", "template-static.conf", "listen 8080\n",
		"template-other", `{{ with secret "secret/data/x" }}{{ .Data.data.k }}{{ end }}`))
	if err != nil || len(o.Secrets) != 2 || o.Secrets[1].Path != "" || o.Secrets[1].Template != "listen 8080\n" || o.Secrets[1].File != "static.conf" {
		t.Fatalf("Parse = %+v, %v", o.Secrets, err)
	}
	for _, tmpl := range []string{`{{ .Data.k }}`, `{{ . }}`, `{{ $.Data }}`, `{{ with secret "p" }}{{ $.Data }}{{ end }}`} {
		if _, _, err := Parse(withInject("role", "app", "template-db", tmpl)); err == nil || !strings.Contains(err.Error(), `no secret "db" to apply it to`) {
			t.Errorf("%s alone: %v; want the missing secret-db", tmpl, err)
		}
	}
}

func TestDelims(t *testing.T) {
	o, warns, err := Parse(withInject("role", "app", "secret-db", "secret/db", "left-delim-db", "[[", "right-delim-db", "]]",
		"template-db", `[[ with secret "secret/db" ]][[ .Data.k ]] {{ literal [[ end ]]`))
	if err != nil || len(warns) > 0 || o.Secrets[0].LeftDelim != "[[" || o.Secrets[0].RightDelim != "]]" {
		t.Fatalf("Parse = %+v, %v, %v", o.Secrets, warns, err)
	}
	for _, tc := range []struct {
		kv   []string
		want string
	}{
		{[]string{"left-delim-db", "[[", "right-delim-db", "]]", "template-db", `[[ if ]]`}, "vault-injector.io/template-db: is not a valid Go template"},
		{[]string{"left-delim-db", "[[", "right-delim-db", "]]", "template-db", `[[ with secret "auth/token/create" ]]x[[ end ]]`}, "auth/token/"},
		{[]string{"left-delim-db", "[ [", "template-db", `x`}, `vault-injector.io/left-delim-db="[ [": delimiter "[ [" is invalid`},
		{[]string{"left-delim-db", "%%", "right-delim-db", "%%", "template-db", `x`}, `vault-injector.io/right-delim-db="%%": left and right delimiters are both "%%"`},
		{[]string{"left-delim-db", "}}", "template-db", `x`}, `left and right delimiters are both "}}"`},
	} {
		_, _, err := Parse(withInject(append([]string{"role", "app", "secret-db", "secret/db"}, tc.kv...)...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.kv, err, tc.want)
		}
	}
	_, warns, err = Parse(withInject("role", "app", "secret-db", "secret/db", "left-delim-db", "[["))
	if err != nil || len(warns) != 1 || !strings.Contains(warns[0], "ignored because vault-injector.io/template-db is not set") {
		t.Errorf("delims without a template: %v, %v", warns, err)
	}
	// A template alone, static under its own delimiters, needs no secret-<name>.
	if o, _, err := Parse(withInject("role", "app", "left-delim-s", "<%", "right-delim-s", "%>", "template-s", `{{ .NotAction }}`)); err != nil || len(o.Secrets) != 1 {
		t.Errorf("static template with delims: %+v, %v", o.Secrets, err)
	}
}

func TestTemplateDepthDelims(t *testing.T) {
	if d := contract.TemplateDepth(`[[ if x ]][[ with y ]]{{ if }}{{ if }}[[ end ]][[ end ]]`, "[[", "]]"); d != 2 {
		t.Errorf("depth %d, want 2: {{ }} is text under [[ ]]", d)
	}
}

func TestWriteToFileAtAdmission(t *testing.T) {
	ok := `{{ with secret "secret/db" }}{{ writeToFile "/vault/secrets/extra/key.pem" "" "" "0400" .Data.k }}{{ end }}`
	if _, _, err := Parse(withInject("role", "app", "secret-db", "secret/db", "template-db", ok)); err != nil {
		t.Errorf("a write inside the secrets dir: %v", err)
	}
	for tmpl, want := range map[string]string{
		`{{ writeToFile "/etc/app/key.pem" "" "" "0400" "x" }}`:         `vault-injector.io/template-db: writeToFile path "/etc/app/key.pem" is outside the secrets volume: the agent writes only under /vault/secrets`,
		`{{ writeToFile "/vault/secrets/other" "" "" "0400" "x" }}`:     `collides with the secret file "other"`,
		`{{ writeToFile "/vault/secrets/token" "" "" "0400" "x" }}`:     `collides with the secret file "token"`,
		`{{ writeToFile "/vault/secrets/x" "root" "" "0400" "x" }}`:     `writeToFile owner "root" is not a number`,
		`{{ writeToFile "/vault/secrets/x" "" "" "0400" "trunc" "x" }}`: `writeToFile flag "trunc" is unknown`,
	} {
		_, _, err := Parse(withInject("role", "app", "inject-token", "true", "secret-db", "secret/db", "template-db", tmpl, "secret-other", "secret/o"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", tmpl, err, want)
		}
	}
}
