package preview

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/webhook/config"
)

// TestPreviewTable runs manifests through Inject (the `webhook inject` command's core) and
// checks what it writes and warns about.
func TestPreviewTable(t *testing.T) {
	const pod = `{apiVersion: v1, kind: Pod, metadata: {name: p, annotations: {vault-injector.io/inject: "true", vault-injector.io/role: r, vault-injector.io/secret-a: kv/a}}, spec: {containers: [{name: app, image: app}]}}`
	tests := []struct {
		name     string
		in       string
		out      []string // substrings of the output
		docs     int      // YAML documents written
		warnings []string
		errors   []string
	}{
		{"kind List is expanded", `
apiVersion: v1
kind: List
items:
- ` + pod + `
- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: d}
  spec: {template: {metadata: {annotations: {vault-injector.io/inject: "true", vault-injector.io/role: r, vault-injector.io/secret-b: kv/b}}, spec: {containers: [{name: app, image: app}]}}}
`, []string{"kind: Pod", "kind: ConfigMap", "kind: Deployment", "name: vault-agent"}, 3, nil, nil},
		{"annotations on the Deployment's own metadata", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, annotations: {vault-injector.io/inject: "true", vault-injector.io/secret-db: kv/db}}
spec: {template: {spec: {containers: [{name: app, image: app}]}}}
`, []string{"kind: Deployment"}, 1, []string{"vault-injector.io/inject, vault-injector.io/secret-db are on the Deployment's own metadata, where the webhook never sees them: move them to spec.template.metadata.annotations"}, nil},
		{"CronJob's own metadata", `
apiVersion: batch/v1
kind: CronJob
metadata: {name: c, annotations: {vault-injector.io/inject: "true"}}
spec: {jobTemplate: {spec: {template: {spec: {containers: [{name: app, image: app}]}}}}}
`, nil, 1, []string{"vault-injector.io/inject is on the CronJob's own metadata", "move it to spec.jobTemplate.spec.template.metadata.annotations"}, nil},
		{"inject True", strings.Replace(pod, `inject: "true"`, `inject: "True"`, 1), nil, 1,
			[]string{`Pod/p: vault-injector.io/inject="True" does not opt the pod in and the webhook ignores it: use "true"`}, nil},
		{"inject yes", strings.Replace(pod, `inject: "true"`, `inject: "yes"`, 1), nil, 1, []string{`"yes" does not opt the pod in`}, nil},
		{"inject 1", strings.Replace(pod, `inject: "true"`, `inject: "1"`, 1), nil, 1, []string{`"1" does not opt the pod in`}, nil},
		{"no secrets, typo", strings.Replace(pod, "secret-a", "secrets-a", 1), nil, 1, []string{"vault-injector.io/secrets-a is not a vault-injector annotation"},
			[]string{"no secret to inject", "did you mean vault-injector.io/secret-a?"}},
		{"installed defaults", pod, []string{"audience: vault", "sizeLimit: 4Mi", "image: vault-injector/agent:0.1.0"}, 1, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := config.New()
			cfg.Inject.VaultAddr = config.DefaultVaultAddr
			cfg.Inject.AgentImage = config.AgentImage("0.1.0")
			var out bytes.Buffer
			var res Result
			if err := Inject("in.yaml", strings.NewReader(tt.in), cfg.Inject, &out, &res); err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(out.String(), "\n---\n") + 1; n != tt.docs {
				t.Errorf("%d documents, want %d:\n%s", n, tt.docs, out.String())
			}
			for _, w := range tt.out {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			check := func(what string, got []string, want []string) {
				all := strings.Join(got, "\n")
				if len(want) == 0 && all != "" {
					t.Errorf("unexpected %s: %s", what, all)
				}
				for _, w := range want {
					if !strings.Contains(all, w) {
						t.Errorf("%s lack %q: %s", what, w, all)
					}
				}
			}
			check("warnings", res.Warnings, tt.warnings)
			var errs []string
			for _, e := range res.Errors {
				errs = append(errs, e.Error())
			}
			check("errors", errs, tt.errors)
		})
	}
}
