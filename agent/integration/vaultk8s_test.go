package integration

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/testbin"
	"github.com/vault-injector/vault-injector/test/vaultagent"
	"github.com/vault-injector/vault-injector/webhook/annotations"
	"github.com/vault-injector/vault-injector/webhook/vaultk8s"
)

// vault-k8s' default templates, copied from agent-inject/agent/config.go (the reference side
// of the comparison does not use our translator's copies).
const (
	refMap  = "{{ with secret \"%s\" }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}"
	refJSON = "{{ with secret \"%s\" }}{{ .Data | toJSON }}\n{{ end }}"
)

// TestVaultK8sParityWithVaultAgent renders the same secrets from vault-k8s annotations twice:
// with the real Vault Agent 1.21 (the templates vault-k8s would give it) and with our agent
// (the annotations translated by webhook/vaultk8s, then parsed as at admission). Every file
// must be byte for byte the same, with the same mode.
func TestVaultK8sParityWithVaultAgent(t *testing.T) {
	e := newEnv(t)
	root := e.vs.MustClient(t)
	if err := root.Sys().Mount("kv1", &api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("kv1/app", map[string]any{"key": "v1-value", "n": 7, "list": []any{"a", 2}}); err != nil {
		t.Fatal(err)
	}
	e.putKV2("app", map[string]any{"user": "app", "pass": "p&ss<w>rd'\"", "port": 5432, "ratio": 0.25,
		"nested": map[string]any{"k": "v", "n": nil, "l": []any{"x", map[string]any{"y": 1}}}, "empty": "", "big": uint64(12345678901234567890)})
	e.putKV2("app", map[string]any{"user": "app", "pass": "p&ss<w>rd'\"", "port": 5432, "ratio": 0.25,
		"nested": map[string]any{"k": "v", "n": nil, "l": []any{"x", map[string]any{"y": 1}}}, "empty": "", "big": uint64(12345678901234567890)}) // version 2: metadata differs from a first write

	cases := []struct {
		name string
		ann  map[string]string // vault.hashicorp.com keys without the prefix
		ref  string            // the template vault-k8s gives Vault Agent
		file string
	}{
		{"kv2 map", map[string]string{"agent-inject-secret-kv2map": "secret/data/app"}, sprintf(refMap, "secret/data/app"), "kv2map"},
		{"kv2 map without data/", map[string]string{"agent-inject-secret-kv2short": "secret/app"}, sprintf(refMap, "secret/app"), "kv2short"},
		{"kv1 map", map[string]string{"agent-inject-secret-kv1": "kv1/app"}, sprintf(refMap, "kv1/app"), "kv1"},
		{"kv2 json", map[string]string{"agent-inject-secret-kv2json": "secret/data/app", "agent-inject-default-template": "json"},
			sprintf(refJSON, "secret/data/app"), "kv2json"},
		{"kv1 json, custom file and perms", map[string]string{"agent-inject-secret-KV1J": "kv1/app", "agent-inject-default-template": "json",
			"agent-inject-file-KV1J": "/conf/kv1.json", "agent-inject-perms-KV1J": "0440"}, sprintf(refJSON, "kv1/app"), "conf/kv1.json"},
		{"env-style range", map[string]string{"agent-inject-secret-env": "secret/data/app", "agent-inject-template-env": envTmpl}, envTmpl, "env"},
		{"index printf toJSONPretty", map[string]string{"agent-inject-secret-misc": "secret/data/app", "agent-inject-template-misc": miscTmpl}, miscTmpl, "misc"},
		{"template only", map[string]string{"agent-inject-template-only": onlyTmpl}, onlyTmpl, "only"},
		{"string functions", map[string]string{"agent-inject-secret-strs": "secret/data/app", "agent-inject-template-strs": strsTmpl}, strsTmpl, "strs"},
		{"missing key, Vault Agent's default", map[string]string{"agent-inject-secret-missing": "secret/data/app", "agent-inject-template-missing": missingTmpl}, missingTmpl, "missing"},
	}
	var refs []vaultagent.Template
	var ours []contract.Secret
	perms := map[string]string{}
	for _, c := range cases {
		in := map[string]string{vaultk8s.AnnotationInject: "true", vaultk8s.Prefix + "role": "app"}
		for k, v := range c.ann {
			in[vaultk8s.Prefix+k] = v
		}
		tr := vaultk8s.Translate(in)
		if len(tr.Problems) > 0 {
			t.Fatalf("%s: translation refused: %v", c.name, tr.Problems)
		}
		opts, _, err := annotations.Parse(tr.Annotations)
		if err != nil {
			t.Fatalf("%s: parsing the translation: %v", c.name, err)
		}
		for _, s := range opts.Secrets {
			ours = append(ours, contract.Secret{Name: s.Name, Path: s.Path, Template: s.Template, File: s.File, Perms: s.Perms, Compat: s.Compat})
			perms[s.File] = s.Perms.String()
		}
		p := in[vaultk8s.Prefix+"agent-inject-perms-KV1J"]
		if c.file != "conf/kv1.json" {
			p = ""
		}
		refs = append(refs, vaultagent.Template{File: c.file, Contents: c.ref, Perms: p})
	}

	refDir := filepath.Join(e.dir, "reference")
	if err := vaultagent.Render(context.Background(), testbin.Must(t, "vault"), e.vs.Addr, e.tokenFile, refDir, refs); err != nil {
		t.Fatal(err)
	}
	cfg := e.config(ours...)
	if code, logs, stderr := e.runOnce(cfg); code != 0 {
		t.Fatalf("our agent: exit %d, stderr %q\nlogs:\n%s", code, stderr, logs)
	}
	for _, c := range cases {
		want := readFile(t, filepath.Join(refDir, c.file))
		got := readFile(t, filepath.Join(cfg.SecretsDir, c.file))
		if got != want {
			t.Errorf("%s (%s): not what Vault Agent writes\n got %q\nwant %q", c.name, c.file, got, want)
		}
		refSt, _ := os.Stat(filepath.Join(refDir, c.file))
		ourSt, _ := os.Stat(filepath.Join(cfg.SecretsDir, c.file))
		if refSt.Mode().Perm() != ourSt.Mode().Perm() {
			t.Errorf("%s: mode %v, Vault Agent's %v", c.file, ourSt.Mode().Perm(), refSt.Mode().Perm())
		}
	}
	names := make([]string, 0, len(perms))
	for f := range perms {
		names = append(names, f)
	}
	sort.Strings(names)
	t.Logf("compared %d files with Vault Agent's: %s", len(cases), strings.Join(names, ", "))
}

func sprintf(format, path string) string { return strings.ReplaceAll(format, "%s", path) }

const envTmpl = `{{- with secret "secret/data/app" -}}
{{ range $k, $v := .Data.data }}export {{ $k }}="{{ $v }}"
{{ end }}{{- end }}`

const miscTmpl = `{{ with secret "secret/data/app" }}{{ index .Data.data "user" }}@{{ printf "%05d" 42 }} {{ .Data.metadata.version }}
{{ .Data.data | toJSONPretty }}
{{ .Data.data.nested | toJSON }} {{ .Data.data.user | toUpper }} {{ if eq .Data.data.user "app" }}yes{{ end }}
{{ end }}`

const strsTmpl = `{{ with secret "secret/data/app" }}{{ $d := .Data.data }}{{ $d.user | toUpper | toLower }}
{{ "a,b,c" | split "," | join ";" }} {{ replaceAll "&" "and" $d.pass }} [{{ "  x  " | trimSpace }}]
{{ $d.pass | base64Encode }} {{ $d.pass | base64Encode | base64Decode }} {{ if "abc" | contains "b" }}has{{ end }}
{{ timestamp "2006" }} {{ $d.big }} {{ $d.nested | toYAML }}
{{ $d | toYAML }}
{{ .Data.metadata | toJSONPretty }}
{{ end }}`

const missingTmpl = `{{ with secret "secret/data/app" }}[{{ .Data.data.nokey }}]{{ if .Data.data.optional }}set{{ else }}unset{{ end }} {{ index .Data.data "nokey" }}{{ end }}`

const onlyTmpl = `{{ with secret "kv1/app" }}{{ .Data.key }}{{ range .Data.list }} {{ . }}{{ end }}{{ end }}`

// TestVaultK8sPKIWriteStyle: vault-k8s' PKI pattern (a write-style `secret` call with
// key=value arguments) issues a certificate through both agents. Each issue is a new
// certificate, so the files cannot be equal: both must hold one certificate for the asked
// common name from the same CA, followed by its key, in the same layout.
func TestVaultK8sPKIWriteStyle(t *testing.T) {
	e := newEnv(t)
	root := e.vs.MustClient(t)
	if err := root.Sys().Mount("pki", &api.MountInput{Type: "pki", Config: api.MountConfigInput{MaxLeaseTTL: "24h"}}); err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string]map[string]any{
		"pki/root/generate/internal": {"common_name": "Test Root", "ttl": "24h"},
		"pki/roles/web":              {"allowed_domains": "example.com", "allow_subdomains": true, "max_ttl": "1h"},
	} {
		if _, err := root.Logical().Write(path, data); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	e.seedToken(readPolicy + `path "pki/issue/web" { capabilities = ["update"] }`)
	tmpl := `{{- with secret "pki/issue/web" "common_name=www.example.com" "ttl=10m" -}}
{{ .Data.certificate }}
{{ .Data.private_key }}
{{ .Data.issuing_ca }}
{{- end }}`
	// pkiCert (consul-template's cached certificates): fields .Cert, .Key, .Data.CA.
	pkiTmpl := `{{ with pkiCert "pki/issue/web" "common_name=www.example.com" "ttl=10m" }}{{ .Cert }}{{ .Key }}{{ .Data.CA }}{{ end }}`
	tr := vaultk8s.Translate(map[string]string{vaultk8s.AnnotationInject: "true", vaultk8s.Prefix + "role": "web",
		vaultk8s.Prefix + "agent-inject-secret-cert.pem": "pki/issue/web", vaultk8s.Prefix + "agent-inject-template-cert.pem": tmpl,
		vaultk8s.Prefix + "agent-inject-template-pkicert.pem": pkiTmpl})
	opts, _, err := annotations.Parse(tr.Annotations)
	if err != nil || len(opts.Secrets) != 2 {
		t.Fatalf("translation: %v %v", err, tr.Problems)
	}
	var ours []contract.Secret
	for _, s := range opts.Secrets {
		ours = append(ours, contract.Secret{Name: s.Name, Path: s.Path, Template: s.Template, File: s.File, Perms: s.Perms, Compat: s.Compat})
	}
	refDir := filepath.Join(e.dir, "reference")
	if err := vaultagent.Render(context.Background(), testbin.Must(t, "vault"), e.vs.Addr, e.tokenFile, refDir,
		[]vaultagent.Template{{File: "cert.pem", Contents: tmpl}, {File: "pkicert.pem", Contents: pkiTmpl}}); err != nil {
		t.Fatal(err)
	}
	cfg := e.config(ours...)
	if code, logs, stderr := e.runOnce(cfg); code != 0 {
		t.Fatalf("our agent: exit %d, stderr %q\nlogs:\n%s", code, stderr, logs)
	}
	for _, f := range []string{"cert.pem", "pkicert.pem"} {
		refText, ourText := readFile(t, filepath.Join(refDir, f)), readFile(t, filepath.Join(cfg.SecretsDir, f))
		ref, ours := pemSummary(t, refText), pemSummary(t, ourText)
		if ref != ours || !strings.HasPrefix(ours, "CERTIFICATE www.example.com by Test Root, ") {
			t.Errorf("%s: layouts differ:\n ours %s\n Vault Agent's %s", f, ours, ref)
		}
		if shape(refText) != shape(ourText) {
			t.Errorf("%s: line structure differs:\n ours %q\n Vault Agent's %q", f, shape(ourText), shape(refText))
		}
		t.Logf("%s: both agents wrote %s", f, ours)
	}
}

// shape is a PEM file with each run of base64 lines replaced by "B": where the newlines sit
// between and after the blocks, which two issues of one kind of certificate share (their
// base64 lengths may differ by a byte).
func shape(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "-----") && l != "" {
			l = "B"
			if len(out) > 0 && out[len(out)-1] == "B" {
				continue
			}
		}
		out = append(out, l)
	}
	return strings.Join(out, "|")
}

// pemSummary describes a PEM file's blocks: types, the certificate's subject and issuer.
func pemSummary(t *testing.T, s string) string {
	t.Helper()
	var parts []string
	rest := []byte(s)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" && len(parts) == 0 {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, "CERTIFICATE "+c.Subject.CommonName+" by "+c.Issuer.CommonName)
			continue
		}
		parts = append(parts, b.Type)
	}
	if strings.TrimSpace(string(rest)) != "" {
		t.Errorf("text after the PEM blocks: %d bytes", len(rest))
	}
	return strings.Join(parts, ", ")
}
