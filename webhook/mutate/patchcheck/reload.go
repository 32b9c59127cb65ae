package patchcheck

import (
	"encoding/json"

	"github.com/vault-injector/vault-injector/contract"
)

// labels: every label as sent, plus the injected label (issue 13), which a PodMonitor selects.
func (c *checker) labels(before, after map[string]string) {
	for k, v := range before {
		if k == contract.LabelInjected && v != contract.LabelInjectedValue {
			continue // a stray value of our own label is set right
		}
		if after[k] != v {
			c.fail("label %s changed", k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok && k != contract.LabelInjected {
			c.fail("unexpected label %s added", k)
		}
	}
	if after[contract.LabelInjected] != contract.LabelInjectedValue {
		c.fail("label %s is %q, want %q", contract.LabelInjected, after[contract.LabelInjected], contract.LabelInjectedValue)
	}
}

// shareProcessNamespace may only be added, as true (reload-signal); a value sent stays.
func (c *checker) shareProcessNamespace(before, after json.RawMessage) {
	switch {
	case len(before) > 0:
		if !same(before, after) {
			c.fail("spec.shareProcessNamespace changed: sent %s, patched %s", before, after)
		}
	case len(after) > 0 && string(after) != "true":
		c.fail("spec.shareProcessNamespace added as %s; only true may be added", after)
	}
}
