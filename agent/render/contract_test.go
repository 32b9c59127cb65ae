package render

import (
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
	for name := range funcs(nil) {
		offered = append(offered, name)
	}
	sort.Strings(offered)
	listed := slices.Clone(contract.TemplateFuncs)
	sort.Strings(listed)
	if !slices.Equal(offered, listed) {
		t.Errorf("agent template functions %v differ from contract.TemplateFuncs %v", offered, listed)
	}
}
