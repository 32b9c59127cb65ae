package vaultk8s

import (
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

func vk(kv ...string) map[string]string {
	m := map[string]string{AnnotationInject: "true"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[Prefix+kv[i]] = kv[i+1]
	}
	return m
}

func TestTranslateDefaults(t *testing.T) {
	in := vk("role", "app", "agent-inject-secret-DB.txt", "secret/data/db")
	in["example.com/other"] = "x"
	r := Translate(in)
	if len(r.Problems) > 0 || len(r.Warnings) > 0 {
		t.Fatalf("problems %v warnings %v", r.Problems, r.Warnings)
	}
	want := map[string]string{
		contract.AnnotationInject:                    "true",
		contract.AnnotationRole:                      "app",
		contract.AnnotationSecretPrefix + "db.txt":   "secret/data/db",
		contract.AnnotationTemplatePrefix + "db.txt": "{{ with secret \"secret/data/db\" }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}",
		contract.AnnotationPermsPrefix + "db.txt":    "0644",
		contract.AnnotationCompatPrefix + "db.txt":   contract.CompatVaultAgent,
		contract.AnnotationVolumeReadWrite:           "true", // vault-k8s mounts the secrets read-write
	}
	for k, v := range want {
		if r.Annotations[k] != v {
			t.Errorf("%s = %q, want %q", k, r.Annotations[k], v)
		}
	}
	for k := range r.Annotations {
		if strings.HasPrefix(k, Prefix) {
			t.Errorf("%s survived the translation", k)
		}
	}
	if r.Annotations["example.com/other"] != "x" || len(r.Annotations) != len(want)+1 {
		t.Errorf("got %d annotations, want %d: %v", len(r.Annotations), len(want), r.Annotations)
	}
}

func TestTranslateValues(t *testing.T) {
	cases := []struct {
		name    string
		in      map[string]string
		key     string
		want    string
		problem string // substring of the one problem, if refused
		warning string // substring of a warning
	}{
		{"json default", vk("agent-inject-default-template", "JSON", "agent-inject-secret-a", "kv/a"),
			contract.AnnotationTemplatePrefix + "a", "{{ with secret \"kv/a\" }}{{ .Data | toJSON }}\n{{ end }}", "", ""},
		{"bad default template", vk("agent-inject-default-template", "yaml", "agent-inject-secret-a", "kv/a"), "", "", `"map" or "json"`, ""},
		{"file under the volume", vk("agent-inject-secret-a", "kv/a", "agent-inject-file-a", "/x/../y/a.txt"),
			contract.AnnotationFilePrefix + "a", "y/a.txt", "", ""},
		{"perms", vk("agent-inject-secret-a", "kv/a", "agent-inject-perms-a", "0400"), contract.AnnotationPermsPrefix + "a", "0400", "", ""},
		{"case kept pod-wide", vk("preserve-secret-case", "true", "agent-inject-secret-Aa", "kv/a"), contract.AnnotationSecretPrefix + "Aa", "kv/a", "", ""},
		{"case kept per secret", vk("preserve-secret-case-Aa", "true", "agent-inject-secret-Aa", "kv/a"), contract.AnnotationSecretPrefix + "Aa", "kv/a", "", ""},
		{"same name once lower-cased", vk("agent-inject-secret-A", "kv/a", "agent-inject-secret-a", "kv/b"), "", "", "same file", ""},
		{"same name, template only", vk("agent-inject-secret-A", "kv/a", "agent-inject-template-a", `{{ with secret "kv/b" }}{{ end }}`), "", "", "same file", ""},
		{"pre-populate-only", vk("agent-pre-populate-only", "true"), contract.AnnotationMode, contract.ModeInitOnly, "", ""},
		{"pre-populate-only false", vk("agent-pre-populate-only", "false"), contract.AnnotationMode, "", "", ""},
		{"bad bool", vk("agent-pre-populate-only", "yes please"), "", "", "true or false", ""},
		{"resources", vk("agent-limits-mem", "96Mi"), contract.AnnotationAgentMemoryLimit, "96Mi", "", ""},
		{"render interval", vk("template-static-secret-render-interval", "1m"), contract.AnnotationRefresh, "1m", "", ""},
		{"volume path", vk("secret-volume-path", "/etc/app"), contract.AnnotationVolumePath, "/etc/app", "", ""},
		{"per-secret volume path, same", vk("secret-volume-path", "/etc/app", "agent-inject-secret-a", "kv/a", "secret-volume-path-a", "/etc/app/"), contract.AnnotationSecretPrefix + "a", "kv/a", "", ""},
		{"containers with init containers", vk("agent-inject-containers", "app"), contract.AnnotationContainersIncludeInit, "true", "", ""},
		{"containers without an init agent", vk("agent-inject-containers", "app", "agent-pre-populate", "false"), contract.AnnotationContainersIncludeInit, "", "", "no mode in which the app starts first"},
		{"per-secret volume path, other", vk("agent-inject-secret-a", "kv/a", "secret-volume-path-a", "/etc/other/"), contract.AnnotationVolumePathPrefix + "a", "/etc/other", "", ""},
		{"namespace", vk("namespace", "team-a"), contract.AnnotationNamespace, "team-a", "", ""},
		{"tls", vk("tls-secret", "vault-tls", "ca-cert", "/vault/tls/ca.crt"), contract.AnnotationTLSSecret, "vault-tls", "", ""},
		{"ca-cert any key", vk("tls-secret", "vault-tls", "ca-cert", "/vault/tls/ca.pem"), contract.AnnotationTLSCAFile, "ca.pem", "", ""},
		{"client-cert any key", vk("tls-secret", "vault-tls", "client-cert", "/vault/tls/client.crt"), contract.AnnotationTLSClientCertFile, "client.crt", "", ""},
		{"client-key any key", vk("tls-secret", "vault-tls", "client-key", "/vault/tls/client.key"), contract.AnnotationTLSClientKeyFile, "client.key", "", ""},
		{"ca-cert outside the mount", vk("tls-secret", "vault-tls", "ca-cert", "/etc/ssl/ca.pem"), "", "", "name a key of that Secret, such as /vault/tls/ca.crt", ""},
		{"ca-cert in a subdirectory", vk("tls-secret", "vault-tls", "ca-cert", "/vault/tls/sub/ca.pem"), "", "", "set tls-secret and name a key", ""},
		{"ca-cert without tls-secret", vk("ca-cert", "/vault/tls/ca.crt"), "", "", "set tls-secret", ""},
		{"ca-key file", vk("tls-secret", "vault-tls", "ca-key", "/vault/tls/bundle.pem"), contract.AnnotationTLSCAFile, "bundle.pem", "", ""},
		{"ca-key directory", vk("tls-secret", "vault-tls", "ca-key", "/vault/tls/"), "", "", "a directory of CA certificates is not supported", ""},
		{"ca-key beside ca-cert", vk("tls-secret", "vault-tls", "ca-cert", "/vault/tls/ca.pem", "ca-key", "/vault/tls/b.pem"), contract.AnnotationTLSCAFile, "ca.pem", "", "Vault's client reads only ca-cert"},
		{"tls-server-name", vk("tls-server-name", "vault.internal"), contract.AnnotationTLSServerName, "vault.internal", "", ""},
		{"service", vk("service", "https://vault:8200"), contract.AnnotationVaultAddress, "https://vault:8200", "", ""},
		{"auth-type jwt", vk("auth-type", "jwt"), contract.AnnotationAuthType, "jwt", "", ""},
		{"auth-type approle", vk("auth-type", "approle"), "", "", "kubernetes or jwt", ""},
		{"command", vk("agent-inject-secret-a", "kv/a", "agent-inject-command-a", "pkill -HUP app"), "", "", "reload-http", ""},
		{"template file", vk("agent-inject-template-file-a", "/etc/t/a.tmpl"), contract.AnnotationTemplateFilePrefix + "a", "/etc/t/a.tmpl", "", ""},
		{"template file, compat", vk("agent-inject-template-file-a", "/etc/t/a.tmpl"), contract.AnnotationCompatPrefix + "a", contract.CompatVaultAgent, "", ""},
		{"template file, no template written", vk("agent-inject-template-file-a", "/etc/t/a.tmpl"), contract.AnnotationTemplatePrefix + "a", "", "", ""},
		{"template file with a secret", vk("agent-inject-secret-a", "kv/a", "agent-inject-template-file-a", "/etc/t/a.tmpl"), contract.AnnotationSecretPrefix + "a", "kv/a", "", ""},
		{"template file, delimiters", vk("agent-inject-template-file-a", "/etc/t/a.tmpl", "agent-template-left-delim-a", "[["), contract.AnnotationLeftDelimPrefix + "a", "[[", "", ""},
		{"template file, strict", vk("agent-inject-template-file-a", "/etc/t/a.tmpl", "error-on-missing-key-a", "true"), contract.AnnotationCompatPrefix + "a", contract.CompatVaultAgentStrict, "", ""},
		{"template wins over template file", vk("agent-inject-template-file-a", "/etc/t/a.tmpl", "agent-inject-template-a", "static"), contract.AnnotationTemplatePrefix + "a", "static", "", "vault-k8s renders that template, ignoring the file"},
		{"template file ignored beside a template", vk("agent-inject-template-file-a", "/etc/t/a.tmpl", "agent-inject-template-a", "static"), contract.AnnotationTemplateFilePrefix + "a", "", "", "ignoring the file"},
		{"empty template file", vk("agent-inject-template-file-a", " "), "", "", "", "empty"},
		{"delimiters", vk("agent-inject-secret-a", "kv/a", "agent-template-left-delim-a", "[["), contract.AnnotationLeftDelimPrefix + "a", "[[", "", ""},
		{"template only", vk("agent-inject-template-t", `{{ with secret "kv/x" }}{{ .Data.a }}{{ end }}`), contract.AnnotationSecretPrefix + "t", "kv/x", "", ""},
		{"template only, static", vk("agent-inject-template-t", `static`), contract.AnnotationTemplatePrefix + "t", "static", "", ""},
		{"template only, reads its dot", vk("agent-inject-template-t", `{{ .Data.x }}`), "", "", "calls no secret", ""},
		{"refused function", vk("agent-inject-secret-a", "kv/a", "agent-inject-template-a", `{{ with secret "kv/a" }}{{ env "HOME" }}{{ sprig_upper "x" }}{{ end }}`), "", "", "calls env", ""},
		{"pkiCert, template only", vk("agent-inject-template-a", `{{ with pkiCert "pki/issue/r" "common_name=a" }}{{ .Cert }}{{ end }}`), contract.AnnotationSecretPrefix + "a", "pki/issue/r", "", ""},
		{"Consul function", vk("agent-inject-secret-a", "kv/a", "agent-inject-template-a", `{{ key "service/x" }}`), "", "", "not Consul", ""},
		{"status", vk("agent-inject-status", "update"), "", "", "", "injects a pod once"},
		{"companion without secret", vk("agent-inject-file-a", "a.txt"), "", "", "", "no agent-inject-secret-a"},
		{"empty secret", vk("agent-inject-secret-a", ""), "", "", "", "empty"},
		{"unknown", vk("agent-inejct-secret-a", "kv/a"), "", "", "", "no such annotation"},
		{"missing key false", vk("agent-inject-secret-a", "kv/a", "error-on-missing-key-a", "false"), contract.AnnotationCompatPrefix + "a", contract.CompatVaultAgent, "", ""},
		{"missing key true", vk("agent-inject-secret-a", "kv/a", "error-on-missing-key-a", "true"), contract.AnnotationCompatPrefix + "a", contract.CompatVaultAgentStrict, "", ""},
		{"pre-populate false", vk("agent-pre-populate", "false"), "", "", "", "native sidecar"},
		{"cache off", vk("agent-cache-enable", "false"), "", "", "", "no cache"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Translate(c.in)
			if len(r.Verdicts) != countPrefixed(c.in) {
				t.Errorf("%d verdicts for %d keys", len(r.Verdicts), countPrefixed(c.in))
			}
			if c.problem != "" {
				if !strings.Contains(strings.Join(r.Problems, "\n"), c.problem) || r.Annotations != nil {
					t.Fatalf("problems %q, want one with %q", r.Problems, c.problem)
				}
				return
			}
			if len(r.Problems) > 0 {
				t.Fatalf("refused: %v", r.Problems)
			}
			if c.key != "" && r.Annotations[c.key] != c.want {
				t.Errorf("%s = %q, want %q", c.key, r.Annotations[c.key], c.want)
			}
			if c.warning != "" && !strings.Contains(strings.Join(r.Warnings, "\n"), c.warning) {
				t.Errorf("warnings %q lack %q", r.Warnings, c.warning)
			}
			if c.warning == "" && len(r.Warnings) > 0 {
				t.Errorf("unexpected warnings %q", r.Warnings)
			}
		})
	}
}

