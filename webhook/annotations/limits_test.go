package annotations

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/contract"
)

func nestedIfs(n int) string {
	return strings.Repeat("{{if .}}", n) + "x" + strings.Repeat("{{end}}", n)
}

// TestAdmissionLimits covers the inputs refused for what they would cost or break: each case
// names the annotation, says what is wrong with the value and what is accepted.
func TestAdmissionLimits(t *testing.T) {
	manySecrets := []string{}
	for i := range MaxSecrets + 1 {
		manySecrets = append(manySecrets, fmt.Sprintf("secret-s%03d", i), "kv/s")
	}
	tests := []struct {
		name    string
		kv      []string
		key     string // the annotation the message must name
		wantErr []string
	}{
		{"template at the size limit", []string{"template-db", strings.Repeat("x", MaxTemplateBytes)}, "", nil},
		{"template over the size limit", []string{"template-db", strings.Repeat("x", MaxTemplateBytes+1)},
			"template-db", []string{"65537 bytes, over the limit of 65536 bytes"}},
		{"template at the depth limit", []string{"template-db", nestedIfs(MaxTemplateDepth)}, "", nil},
		{"template over the depth limit", []string{"template-db", nestedIfs(MaxTemplateDepth + 1)},
			"template-db", []string{"nests 33 levels deep", "limit of 32"}},
		{"deep ranges and withs", []string{"template-db", strings.Repeat("{{range .}}{{with .}}", 17) + strings.Repeat("{{end}}{{end}}", 17)},
			"template-db", []string{"nests 34 levels"}},
		{"deep parentheses", []string{"template-db", "{{" + strings.Repeat("(", 40) + "." + strings.Repeat(")", 40) + "}}"},
			"template-db", []string{"nests 40 levels"}},
		{"the 190000-deep attack, refused by size", []string{"template-db", nestedIfs(190000)},
			"template-db", []string{"over the API server's limit of 262144 bytes", "template-db (2850030 bytes)"}},
		{"a deep attack within the size limit", []string{"template-db", nestedIfs(4000)},
			"template-db", []string{"nests 4000 levels"}},
		{"too many secrets", manySecrets, "secret-s099", []string{"at most 100 secrets"}},
		{"annotations over the API server's limit", []string{"role", strings.Repeat("r", MaxAnnotationsBytes)},
			"role", []string{"over the API server's limit of 262144 bytes", "shorten the largest: vault-injector.io/role (262166 bytes)"}},
		{"file with NUL", []string{"file-db", "db\x00.json"}, "file-db", []string{"control character U+0000"}},
		{"file with newline", []string{"file-db", "db\n.json"}, "file-db", []string{"control character U+000A"}},
		{"file with tab", []string{"file-db", "db\t.json"}, "file-db", []string{"control character U+0009"}},
		{"file with DEL", []string{"file-db", "db\x7f"}, "file-db", []string{"control character U+007F"}},
		{"file with C1 control", []string{"file-db", "db\u0085"}, "file-db", []string{"control character U+0085"}},
		{"file with right-to-left override", []string{"file-db", "cod\u202Egnp.sh"}, "file-db", []string{"bidirectional-text control U+202E"}},
		{"file with isolate", []string{"file-db", "a\u2066b"}, "file-db", []string{"bidirectional-text control U+2066"}},
		{"file with invalid UTF-8", []string{"file-db", "db\xff"}, "file-db", []string{"not valid UTF-8"}},
		{"file at 255 bytes", []string{"file-db", strings.Repeat("é", 127) + "x"}, "", nil},
		{"file over 255 bytes", []string{"file-db", strings.Repeat("é", 128)}, "file-db", []string{"256 bytes long: use at most 255 bytes"}},
		{"unicode file name", []string{"file-db", "données/clé.json"}, "", nil},
		{"file with zero-width space", []string{"file-db", "db\u200b.json"}, "file-db", []string{"invisible character U+200B"}},
		{"file with byte-order mark", []string{"file-db", "\ufeffdb.json"}, "file-db", []string{"invisible character U+FEFF"}},
		{"file with line separator", []string{"file-db", "db\u2028x"}, "file-db", []string{"invisible character U+2028"}},
		{"file with paragraph separator", []string{"file-db", "db\u2029x"}, "file-db", []string{"invisible character U+2029"}},
		{"file with soft hyphen", []string{"file-db", "pass\u00adword"}, "file-db", []string{"invisible character U+00AD"}},
		{"file with word joiner", []string{"file-db", "a\u2060b"}, "file-db", []string{"invisible character U+2060"}},
		{"secret at the agent's token", []string{"secret-tok", "auth/token/lookup-self"}, "secret-tok", []string{"is under auth/token/, which answers with the agent's own Vault token"}},
		{"namespaced token path", []string{"secret-tok", "team-a/auth/token/create"}, "secret-tok", []string{"is under auth/token/"}},
		{"template reading the agent's token", []string{"template-db", `{{ with secret "auth/token/lookup-self" }}{{ .Data.id }}{{ end }}`},
			"template-db", []string{`secret "auth/token/lookup-self" is under auth/token/`}},
		{"file is the secrets dir", []string{"file-db", "."}, "file-db", []string{`file path "." is the secrets directory itself`}},
		{"recursive template", []string{"template-db", `{{define "x"}}{{template "x" .}}{{end}}{{template "x" .}}`},
			"template-db", []string{`"x" calls "x"`, "recursion is refused"}},
		{"mutually recursive template", []string{"template-db", `{{define "a"}}{{template "b" .}}{{end}}{{define "b"}}{{if .}}{{template "a" .}}{{end}}{{end}}{{template "a" .}}`},
			"template-db", []string{`"a" calls "b" calls "a"`}},
	}
	for _, p := range []string{"/proc", "/proc/self", "/dev", "/dev/shm", "/sys", "/sys/fs", "/etc", "/usr", "/var", "/var/run", "/run", "/tmp",
		"/var/run/secrets", "/var/run/secrets/kubernetes.io", "/var/run/secrets/kubernetes.io/serviceaccount",
		"/var/run/secrets/kubernetes.io/serviceaccount/x", "/run/secrets/kubernetes.io/serviceaccount"} {
		tests = append(tests, struct {
			name    string
			kv      []string
			key     string
			wantErr []string
		}{"volume-path " + p, []string{"volume-path", p}, "volume-path", []string{"use a directory of its own"}})
	}
	for _, p := range []string{"/etc/app/secrets", "/tmp/secrets", "/var/run/app", "/vault/secrets", "/devices", "/procfs/x"} {
		tests = append(tests, struct {
			name    string
			kv      []string
			key     string
			wantErr []string
		}{"volume-path " + p, []string{"volume-path", p}, "", nil})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kv := append([]string{"secret-db", "kv/db"}, tt.kv...)
			start := time.Now()
			_, _, err := Parse(withInject(kv...))
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Parse took %s", d)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want %q", tt.wantErr)
			}
			for _, w := range append([]string{contract.Prefix + tt.key}, tt.wantErr...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%.600s", w, err)
				}
			}
			if len(err.Error()) > 8<<10 {
				t.Errorf("message is %d bytes", len(err.Error()))
			}
		})
	}
}

