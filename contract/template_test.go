package contract

import (
	"strings"
	"testing"
	"text/template"
)

// TestCheckTemplateCalls: a template that called itself escaped the nesting limit and grew the
// agent to 102 MiB before text/template gave up. Every recursion is refused, naming the chain;
// templates that only reuse definitions pass.
func TestCheckTemplateCalls(t *testing.T) {
	for _, tc := range []struct{ tmpl, want string }{
		{`{{define "x"}}{{template "x"}}{{end}}{{template "x"}}`, `"x" calls "x"`},
		{`{{define "a"}}{{if .}}{{template "b" .}}{{end}}{{end}}{{define "b"}}{{range .}}{{else}}{{template "a" .}}{{end}}{{end}}{{template "a" .}}`, `"a" calls "b" calls "a"`},
		{`{{block "loop" .}}{{with .}}{{template "loop" .}}{{end}}{{end}}`, `"loop" calls "loop"`},
		{`{{define "t"}}x{{end}}{{template "s" .}}{{define "s"}}{{template "t"}}{{template "s"}}{{end}}`, `"s" calls "s"`},
	} {
		tt := template.Must(template.New("main").Parse(tc.tmpl))
		err := CheckTemplateCalls(tt)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "recursion is refused") {
			t.Errorf("%s: err = %v, want one naming %s", tc.tmpl, err, tc.want)
		}
	}
	for _, ok := range []string{
		`plain {{ .x }}`,
		`{{define "row"}}{{.}}{{end}}{{range .}}{{template "row" .}}{{template "row" .}}{{end}}`,
		`{{define "a"}}{{template "b"}}{{end}}{{define "b"}}b{{end}}{{template "a"}}{{template "b"}}`,
		`{{template "undefined"}}`,
	} {
		if err := CheckTemplateCalls(template.Must(template.New("main").Parse(ok))); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
