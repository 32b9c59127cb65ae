package render

import (
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

// A template of static text never reads its secret's path (vault-k8s' agent-inject-secret with
// a template that calls no secret): Vault Agent renders the text alone, even when nothing is
// at the path.
func TestStaticTemplateReadsNothing(t *testing.T) {
	src := testSource()
	for _, compat := range []string{"", contract.CompatVaultAgent} {
		got, err := renderFrom(t, src, contract.Secret{Name: "s", Path: "secret/nothing-here", Template: "listen 8080\n", File: "s", Perms: 0o400, Compat: compat})
		if err != nil || got != "listen 8080\n" {
			t.Errorf("compat %q: %q, %v", compat, got, err)
		}
	}
	if len(src.asked) != 0 {
		t.Errorf("Vault was asked for %v", src.asked)
	}
}

// A secret without a path renders a template that reads no dot, and a template that reads it
// anyway fails with a message naming the fix.
func TestTemplateWithoutPath(t *testing.T) {
	got, err := renderFrom(t, testSource(), contract.Secret{Name: "b", Template: "welcome\n", File: "b", Perms: 0o400})
	if err != nil || got != "welcome\n" {
		t.Errorf("%q, %v", got, err)
	}
	_, err = renderFrom(t, testSource(), contract.Secret{Name: "b", Template: "{{ .Data.x }}", File: "b", Perms: 0o400})
	if err == nil || !strings.Contains(err.Error(), "has no Vault path: set secret-b") {
		t.Errorf("reading the dot without a path: %v", err)
	}
}
