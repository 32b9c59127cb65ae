package annotations

import (
	"strings"
	"testing"
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
