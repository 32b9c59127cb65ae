package render

import (
	"encoding/json"
	"testing"

	"github.com/vault-injector/vault-injector/agent/vault"
	"github.com/vault-injector/vault-injector/contract"
)

// A whole secret through toJSON, with Compat vault-agent, is consul-template's
// dependency.Secret: its eight fields in its order, numbers as Vault sent them, < > & escaped.
func TestCompatWholeSecretToJSON(t *testing.T) {
	src := testSource()
	src.secrets["database/creds/app"] = &vault.Secret{Path: "database/creds/app", RequestID: "2a6c0e4f-req",
		LeaseID: "database/creds/app/abc", LeaseDuration: 60, Renewable: true,
		Data: map[string]any{"username": "v-app-1", "password": "p<w>&", "n": json.Number("5432")}, Warnings: []string{"w"}}
	const want = `{"RequestID":"2a6c0e4f-req","LeaseID":"database/creds/app/abc","LeaseDuration":60,"Renewable":true,` +
		`"Data":{"n":5432,"password":"p\u003cw\u003e\u0026","username":"v-app-1"},"Warnings":["w"],"Auth":null,"WrapInfo":null}`
	const wantKV2 = `{"RequestID":"","LeaseID":"","LeaseDuration":0,"Renewable":false,` +
		`"Data":{"data":{"db-host":"h","pass":"p'w$x","port":5432,"user":"app"},"metadata":{"version":3}},"Warnings":null,"Auth":null,"WrapInfo":null}`
	for _, tc := range []struct{ path, tmpl, want string }{
		{"database/creds/app", `{{ with secret "database/creds/app" }}{{ . | toJSON }}{{ end }}`, want},
		{"database/creds/app", `{{ $s := secret "database/creds/app" }}{{ $s | toJSON }}`, want},
		{"database/creds/app", `{{ toJSON . }}`, want}, // the configured secret as the dot
		{"secret/app", `{{ with secret "secret/app" }}{{ toJSON . }}{{ end }}`, wantKV2},
	} {
		for _, compat := range []string{contract.CompatVaultAgent, contract.CompatVaultAgentStrict} {
			got, err := renderFrom(t, src, contract.Secret{Name: "w", Path: tc.path, Template: tc.tmpl, File: "w", Perms: 0o400, Compat: compat})
			if err != nil || got != tc.want {
				t.Errorf("%s (%s):\n got %s (%v)\nwant %s", tc.tmpl, compat, got, err, tc.want)
			}
		}
	}
	pretty, err := render(t, contract.Secret{Name: "w", Path: "kv1/app", Template: `{{ with secret "kv1/app" }}{{ . | toJSONPretty }}{{ end }}`,
		File: "w", Perms: 0o400, Compat: contract.CompatVaultAgent})
	const wantPretty = "{\n  \"RequestID\": \"\",\n  \"LeaseID\": \"\",\n  \"LeaseDuration\": 0,\n  \"Renewable\": false,\n  \"Data\": {\n    \"key\": \"v1\"\n  },\n  \"Warnings\": null,\n  \"Auth\": null,\n  \"WrapInfo\": null\n}"
	if err != nil || pretty != wantPretty {
		t.Errorf("toJSONPretty:\n got %q (%v)\nwant %q", pretty, err, wantPretty)
	}
}

func renderFrom(t *testing.T, src Source, s contract.Secret) (string, error) {
	t.Helper()
	it, err := Compile(s)
	if err != nil {
		return "", err
	}
	b, err := it.Render(src)
	return string(b), err
}
