package render

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

// FuzzRender feeds arbitrary templates, formats and secret data (all user- or Vault-controlled
// input) through Compile and Render: any result is fine except a panic, an oversized output, or
// an error that holds a secret value (the sentinel, unless the template spells it itself).
// Run longer with: go test -fuzz FuzzRender ./agent/render
func FuzzRender(f *testing.F) {
	f.Add(`{{ range .Data.data.zz }}{{ end }}{{ eq .Data.data .Data.data }}`, "raw:zz", `{}`)
	f.Add(`{{ with secret "secret/app" }}{{ .Data.data.user }}{{ end }}`, "json", `{"data":{"user":"a"}}`)
	f.Add(`{{ range $k, $v := .Data }}{{ envKey $k }}={{ shellQuote $v }}{{ end }}`, "env", `{"a-b":1,"c":[1,2]}`)
	f.Add(`{{ .Data | toYAML }}{{ .Data | toJSONPretty }}`, "yaml", `{"n":null,"f":1.5}`)
	f.Add(`{{ secret "pki/issue/x" "common_name=a" }}`, "raw:k", `{"k":"v"}`)
	f.Add(`{{ range 10 }}{{ . }}{{ end }}{{ "eA==" | base64Decode }}`, "raw:", `{}`)
	f.Fuzz(func(t *testing.T, tmpl, format, data string) {
		var values map[string]any
		dec := json.NewDecoder(strings.NewReader(data))
		dec.UseNumber() // as the Vault client decodes
		if dec.Decode(&values) != nil || values == nil {
			values = map[string]any{"k": data}
		}
		values[sentinelKey] = sentinel
		src := &mapSource{secrets: testSource().secrets}
		src.secrets["fuzz"] = kv2(values)
		for _, s := range []contract.Secret{
			{Name: "t", Path: "fuzz", Template: tmpl},
			{Name: "f", Path: "fuzz", Format: format},
		} {
			it, err := Compile(s)
			if err != nil {
				continue
			}
			out, err := it.Render(src)
			if err == nil && len(out) > MaxOutput {
				t.Fatalf("output of %d bytes exceeds MaxOutput", len(out))
			}
			if err != nil && strings.Contains(err.Error(), "SNTNL") && !strings.Contains(tmpl+format, "SNTNL") {
				t.Fatalf("error holds a secret value: %v", err)
			}
		}
		if _, err := Format(contract.FormatEnv, values); err == nil {
			_, _ = Format(contract.FormatYAML, values)
		}
	})
}

const sentinelKey, sentinel = "zz", "x-SNTNL-41"
