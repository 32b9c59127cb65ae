package render

import (
	"encoding/json"
	"errors"
	"net/url"
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

// echoSource answers every request for a path other than secret/app as Vault does at its
// worst: the error names the path, and Vault's message repeats the arguments.
type echoSource struct{ *mapSource }

func (e echoSource) Secret(path string, data map[string]any) (*vault.Secret, error) {
	if s, err := e.mapSource.Secret(path, nil); err == nil && data == nil {
		return s, nil
	}
	b, _ := json.Marshal(data)
	if strings.HasPrefix(path, "unreachable/") {
		return nil, &vault.Error{Op: "read", Path: path, Err: &url.Error{Op: "Get", URL: "https://vault:8200/v1/" + path, Err: errors.New("connection refused")}}
	}
	op := "write"
	if data == nil {
		op = "read"
	}
	return nil, &vault.Error{Op: op, Path: path, Status: 400, Errors: []string{"common name " + string(b) + " not allowed by this role"}}
}

// TestComputedRequestErrorsHoldNoValues: a template that built a Vault path or a write argument
// from a secret value printed that value in the path of the error and in Vault's own message.
// Such errors keep only the operation and the status; requests made of the template's own
// constants keep their whole error.
func TestComputedRequestErrorsHoldNoValues(t *testing.T) {
	for _, tc := range []struct{ tmpl, want string }{
		{`{{ with secret (printf "secret/data/%s" .Data.data.password) }}{{ .Data }}{{ end }}`, "Vault answered 400"},
		{`{{ with secret "pki/issue/web" (printf "common_name=%s" .Data.data.password) }}{{ .Data }}{{ end }}`, "Vault answered 400"},
		{`{{ $p := printf "pki/issue/%s" .Data.data.pin }}{{ with secret $p "ttl=1h" }}{{ end }}`, "Vault answered 400"},
		{`{{ with pkiCert "pki/issue/web" (print "common_name=" .Data.data.map.inner) }}{{ .Cert }}{{ end }}`, "Vault answered 400"},
		{`{{ with secret (print "unreachable/" .Data.data.password) }}{{ end }}`, "connection refused"},
	} {
		it, err := Compile(contract.Secret{Name: "app", Path: "secret/app", Template: tc.tmpl})
		if err != nil {
			t.Fatalf("%s: %v", tc.tmpl, err)
		}
		_, err = it.Render(echoSource{leakSource()})
		if err == nil {
			t.Fatalf("%s: rendered without error", tc.tmpl)
		}
		msg := err.Error()
		for _, v := range leakValues {
			if strings.Contains(msg, v) {
				t.Errorf("%s: error holds the secret value %q: %s", tc.tmpl, v, msg)
			}
		}
		if !strings.Contains(msg, tc.want) || !strings.Contains(msg, computedPath) {
			t.Errorf("%s: error lacks %q or the withheld path: %s", tc.tmpl, tc.want, msg)
		}
	}
	// The template's own constants are not secret: that error keeps path and message.
	it, err := Compile(contract.Secret{Name: "app", Path: "secret/app", Template: `{{ with secret "pki/issue/web" "common_name=a.example.com" }}{{ end }}`})
	if err != nil {
		t.Fatal(err)
	}
	_, err = it.Render(echoSource{leakSource()})
	if err == nil || !strings.Contains(err.Error(), "write pki/issue/web: Vault answered 400: common name") {
		t.Errorf("a constant request lost its error: %v", err)
	}
}

// TestNames: the runner logs a path only when the item names it (configured or a constant).
func TestNames(t *testing.T) {
	it, err := Compile(contract.Secret{Name: "a", Path: "secret/app", Template: `{{ with secret "database/creds/x" }}{{ end }}{{ with secret (print "kv/" .Data.data.user) }}{{ end }}`})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{"secret/app": true, "database/creds/x": true, "kv/P@ss-w0rd-7q": false, "kv/": true} {
		if it.Names(p) != want {
			t.Errorf("Names(%q) = %v", p, !want)
		}
	}
}
