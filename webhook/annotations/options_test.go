package annotations

import (
	"strings"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/contract"
)

func withInject(kv ...string) map[string]string {
	m := map[string]string{contract.AnnotationInject: "true"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[contract.Prefix+kv[i]] = kv[i+1]
	}
	return m
}

// TestValidators runs every validator with accepted and refused values. Refusals must name the
// annotation, echo the value and say what is accepted.
func TestValidators(t *testing.T) {
	tests := []struct {
		key, value string
		wantErr    string // "" = accepted
	}{
		{"inject", "true", ""},
		{"inject", "false", ""},
		{"inject", "yes", `use "true"`},
		{"role", "billing-prod_1.x@team", ""},
		{"role", "", "Vault role name"},
		{"role", "a/b", "Vault role name"},
		{"role", "has space", "Vault role name"},
		{"auth-path", "auth/kubernetes", ""},
		{"auth-path", "kubernetes", ""},
		{"auth-path", "auth/clusters/prod", ""},
		{"auth-path", "auth/../sys", "auth mount"},
		{"auth-path", "", "auth mount"},
		{"auth-path", "auth/a b", "auth mount"},
		{"auth-path", "us-west-org/auth/kubernetes", ""},
		{"auth-path", "../auth/kubernetes", "<namespace>/auth/<mount>"},
		{"auth-path", "us-west-org/auth/a b", "auth mount"},
		{"mode", "sidecar", ""},
		{"mode", "init-only", ""},
		{"mode", "initonly", `"init-only"`},
		{"refresh", "30s", ""},
		{"refresh", "24h", ""},
		{"refresh", "1s", "5s to 24h0m0s"},
		{"refresh", "25h", "5s to 24h0m0s"},
		{"refresh", "5", "duration"},
		{"containers", "app", ""},
		{"containers", "app, worker", ""},
		{"containers", "App", "container names"},
		{"containers", "app,,worker", "container names"},
		{"containers-include-init", "true", ""},
		{"agent-json-patch", `[{"op":"add","path":"/env/-","value":{"name":"X","value":"y"}}]`, ""},
		{"agent-init-json-patch", "not json", "JSON patch (RFC 6902)"},
		{"agent-copy-volume-mounts", "app", ""},
		{"agent-copy-volume-mounts", "App", "name of one of the pod's containers"},
		{"tls-skip-verify", "false", ""},
		{"tls-skip-verify", "True", `"true" or "false"`},
		{"tls-ca-file", "ca-cert.pem", ""},
		{"tls-client-cert-file", "client.crt", ""},
		{"tls-client-key-file", "sub/client.key", "key of the tls-secret's Secret"},
		{"tls-ca-file", "..", "key of the tls-secret's Secret"},
		{"volume-read-write", "true", ""},
		{"volume-read-write", "1", `"true" or "false"`},
		{"containers-include-init", "yes", `"true" or "false"`},
		{"volume-path", "/vault/secrets", ""},
		{"volume-path", "/etc/app/secrets", ""},
		{"volume-path", "vault/secrets", "absolute"},
		{"volume-path", "/", "not '/'"},
		{"volume-path", "/a/../b", "clean absolute"},
		{"volume-path", "/a:b", "clean absolute"},
		{"agent-cpu-request", "50m", ""},
		{"agent-cpu-request", "fast", "quantity"},
		{"agent-cpu-limit", "-1", "positive"},
		{"agent-cpu-limit", "", ""},
		{"agent-memory-request", "", ""},
		{"agent-memory-request", "32Mi", ""},
		{"agent-memory-limit", "0", "positive"},
		{"secret-db", "secret/data/app/db", ""},
		{"secret-db-config.txt", "kv/app", ""},
		{"secret-db", "database/creds/app", ""},
		{"secret-db", "", "Vault path"},
		{"secret-db", "/secret/app", "clean relative"},
		{"secret-db", "secret/app/", "clean relative"},
		{"secret-db", "secret/../sys", "clean relative"},
		{"secret-db", "secret/a b", "must not contain"},
		{"secret-db", "secret/a?x=1", "must not contain"},
		{"secret-bad/name", "secret/app", "secret name"},
		{"secret-.hidden", "secret/app", "secret name"},
		{"secret-" + strings.Repeat("a", 64), "secret/app", "secret name"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			_, _, err := Parse(withInject(tt.key, tt.value))
			checkErr(t, err, tt.wantErr, contract.Prefix+tt.key, tt.value)
		})
	}
}

