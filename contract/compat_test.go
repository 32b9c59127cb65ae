package contract

import (
	"strings"
	"testing"
)

func TestSecretCompat(t *testing.T) {
	for compat, ok := range map[string]bool{"": true, CompatVaultAgent: true, "consul-template": false} {
		c := validConfig()
		c.Secrets[0].Compat = compat
		err := c.Validate()
		if ok != (err == nil) || !ok && !strings.Contains(err.Error(), CompatVaultAgent) {
			t.Errorf("compat %q: %v", compat, err)
		}
	}
}
