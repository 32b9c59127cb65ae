package patchcheck

import "encoding/json"

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
