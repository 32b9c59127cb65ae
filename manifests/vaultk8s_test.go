package manifests

import (
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
)

// TestHelmVaultK8sSwitch: acceptVaultK8sAnnotations turns the flag and the vault-k8s opt-in
// clause of the matchConditions on and off together (on by default, as in the base).
func TestHelmVaultK8sSwitch(t *testing.T) {
	for _, on := range []bool{true, false} {
		objs := decode(t, renderChart(t, name, ns, map[string]any{"acceptVaultK8sAnnotations": on}))
		mwc := find[*admissionregistrationv1.MutatingWebhookConfiguration](t, objs, "MutatingWebhookConfiguration", name)
		expr := mwc.Webhooks[0].MatchConditions[0].Expression
		if got := strings.Contains(expr, "'vault.hashicorp.com/agent-inject'"); got != on {
			t.Errorf("acceptVaultK8sAnnotations=%v: the matchCondition matches vault-k8s pods: %v (%s)", on, got, expr)
		}
		d := find[*appsv1.Deployment](t, objs, "Deployment", name)
		want := "--accept-vault-k8s-annotations=false"
		if on {
			want = "--accept-vault-k8s-annotations=true"
		}
		if !contains(d.Spec.Template.Spec.Containers[0].Args, want) {
			t.Errorf("acceptVaultK8sAnnotations=%v: args %v lack %s", on, d.Spec.Template.Spec.Containers[0].Args, want)
		}
	}
}
