package manifests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/kubetest"
	"github.com/vault-injector/vault-injector/test/wait"
)

const protectName = "vault-injector-protect-annotations"

// TestProtectPolicyInEveryFlavour requires the ValidatingAdmissionPolicy and its binding, with
// the same spec, in the kustomize base, the cert-manager overlay and the Helm chart (both TLS
// modes).
func TestProtectPolicyInEveryFlavour(t *testing.T) {
	want := protectObjects(t, kustomize(t, "base"))
	for what, b := range map[string][]byte{
		"kustomize cert-manager": kustomize(t, "overlays/cert-manager"),
		"kustomize dev":          kustomize(t, "overlays/dev"),
		"helm self-managed":      renderChart(t, name, ns, nil),
		"helm cert-manager":      renderChart(t, name, ns, map[string]any{"tls": map[string]any{"mode": "cert-manager"}}),
	} {
		got := protectObjects(t, b)
		if a, b := squash(t, got.policy.Spec, got.binding.Spec), squash(t, want.policy.Spec, want.binding.Spec); a != b {
			t.Errorf("%s: the policy or its binding differs from the kustomize base's:\n%s\nbase:\n%s", what, a, b)
		}
	}
	other := protectObjects(t, renderChart(t, "other", "apps", nil))
	if other.binding.Spec.PolicyName != other.policy.Name || other.policy.Name == protectName {
		t.Errorf("helm release other: binding %q for policy %q", other.binding.Spec.PolicyName, other.policy.Name)
	}
}

// squash is v as JSON with every run of white space made one space: kustomize re-folds the
// multi-line CEL expressions, which changes nothing else.
func squash(t *testing.T, v ...any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(string(b), `\n`, " ")), " ")
}

type protect struct {
	policy  *admissionregistrationv1.ValidatingAdmissionPolicy
	binding *admissionregistrationv1.ValidatingAdmissionPolicyBinding
	raw     [][]byte
}

func protectObjects(t *testing.T, b []byte) protect {
	t.Helper()
	var p protect
	for _, o := range decode(t, b) {
		switch typed := o.Typed.(type) {
		case *admissionregistrationv1.ValidatingAdmissionPolicy:
			p.policy = typed
			p.raw = append(p.raw, o.Raw)
		case *admissionregistrationv1.ValidatingAdmissionPolicyBinding:
			p.binding = typed
			p.raw = append(p.raw, o.Raw)
		}
	}
	if p.policy == nil || p.binding == nil || p.binding.Spec.PolicyName != p.policy.Name {
		t.Fatalf("want a ValidatingAdmissionPolicy and its binding, got %+v", p)
	}
	return p
}

