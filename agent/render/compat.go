package render

import (
	"bytes"
	"encoding/json"
	"strconv"
	"text/template"
	"time"

	yamlv2 "go.yaml.in/yaml/v2"

	"github.com/vault-injector/vault-injector/contract"
)

// vaultAgentFuncs replace functions whose output differs from Vault Agent's (consul-template's)
// for secrets with a Compat value, so a template written for Vault Agent writes the
// same bytes: its toJSON is json.Marshal, which escapes <, > and & and keeps numbers as Vault
// sent them.
var vaultAgentFuncs = template.FuncMap{
	"toJSON": func(v any) (string, error) {
		v, err := asVaultAgentSecret(v)
		if err != nil {
			return "", err
		}
		b, err := json.Marshal(v)
		return string(bytes.TrimSpace(b)), err
	},
	"toJSONPretty": func(v any) (string, error) {
		v, err := asVaultAgentSecret(v)
		if err != nil {
			return "", err
		}
		b, err := json.MarshalIndent(v, "", "  ")
		return string(bytes.TrimSpace(b)), err
	},
	// consul-template encodes with yaml.v2, whose indentation of lists differs from v3's.
	"toYAML": func(v any) (string, error) {
		b, err := yamlv2.Marshal(plain(v))
		return string(bytes.TrimSpace(b)), err
	},
}

// compatFuncs are the overrides for a secret's Compat value (none for the default).
func compatFuncs(compat string) template.FuncMap {
	if compat == contract.CompatVaultAgent || compat == contract.CompatVaultAgentStrict {
		return vaultAgentFuncs
	}
	return nil
}

// missingKey is text/template's option for a secret: Vault Agent's default renders a missing
// map key as "<no value>"; everything else fails the render.
func missingKey(compat string) string {
	if compat == contract.CompatVaultAgent {
		return "missingkey=default"
	}
	return "missingkey=error"
}

// timestamp is consul-template's: the current UTC time in RFC 3339, in a Go layout, or "unix".
func timestamp(layout ...string) (string, error) {
	now := time.Now().UTC()
	switch {
	case len(layout) == 0:
		return now.Format(time.RFC3339), nil
	case len(layout) > 1:
		return "", safef("timestamp takes at most one layout")
	case layout[0] == "unix":
		return strconv.FormatInt(now.Unix(), 10), nil
	}
	return now.Format(layout[0]), nil
}