func TestTemplateDepth(t *testing.T) {
	for tmpl, want := range map[string]int{
		"plain":                         0,
		"{{ .x }}":                      0,
		"{{if .}}{{else if .y}}{{end}}": 1,
		"{{- if .}}{{- range .}}{{end}}{{end -}}":                    2,
		`{{ "{{if" }}{{ "(((" }}`:                                    0,
		"{{ `{{with}}` }}{{ '(' }}":                                  0,
		"{{/* {{if}} */}}{{if .}}{{end}}":                            1,
		"{{ (index (index . 1) 2) }}":                                2,
		"{{define \"a\"}}{{with .}}{{end}}{{end}}{{template \"a\"}}": 2,
		"{{if":                1,
		`{{ "unterminated }}`: 0,
	} {
		if got := contract.TemplateDepth(tmpl, "", ""); got != want {
			t.Errorf("templateDepth(%q) = %d, want %d", tmpl, got, want)
		}
	}
}

// TestManyUnknownKeysStayCheap: thousands of long stray keys give a bounded set of warnings
// quickly (the edit distance is quadratic in the key's length).
func TestManyUnknownKeysStayCheap(t *testing.T) {
	a := withInject("secret-db", "kv/db")
	for i := range 2000 {
		a[fmt.Sprintf("%sx-%d-%s", contract.Prefix, i, strings.Repeat("k", 100))] = ""
	}
	start := time.Now()
	opts, warnings, err := Parse(a)
	if err != nil || len(opts.Unknown) != 2000 || len(warnings) != maxUnknownWarnings+1 {
		t.Fatalf("err %v, %d unknown, %d warnings", err, len(opts.Unknown), len(warnings))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Parse took %s", d)
	}
}
