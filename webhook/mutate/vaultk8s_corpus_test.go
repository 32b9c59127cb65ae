package mutate_test

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/webhook/mutate"
	"github.com/vault-injector/vault-injector/webhook/vaultk8s"
)

// corpusResult is what a vault-k8s pod gets from the core, as its golden records it.
type corpusResult struct {
	Refused    string            `json:"refused,omitempty"`
	Skipped    string            `json:"skipped,omitempty"`
	Warnings   []string          `json:"warnings,omitempty"`
	Translated map[string]string `json:"translated,omitempty"` // the vault-injector.io annotations parsed
	Shape      string            `json:"shape,omitempty"`
	Secrets    []contract.Secret `json:"secrets,omitempty"` // the agent's config, from the patched pod
}

// TestVaultK8sCorpus runs pods annotated as vault-k8s' documentation shows through the same
// core as the webhook (translate, parse, plan, patch), compares the outcome with
// testdata/vault-k8s/<case>.golden.yaml, holds every injected pod to the patch oracle and a
// second pass, and checks with an independent oracle that every vault.hashicorp.com key is
// accounted for: translated (its value visible in our annotations), warned or refused (named
// in a warning or in the refusal).
func TestVaultK8sCorpus(t *testing.T) {
	if cases := eachCase(t, "testdata/vault-k8s/*.yaml", checkCorpusCase); cases < 12 {
		t.Errorf("only %d vault-k8s cases", cases)
	}
}

func checkCorpusCase(t *testing.T, in string) {
	src, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	d := defaultsFromHeader(t, src)
	raw, err := yaml.YAMLToJSON(src)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := corpusOutcome(t, raw, d)
	got, err := yaml.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, strings.TrimSuffix(in, ".yaml")+".golden.yaml", got)
}

// corpusOutcome runs a vault-k8s pod (raw JSON) through the core as admission does, holds an
// injected pod to the patch oracle and a second pass, checks that every vault.hashicorp.com key
// is accounted for, and returns the outcome with the patched pod (nil unless injected).
func corpusOutcome(t *testing.T, raw []byte, d mutate.Defaults) (corpusResult, []byte) {
	t.Helper()
	pod, err := mutate.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	tr := vaultk8s.Translate(pod.Annotations)
	var out corpusResult
	var patched []byte
	res, err := mutate.Pod(pod, d)
	out.Warnings = res.Warnings
	switch {
	case err != nil:
		out.Refused = err.Error()
	case res.Skipped != "":
		out.Skipped = string(res.Skipped)
	default:
		_, patched = inject(t, raw, d) // the patch oracle and determinism
		out.Shape = string(res.Shape)
		out.Secrets = agentSecrets(t, patched)
		secondPass(t, patched, d)
	}
	if tr.Annotations != nil {
		out.Translated = map[string]string{}
		for k, v := range tr.Annotations {
			if strings.HasPrefix(k, contract.Prefix) {
				out.Translated[k] = v
			}
		}
	}
	accounted(t, pod.Annotations, tr, out)
	return out, patched
}

func agentSecrets(t *testing.T, patched []byte) []contract.Secret {
	t.Helper()
	var pod corev1.Pod
	if err := json.Unmarshal(patched, &pod); err != nil {
		t.Fatal(err)
	}
	cfg, err := contract.Parse([]byte(pod.Annotations[contract.AnnotationAgentConfig]))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Secrets
}

// directKeys are vault-k8s keys whose value must reach one vault-injector.io key unchanged;
// written from vault-k8s' documentation, not from the translator's table.
var directKeys = map[string]string{
	"role": "role", "auth-path": "auth-path", "agent-inject-containers": "containers",
	"secret-volume-path": "volume-path", "agent-requests-cpu": "agent-cpu-request",
	"agent-requests-mem": "agent-memory-request", "agent-limits-cpu": "agent-cpu-limit",
	"agent-limits-mem": "agent-memory-limit", "template-static-secret-render-interval": "refresh",
}

// accounted is the independent oracle: every vault.hashicorp.com key of the pod has a verdict,
// and the verdict shows in the outcome.
func accounted(t *testing.T, in map[string]string, tr vaultk8s.Result, out corpusResult) {
	t.Helper()
	said := strings.Join(out.Warnings, "\n") + "\n" + out.Refused
	var keys []string
	for k := range in {
		if strings.HasPrefix(k, vaultk8s.Prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(tr.Verdicts) != len(keys) {
		t.Errorf("%d verdicts for %d vault.hashicorp.com keys", len(tr.Verdicts), len(keys))
	}
	if out.Skipped != "" {
		return // the pod is left alone as a whole: nothing of it is used
	}
	for _, k := range keys {
		name := strings.TrimPrefix(k, vaultk8s.Prefix)
		switch tr.Verdicts[k] {
		case vaultk8s.Warned:
			if !strings.Contains(strings.Join(out.Warnings, "\n"), k) {
				t.Errorf("%s is warned about, but no warning names it", k)
			}
		case vaultk8s.Refused:
			if out.Refused == "" || !strings.Contains(said, k) && !strings.Contains(out.Refused, "mixes") {
				t.Errorf("%s is refused, but the refusal does not name it: %q", k, out.Refused)
			}
		case vaultk8s.Translated:
			if out.Refused != "" {
				continue // the pod is refused for another key
			}
			if ours, ok := directKeys[name]; ok && out.Translated[contract.Prefix+ours] != in[k] {
				t.Errorf("%s=%q did not reach %s%s", k, in[k], contract.Prefix, ours)
			}
			if raw, ok := strings.CutPrefix(name, "agent-inject-secret-"); ok && !hasValue(out.Translated, contract.AnnotationSecretPrefix, raw, in[k]) {
				t.Errorf("%s=%q: no secret-%s with that path", k, in[k], raw)
			}
			if raw, ok := strings.CutPrefix(name, "agent-inject-template-"); ok && !hasValue(out.Translated, contract.AnnotationTemplatePrefix, raw, in[k]) {
				t.Errorf("%s: no template-%s with that template", k, raw)
			}
		default:
			t.Errorf("%s has no verdict: silently ignored", k)
		}
	}
}

// hasValue: some prefix+<raw, any case> key has value v.
func hasValue(m map[string]string, prefix, raw, v string) bool {
	for k, got := range m {
		if n, ok := strings.CutPrefix(k, prefix); ok && strings.EqualFold(n, raw) && got == v {
			return true
		}
	}
	return false
}