func countPrefixed(m map[string]string) int {
	n := 0
	for k := range m {
		if strings.HasPrefix(k, Prefix) {
			n++
		}
	}
	return n
}

func TestRefusedFunctionsAreNamed(t *testing.T) {
	msgs := checkFuncs(`{{ with secret "kv/a" }}{{ env "HOME" }}{{ file "/x" | sprig_upper }}{{ (secret "kv/b").Data.x | toJSON }}{{ end }}`, "", "")
	want := []string{"calls env", "calls file", "calls sprig_upper"}
	if len(msgs) != len(want) {
		t.Fatalf("messages %q", msgs)
	}
	for i, w := range want {
		if !strings.Contains(msgs[i], w) {
			t.Errorf("message %q lacks %q", msgs[i], w)
		}
	}
}

func TestMixedDialectsRefused(t *testing.T) {
	in := vk("agent-inject-secret-a", "kv/a")
	in[contract.AnnotationSecretPrefix+"b"] = "kv/b"
	in[contract.AnnotationStatus] = contract.StatusInjected // ours, written by the webhook: no conflict by itself
	r := Translate(in)
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], contract.AnnotationSecretPrefix+"b") || strings.Contains(r.Problems[0], contract.AnnotationStatus) {
		t.Fatalf("problems %q", r.Problems)
	}
	for k := range in {
		if strings.HasPrefix(k, Prefix) && r.Verdicts[k] != Refused {
			t.Errorf("%s: verdict %q", k, r.Verdicts[k])
		}
	}
}

