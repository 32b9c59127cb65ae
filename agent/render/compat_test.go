package render

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/contract"
)

// TestCompatVaultAgent: the same template gives Vault Agent's bytes with Compat vault-agent
// and the agent's own without (agent/integration compares the former with the real binary).
func TestCompatVaultAgent(t *testing.T) {
	tmpl := "{{ with secret \"secret/app\" }}{{ .Data.data | toJSON }}|{{ .Data.data | toJSONPretty }}|{{ .Data.metadata | toYAML }}{{ end }}"
	src := testSource()
	src.secrets["secret/app"] = kv2(map[string]any{"pass": "a&b<c>", "l": []any{"x"}})
	for compat, want := range map[string]string{
		"":                        "{\"l\":[\"x\"],\"pass\":\"a&b<c>\"}|{\n  \"l\": [\n    \"x\"\n  ],\n  \"pass\": \"a&b<c>\"\n}|version: 3",
		contract.CompatVaultAgent: "{\"l\":[\"x\"],\"pass\":\"a\\u0026b\\u003cc\\u003e\"}|{\n  \"l\": [\n    \"x\"\n  ],\n  \"pass\": \"a\\u0026b\\u003cc\\u003e\"\n}|version: 3",
	} {
		it, err := Compile(contract.Secret{Name: "t", Path: "secret/app", Template: tmpl, File: "t", Perms: 0o400, Compat: compat})
		if err != nil {
			t.Fatal(err)
		}
		got, err := it.Render(src)
		if err != nil || string(got) != want {
			t.Errorf("compat %q:\n got %q (%v)\nwant %q", compat, got, err, want)
		}
	}
}

func TestTimestamp(t *testing.T) {
	before := time.Now().UTC().Unix()
	for layout, re := range map[string]string{
		"":           `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`,
		"2006-01-02": `^\d{4}-\d\d-\d\d$`,
		"unix":       `^\d+$`,
	} {
		var args []string
		if layout != "" {
			args = []string{layout}
		}
		got, err := timestamp(args...)
		if err != nil || !regexp.MustCompile(re).MatchString(got) {
			t.Errorf("timestamp %q = %q (%v)", layout, got, err)
		}
		if layout == "unix" {
			if n, _ := strconv.ParseInt(got, 10, 64); n < before || n > before+5 {
				t.Errorf("unix timestamp %d, now %d", n, before)
			}
		}
	}
	if _, err := timestamp("a", "b"); err == nil {
		t.Error("two layouts accepted")
	}
}

// TestCompatMissingKey: Vault Agent's default writes "<no value>" for a missing map key (also
// inside `if`); its error_on_missing_key, and the agent's own default, fail the render.
func TestCompatMissingKey(t *testing.T) {
	tmpl := `{{ with secret "secret/app" }}[{{ .Data.data.nokey }}]{{ if .Data.data.nokey }}x{{ end }}{{ end }}`
	for compat, want := range map[string]string{contract.CompatVaultAgent: "[<no value>]", contract.CompatVaultAgentStrict: "", "": ""} {
		got, err := render(t, contract.Secret{Name: "m", Path: "secret/app", Template: tmpl, File: "m", Perms: 0o400, Compat: compat})
		switch {
		case want != "" && (err != nil || got != want):
			t.Errorf("compat %q: %q (%v), want %q", compat, got, err, want)
		case want == "" && (err == nil || !strings.Contains(err.Error(), `"nokey"`)):
			t.Errorf("compat %q: %q, %v; want the render to fail naming the key", compat, got, err)
		}
	}
}