// TestSecretFieldValidators covers the per-secret companions of secret-db.
func TestSecretFieldValidators(t *testing.T) {
	tests := []struct {
		key, value, wantErr string
	}{
		{"format-db", "json", ""},
		{"format-db", "yaml", ""},
		{"format-db", "env", ""},
		{"format-db", "raw:password", ""},
		{"format-db", "raw:", "raw:<key>"},
		{"format-db", "xml", "use json, yaml, env or raw:<key>"},
		{"file-db", "db.json", ""},
		{"file-db", "tls/ca.pem", ""},
		{"file-db", "/etc/passwd", "absolute"},
		{"file-db", "../escape", "'..' is not allowed"},
		{"file-db", "a/../../b", "not clean"},
		{"file-db", "..data", "'..' is not allowed"},
		{"file-db", "a//b", "not clean"},
		{"file-db", "", "empty"},
		{"perms-db", "0400", ""},
		{"perms-db", "440", ""},
		{"perms-db", "0777", ""},
		{"perms-db", "0800", "octal mode"},
		{"perms-db", "1777", "octal mode"},
		{"perms-db", "0", "octal mode"},
		{"perms-db", "rw", "octal mode"},
		{"template-db", `{{ with secret "secret/data/db" }}{{ .Data.data.user }}{{ end }}`, ""},
		{"template-db", `{{ .Data.password | base64Encode | toJSON }}{{ keys .Data | join "," }}`, ""},
		{"template-db", `{{ with secret "x" }}`, "not a valid Go template"},
		{"template-db", `{{ nosuchfunc . }}`, "not a valid Go template"},
		{"template-db", "   ", "empty"},
		{"compat-db", "vault-agent", ""},
		{"compat-db", "vault-agent-strict", ""},
		{"compat-db", "consul-template", "use vault-agent"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			_, _, err := Parse(withInject("secret-db", "secret/db", tt.key, tt.value))
			value := tt.value
			if strings.HasPrefix(tt.key, "template-") {
				value = "" // templates are never echoed back
			}
			checkErr(t, err, tt.wantErr, contract.Prefix+tt.key, value)
		})
	}
}

func checkErr(t *testing.T, err error, want, key, value string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("accepted; want an error containing %q", want)
	}
	msg := err.Error()
	for _, part := range []string{key, want} {
		if !strings.Contains(msg, part) {
			t.Errorf("error %q does not contain %q", msg, part)
		}
	}
	if value != "" && !strings.Contains(msg, Shorten(value)) {
		t.Errorf("error %q does not echo the value %q", msg, value)
	}
}

func TestParseResolvesOptions(t *testing.T) {
	opts, warnings, err := Parse(withInject(
		"role", "app", "auth-path", "k8s", "mode", "init-only", "refresh", "90s",
		"containers", "app,worker", "volume-path", "/etc/secrets",
		"agent-cpu-limit", "100m", "agent-memory-request", "20Mi",
		"secret-b", "secret/b", "format-b", "env", "file-b", "env/b.env", "perms-b", "0440",
		"secret-a", "kv/a", "template-a", `{{ .Data.x }}`,
	))
	if err != nil || len(warnings) != 0 {
		t.Fatalf("Parse: %v, warnings %v", err, warnings)
	}
	if o, _, _ := Parse(map[string]string{contract.AnnotationAuthPath: "/us-west-org/auth/kubernetes/"}); o.AuthPath != "us-west-org/auth/kubernetes" {
		t.Errorf("a namespace-prefixed auth-path gives %q, want us-west-org/auth/kubernetes (not under auth/)", o.AuthPath)
	}
	if opts.Role != "app" || opts.AuthPath != "auth/k8s" || opts.Mode != contract.ModeInitOnly ||
		opts.Refresh != 90*time.Second || strings.Join(opts.Containers, ",") != "app,worker" ||
		opts.VolumePath != "/etc/secrets" || opts.CPULimit.String() != "100m" || opts.MemoryRequest.String() != "20Mi" ||
		opts.CPURequest != nil || opts.MemoryLimit != nil {
		t.Errorf("options not resolved: %+v", opts)
	}
	want := []Secret{
		{Name: "a", Path: "kv/a", Template: `{{ .Data.x }}`, Format: "json", File: "a", Perms: 0o400},
		{Name: "b", Path: "secret/b", Format: "env", File: "env/b.env", Perms: 0o440},
	}
	if len(opts.Secrets) != 2 || opts.Secrets[0] != want[0] || opts.Secrets[1] != want[1] {
		t.Errorf("secrets = %+v, want %+v", opts.Secrets, want)
	}
}