func TestAlreadyInjected(t *testing.T) {
	if r := Translate(vk("agent-inject-status", "injected")); !r.AlreadyInjected {
		t.Error("a pod vault-k8s injected is not recognised")
	}
}

// Every table entry has a verdict for any value: nothing is silently ignored.
func TestEveryKnownKeyHasAVerdict(t *testing.T) {
	for name := range podKeys {
		for _, v := range []string{"true", "false", "x", ""} {
			r := Translate(map[string]string{Prefix + name: v})
			if _, ok := r.Verdicts[Prefix+name]; !ok {
				t.Errorf("%s=%q: no verdict", name, v)
			}
		}
	}
	for _, p := range secretPrefixes {
		for _, v := range []string{"true", "false", "kv/a", ""} {
			r := Translate(map[string]string{Prefix + p.prefix + "s": v})
			if _, ok := r.Verdicts[Prefix+p.prefix+"s"]; !ok {
				t.Errorf("%ss=%q: no verdict", p.prefix, v)
			}
		}
	}
}

func FuzzTranslate(f *testing.F) {
	f.Add("agent-inject-secret-a", "kv/a", "agent-inject-template-a", `{{ with secret "kv/a" }}{{ .Data }}{{ end }}`)
	f.Add("preserve-secret-case", "true", "agent-inject-file-A", "/a")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		in := map[string]string{Prefix + k1: v1, Prefix + k2: v2}
		r := Translate(in)
		if len(r.Verdicts) != len(in) {
			t.Fatalf("%d verdicts for %d keys", len(r.Verdicts), len(in))
		}
		if (r.Annotations == nil) != (len(r.Problems) > 0) {
			t.Fatal("annotations and problems disagree")
		}
	})
}

// TestOrigins: every key written names the vault.hashicorp.com keys it comes from, for
// messages that must name what the user wrote.
func TestOrigins(t *testing.T) {
	tr := Translate(map[string]string{
		AnnotationInject: "true", Prefix + "role": "app",
		Prefix + "agent-inject-secret-DB": "secret/data/db", Prefix + "agent-inject-file-DB": "db.env",
		"app.example.com/x": "y",
	})
	for k, want := range map[string]string{
		contract.AnnotationRole:                Prefix + "role",
		contract.AnnotationSecretPrefix + "db": Prefix + "agent-inject-file-DB," + Prefix + "agent-inject-secret-DB",
		contract.AnnotationFilePrefix + "db":   Prefix + "agent-inject-file-DB," + Prefix + "agent-inject-secret-DB",
		contract.AnnotationCompatPrefix + "db": Prefix + "agent-inject-file-DB," + Prefix + "agent-inject-secret-DB",
	} {
		if got := strings.Join(tr.Origins[k], ","); got != want {
			t.Errorf("%s comes from %q, want %q", k, got, want)
		}
	}
	if _, ok := tr.Origins["app.example.com/x"]; ok {
		t.Error("a key that was not translated has an origin")
	}
}
