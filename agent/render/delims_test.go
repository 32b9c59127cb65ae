package render

import (
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

// Custom delimiters: actions between them run, "{{ }}" is text (as in Vault Agent with
// left_delimiter/right_delimiter), and the compile-time checks see through them.
func TestCustomDelims(t *testing.T) {
	s := contract.Secret{Name: "d", Path: "secret/app", File: "d", Perms: 0o400, LeftDelim: "[[", RightDelim: "]]",
		Template: `[[ with secret "secret/app" ]]user=[[ .Data.data.user ]] {{ .Keep }}[[ end ]]`}
	got, err := render(t, s)
	if err != nil || got != "user=app {{ .Keep }}" {
		t.Errorf("%q, %v", got, err)
	}
	s.Template = `[[ with secret "auth/token/create" ]][[ .Data ]][[ end ]]`
	if _, err := Compile(s); err == nil || !strings.Contains(err.Error(), "auth/token/create") {
		t.Errorf("a token path behind custom delimiters: %v", err)
	}
	s.Template = `[[ define "a" ]][[ template "a" ]][[ end ]]`
	if _, err := Compile(s); err == nil || !strings.Contains(err.Error(), "calls itself") {
		t.Errorf("recursion behind custom delimiters: %v", err)
	}
}
