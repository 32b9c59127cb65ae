package render

import (
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

// The webhook checks template syntax at admission with contract.TemplateFuncs; a function the
// agent offers but the list lacks would refuse valid pods, and the reverse would admit
// templates that fail in the pod.
func TestTemplateFuncsMatchContract(t *testing.T) {
	var offered []string
	for name := range funcs() {
		offered = append(offered, name)
	}
	sort.Strings(offered)
	listed := slices.Clone(contract.TemplateFuncs)
	sort.Strings(listed)
	if !slices.Equal(offered, listed) {
		t.Errorf("agent template functions %v differ from contract.TemplateFuncs %v", offered, listed)
	}
}

// TestWebhookConfigsLoad loads every agent config the webhook's golden run wrote to
// contract/testdata, as the agent does at start: a change on the webhook's side that the agent
// does not understand fails here.
func TestWebhookConfigsLoad(t *testing.T) {
	files, err := filepath.Glob("../../contract/testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 12 {
		t.Fatalf("%d configs in contract/testdata; run go test ./webhook/mutate -update", len(files))
	}
	for _, f := range files {
		cfg, err := contract.Load(f)
		if err != nil {
			t.Errorf("%s: the agent refuses it: %v", f, err)
			continue
		}
		if _, err := CompileAll(cfg.Secrets, WriteDir{Dir: cfg.SecretsDir}); err != nil {
			t.Errorf("%s: the agent cannot compile its secrets: %v", f, err)
		}
	}
}