// TestProtectPolicyOnRealAPIServer applies the shipped policy to a real kube-apiserver and
// changes an injected pod's annotations every way a user could: changing or removing
// agent-config or status is refused with the policy's message; everything else is not.
func TestProtectPolicyOnRealAPIServer(t *testing.T) {
	c := kubetest.Start(t)
	p := protectObjects(t, kustomize(t, "base"))
	kubectl(t, c, bytes.Join(p.raw, []byte("\n---\n")), "apply", "--server-side", "--field-manager=install-test", "-f", "-")
	kubectl(t, c, nil, "create", "namespace", "apps")
	ctx := context.Background()
	pods := c.Client.CoreV1().Pods("apps")
	newPod := func(name string, annotations map[string]string) {
		t.Helper()
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}},
		}
		if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	injected := map[string]string{
		contract.AnnotationStatus: contract.StatusInjected, contract.AnnotationAgentConfig: `{"version":1}`, "team": "a",
	}
	newPod("injected", injected)
	newPod("plain", map[string]string{"team": "a"})
	// Each way to update a pod: the object itself and every subresource that takes a whole Pod.
	through := map[string]func(context.Context, *corev1.Pod, metav1.UpdateOptions) (*corev1.Pod, error){
		"pods": pods.Update, "pods/status": pods.UpdateStatus,
		"pods/ephemeralcontainers": func(ctx context.Context, p *corev1.Pod, o metav1.UpdateOptions) (*corev1.Pod, error) {
			return pods.UpdateEphemeralContainers(ctx, p.Name, p, o)
		},
		"pods/resize": func(ctx context.Context, p *corev1.Pod, o metav1.UpdateOptions) (*corev1.Pod, error) {
			return pods.UpdateResize(ctx, p.Name, p, o)
		},
	}
	updateThrough := func(resource, pod string, dryRun bool, change func(*corev1.Pod)) error {
		got, err := pods.Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		change(got)
		opts := metav1.UpdateOptions{}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		_, err = through[resource](ctx, got, opts)
		return err
	}
	update := func(pod string, dryRun bool, change func(*corev1.Pod)) error {
		return updateThrough("pods", pod, dryRun, change)
	}
	del := func(keys ...string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			for _, k := range keys {
				delete(p.Annotations, k)
			}
		}
	}
	set := func(k, v string) func(*corev1.Pod) { return func(p *corev1.Pod) { p.Annotations[k] = v } }
	// The API server enforces a new policy once it has loaded and type-checked it; probe with
	// dry runs so nothing changes while it does not yet.
	wait.Until(t, time.Minute, func() error {
		if err := update("injected", true, del(contract.AnnotationStatus)); !apierrors.IsForbidden(err) {
			return fmt.Errorf("removing the status annotation is not refused yet: %v", err)
		}
		return nil
	})
	const refused = "of an injected pod cannot be changed or removed"
	for _, tt := range []struct {
		name   string
		pod    string
		change func(*corev1.Pod)
		want   string // "" = allowed
	}{
		{"change agent-config", "injected", set(contract.AnnotationAgentConfig, `{"version":1,"secrets":[]}`), contract.AnnotationAgentConfig + " " + refused},
		{"remove agent-config", "injected", del(contract.AnnotationAgentConfig), contract.AnnotationAgentConfig + " " + refused},
		{"change status", "injected", set(contract.AnnotationStatus, "no"), contract.AnnotationStatus + " " + refused},
		{"remove status", "injected", del(contract.AnnotationStatus), contract.AnnotationStatus + " " + refused},
		{"remove every annotation", "injected", func(p *corev1.Pod) { p.Annotations = nil },
			contract.AnnotationAgentConfig + " and " + contract.AnnotationStatus + " " + refused},
		{"change another annotation", "injected", set("team", "b"), ""},
		{"add a label", "injected", func(p *corev1.Pod) { p.Labels = map[string]string{"x": "y"} }, ""},
		{"add ours to a pod that was not injected", "plain", set(contract.AnnotationAgentConfig, "{}"), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := update(tt.pod, false, tt.change)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want Forbidden with %q, got %v", tt.want, err)
			}
		})
	}
	// A holder of pods/status repointed a pod's Vault address and removed its status annotation
	// through the subresource, which the policy did not match. Through every subresource, the
	// change is refused by the policy, or dropped by the API server (which keeps the object's
	// metadata for some of them): either way the annotations stay as the webhook wrote them.
	for resource := range through {
		for what, change := range map[string]func(*corev1.Pod){
			"change agent-config": set(contract.AnnotationAgentConfig, `{"version":1,"vault":{"address":"https://evil:8200"}}`),
			"remove status":       del(contract.AnnotationStatus),
		} {
			t.Run(what+" through "+resource, func(t *testing.T) {
				err := updateThrough(resource, "injected", false, change)
				t.Logf("through %s: %v", resource, err)
				if resource == "pods/status" && (!apierrors.IsForbidden(err) || !strings.Contains(err.Error(), refused)) {
					t.Errorf("want Forbidden with %q, got %v", refused, err)
				}
				got, gerr := pods.Get(ctx, "injected", metav1.GetOptions{})
				if gerr != nil || got.Annotations[contract.AnnotationStatus] != contract.StatusInjected || got.Annotations[contract.AnnotationAgentConfig] != `{"version":1}` {
					t.Fatalf("annotations changed through %s: %v %v", resource, got.Annotations, gerr)
				}
			})
		}
	}
	t.Run("kubectl annotate", func(t *testing.T) {
		_, _, err := c.Kubectl(nil, "-n", "apps", "annotate", "pod", "injected", contract.AnnotationAgentConfig+"-")
		var kerr *kubetest.Error
		if !errors.As(err, &kerr) || !strings.Contains(kerr.Stderr, "ValidatingAdmissionPolicy '"+protectName+"'") ||
			!strings.Contains(kerr.Stderr, refused) {
			t.Fatalf("kubectl annotate was not refused by the policy: %v", err)
		}
	})
	got, err := pods.Get(ctx, "injected", metav1.GetOptions{})
	if err != nil || got.Annotations[contract.AnnotationStatus] != contract.StatusInjected || got.Annotations[contract.AnnotationAgentConfig] != `{"version":1}` {
		t.Errorf("annotations changed: %v %v", got.Annotations, err)
	}
	if err := pods.Delete(ctx, "injected", metav1.DeleteOptions{}); err != nil {
		t.Errorf("deleting an injected pod: %v", err)
	}
}
