package mutate

import (
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

// TestPlainHTTPRefusedInAnyCase: "HTTP://" and "Http://" (and vault-k8s' service) were admitted
// without --allow-http-vault, and the agent logged in over plain HTTP. With the flag, the
// address reaches the agent config in its normal form.
func TestPlainHTTPRefusedInAnyCase(t *testing.T) {
	for _, addr := range []string{"http://vault:8200", "HTTP://vault:8200", "Http://vault:8200", "hTTp://vault:8200/"} {
		for _, ann := range []map[string]string{
			{contract.AnnotationVaultAddress: addr},
			{"vault.hashicorp.com/agent-inject": "true", "vault.hashicorp.com/role": "app",
				"vault.hashicorp.com/agent-inject-secret-db": "secret/data/db", "vault.hashicorp.com/service": addr},
		} {
			pod := testPod(ann, "app")
			if _, vk := ann["vault.hashicorp.com/service"]; vk {
				pod.Annotations = ann
			}
			d := testDefaults()
			_, err := Pod(pod, d)
			if err == nil || !strings.Contains(err.Error(), "refuses plain-HTTP Vault addresses") {
				t.Errorf("%v: err = %v, want the plain-HTTP refusal", ann, err)
			}
			d.AllowHTTPVault = true
			res, err := Pod(pod, d)
			if err != nil {
				t.Fatalf("%v with --allow-http-vault: %v", ann, err)
			}
			cfg, err := contract.Parse([]byte(applied(t, pod, res).Annotations[contract.AnnotationAgentConfig]))
			if err != nil || cfg.Vault.Address != "http://vault:8200" {
				t.Errorf("%v: agent address %q, %v; want http://vault:8200", ann, cfg.Vault.Address, err)
			}
		}
	}
}
