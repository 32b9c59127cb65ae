package render

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/agent/vault"
	"github.com/vault-injector/vault-injector/contract"
)

// Known secret values; none may appear in an error, whole or in part.
var leakValues = []string{"P@ss-w0rd-7q", "LIST-item-x9", "MAPval-k3y", "9137"}

func leakSource() *mapSource {
	return &mapSource{secrets: map[string]*vault.Secret{
		"secret/app": kv2(map[string]any{
			"password": "P@ss-w0rd-7q",
			"list":     []any{"LIST-item-x9"},
			"map":      map[string]any{"inner": "MAPval-k3y"},
			"pin":      json.Number("9137"),
		}),
	}}
}

// TestTemplateErrorsHoldNoValues runs failing templates against known values: each error must
// name the secret and the template position, and hold no value. text/template's own messages
// printed several of them ("range can't iterate over P@ss-w0rd-7q", the whole map for eq).
func TestTemplateErrorsHoldNoValues(t *testing.T) {
	corpus := []string{
		`{{ range .Data.data.password }}{{ end }}`,
		`{{ eq .Data.data .Data.data }}`,
		`{{ eq .Data.data.list .Data.data.list }}`,
		`{{ ne .Data.data.map .Data.data.map }}`,
		`{{ eq .Data.data.password .Data.data.list }}`,
		`{{ lt .Data.data.map .Data.data.password }}`,
		`{{ range $k, $v := .Data.data.password }}{{ end }}`,
		`{{ range $k, $v := .Data.data.pin }}{{ end }}`,
		`{{ range .Data.data.pin }}{{ end }}`,
		`{{ index .Data.data.password 99 }}`,
		`{{ index .Data.data.list 5 }}`,
		`{{ index .Data.data.password "k" }}`,
		`{{ slice .Data.data.password 5 2 }}`,
		`{{ .Data.data.password.x }}`,
		`{{ .Data.data.map.nope }}`,
		`{{ with $x := .Data.data.password }}{{ $x.y }}{{ end }}`,
		`{{ .Data.data.password | len | toUpper }}`,
		`{{ join "," .Data.data.list }}`,
		`{{ split .Data.data.list "," }}`,
		`{{ base64Decode .Data.data.password }}`,
		`{{ call .Data.data.password }}`,
		`{{ secret (printf "pki/issue/%s" .Data.data.password) (printf "cn%s" .Data.data.password) }}`,
		`{{ secret "secret/app" .Data.data.password }}`,
		`{{ printf "%s" .Data.data.password | toJSON | base64Decode }}`,
		`{{ keys .Data.data.password }}`,
		`{{ .Data.data.list.x }}`,
		`{{ if and .Data.data.password (index .Data.data.map "inner" "x") }}{{ end }}`,
		`{{ .Data.data.pin | toLower }}`,
		"line\n{{ template \"t\" .Data.data.password }}{{ define \"t\" }}{{ range . }}{{ end }}{{ end }}",
	}
	for _, tmpl := range corpus {
		it, err := Compile(contract.Secret{Name: "app", Path: "secret/app", Template: tmpl})
		if err != nil {
			t.Errorf("%s: does not compile: %v", tmpl, err)
			continue
		}
		_, err = it.Render(leakSource())
		if err == nil {
			t.Errorf("%s: rendered without error", tmpl)
			continue
		}
		msg := err.Error()
		for _, v := range leakValues {
			for _, part := range []string{v, v[:4], v[len(v)-4:]} {
				if strings.Contains(msg, part) {
					t.Errorf("%s: error holds %q of a secret value: %s", tmpl, part, msg)
				}
			}
		}
		if !strings.HasPrefix(msg, `secret "app": `) || !strings.Contains(msg, "app:") {
			t.Errorf("%s: error lacks the secret name or the position: %s", tmpl, msg)
		}
		t.Logf("%s\n\t-> %s", tmpl, msg)
	}
}