// TestParseReportsEverything checks that all problems come back together, cross-annotation
// problems included.
func TestParseReportsEverything(t *testing.T) {
	_, _, err := Parse(withInject(
		"mode", "daemon", "refresh", "never",
		"format-ghost", "env", // no secret-ghost
		"secret-a", "kv/a", "file-a", "same",
		"secret-b", "kv/b", "file-b", "same",
		"agent-memory-request", "1Gi", "agent-memory-limit", "64Mi",
		"secret-c", "kv/c", "file-c", "tls", "secret-d", "kv/d", "file-d", "tls/ca.pem",
	))
	var e *Error
	if err == nil || !errorsAs(err, &e) {
		t.Fatalf("want *Error, got %v", err)
	}
	wants := []string{
		contract.AnnotationMode, contract.AnnotationRefresh,
		`no secret "ghost" to apply it to: add vault-injector.io/secret-ghost`,
		`collides with file "same" of secret "a"`,
		"request must not exceed the limit",
		`vault-injector.io/file-d="tls/ca.pem": collides with file "tls" of secret "c"`,
	}
	if len(e.Problems) != len(wants) {
		t.Errorf("got %d problems, want %d: %v", len(e.Problems), len(wants), e.Problems)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}

func TestParseWarnsAboutUnknownKeys(t *testing.T) {
	_, warnings, err := Parse(withInject(
		"secret-db", "kv/db", "rol", "x", "secrt-api", "kv/api", "formatt-db", "env", "totally-unrelated-thing", "1",
		"template-db", "{{ .Data.x }}", "format-db", "yaml",
	))
	if err != nil {
		t.Fatal(err)
	}
	wants := []string{
		"vault-injector.io/formatt-db is not a vault-injector annotation and is ignored; did you mean vault-injector.io/format-db?",
		"vault-injector.io/rol is not a vault-injector annotation and is ignored; did you mean vault-injector.io/role?",
		"vault-injector.io/secrt-api is not a vault-injector annotation and is ignored; did you mean vault-injector.io/secret-api?",
		"vault-injector.io/totally-unrelated-thing is not a vault-injector annotation and is ignored",
		"vault-injector.io/format-db is ignored because vault-injector.io/template-db is set",
	}
	if len(warnings) != len(wants) {
		t.Fatalf("warnings = %q", warnings)
	}
	for i, w := range wants {
		if !strings.HasSuffix(warnings[i], w) {
			t.Errorf("warning %d = %q, want suffix %q", i, warnings[i], w)
		}
	}
	if strings.Contains(warnings[3], "did you mean") {
		t.Errorf("no suggestion expected for an unrelated key: %q", warnings[3])
	}
}

func TestOptedIn(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "false": false, "True": false, "": false} {
		if got := OptedIn(map[string]string{contract.AnnotationInject: v}); got != want {
			t.Errorf("OptedIn(%q) = %v", v, got)
		}
	}
	if OptedIn(nil) {
		t.Error("OptedIn(nil) = true")
	}
}

func TestLongValuesAreShortened(t *testing.T) {
	long := strings.Repeat("x", 500)
	_, _, err := Parse(withInject("role", long))
	if err == nil || strings.Contains(err.Error(), long) || !strings.Contains(err.Error(), "…") {
		t.Errorf("long value not shortened: %v", err)
	}
}

// compat-<name> reaches the secret with a template, and is ignored, with a warning, without.
func TestCompatNeedsTemplate(t *testing.T) {
	opts, warnings, err := Parse(withInject("secret-a", "kv/a", "template-a", "{{ .Data.x }}", "compat-a", "vault-agent",
		"secret-b", "kv/b", "compat-b", "vault-agent-strict"))
	if err != nil {
		t.Fatal(err)
	}
	if opts.Secrets[0].Compat != contract.CompatVaultAgent || opts.Secrets[1].Compat != "" {
		t.Errorf("compat: %q, %q", opts.Secrets[0].Compat, opts.Secrets[1].Compat)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "compat-b is ignored") {
		t.Errorf("warnings %q", warnings)
	}
}
