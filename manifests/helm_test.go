package manifests

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
)

// TestHelmMatchesKustomize renders the chart with its defaults as release "vault-injector" in
// namespace "vault-injector" and requires the same objects, with the same specs, as the
// kustomize base; and in cert-manager mode, as the cert-manager overlay. Labels may differ.
func TestHelmMatchesKustomize(t *testing.T) {
	for _, tc := range []struct {
		mode, overlay string
	}{{"self-managed", "base"}, {"cert-manager", "overlays/cert-manager"}} {
		t.Run(tc.mode, func(t *testing.T) {
			k := decode(t, kustomize(t, tc.overlay))
			h := decode(t, renderChart(t, name, ns, map[string]any{"tls": map[string]any{"mode": tc.mode}}))
			if kk, hk := keys(k, "Namespace"), keys(h); !slices.Equal(kk, hk) {
				t.Fatalf("kustomize renders %v\nhelm renders      %v", kk, hk)
			}
			same := func(kind string, spec func(o object) any) {
				t.Helper()
				for _, ko := range k {
					if ko.U.GetKind() != kind {
						continue
					}
					ho := h[slices.IndexFunc(h, func(o object) bool { return o.key() == ko.key() })]
					if a, b := spec(ko), spec(ho); !reflect.DeepEqual(a, b) {
						ay, _ := yaml.Marshal(a)
						by, _ := yaml.Marshal(b)
						t.Errorf("%s differs:\nkustomize:\n%s\nhelm:\n%s", ko.key(), ay, by)
					}
				}
			}
			same("Deployment", func(o object) any {
				d := o.Typed.(*appsv1.Deployment)
				return []any{d.Spec.Replicas, d.Spec.Selector, d.Spec.Strategy, d.Spec.Template}
			})
			same("Service", func(o object) any { return o.Typed.(*corev1.Service).Spec })
			same("PodDisruptionBudget", func(o object) any { return o.Typed.(*policyv1.PodDisruptionBudget).Spec })
			same("Role", func(o object) any { return o.Typed.(*rbacv1.Role).Rules })
			same("ClusterRole", func(o object) any { return o.Typed.(*rbacv1.ClusterRole).Rules })
			same("RoleBinding", func(o object) any { r := o.Typed.(*rbacv1.RoleBinding); return []any{r.RoleRef, r.Subjects} })
			same("ClusterRoleBinding", func(o object) any {
				r := o.Typed.(*rbacv1.ClusterRoleBinding)
				return []any{r.RoleRef, r.Subjects}
			})
			same("MutatingWebhookConfiguration", func(o object) any {
				c := o.Typed.(*admissionregistrationv1.MutatingWebhookConfiguration)
				return []any{c.Annotations, c.Webhooks}
			})
			same("Certificate", func(o object) any { return o.U.Object["spec"] })
			same("Issuer", func(o object) any { return o.U.Object["spec"] })
		})
	}
}

// TestHelmValues checks that the documented values reach the objects.
func TestHelmValues(t *testing.T) {
	objs := decode(t, renderChart(t, "prod", "platform", map[string]any{
		"replicaCount":        3,
		"priorityClassName":   "system-cluster-critical",
		"image":               map[string]any{"tag": "1.2.3"},
		"agentImage":          map[string]any{"repository": "registry.example/agent", "tag": "1.2.3"},
		"vault":               map[string]any{"addr": "https://vault.example:8200", "defaultRole": "apps"},
		"agent":               map[string]any{"sidecar": "classic", "tokenAudience": "vault-prod"},
		"webhook":             map[string]any{"excludeNamespaces": []any{"monitoring"}, "timeoutSeconds": 5},
		"podDisruptionBudget": map[string]any{"enabled": false},
		"tls":                 map[string]any{"mode": "cert-manager", "certManager": map[string]any{"issuerRef": map[string]any{"kind": "ClusterIssuer", "name": "corp-ca"}}},
	}))
	full := "prod-vault-injector"
	d := find[*appsv1.Deployment](t, objs, "Deployment", full)
	c := webhookContainer(t, d)
	f := flags(t, c.Args)
	want := map[string]string{
		"vault-addr": "https://vault.example:8200", "default-role": "apps", "agent-image": "registry.example/agent:1.2.3",
		"sidecar": "classic", "token-audience": "vault-prod", "tls-self-managed": "false", "tls-secret": full + "-tls",
		"webhook-config-name": full, "service-name": full,
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("--%s=%q, want %q", k, f[k], v)
		}
	}
	if *d.Spec.Replicas != 3 || d.Spec.Template.Spec.PriorityClassName != "system-cluster-critical" || c.Image != "vault-injector/webhook:1.2.3" {
		t.Errorf("replicas %d priorityClassName %q image %q", *d.Spec.Replicas, d.Spec.Template.Spec.PriorityClassName, c.Image)
	}
	if slices.ContainsFunc(objs, func(o object) bool {
		return o.U.GetKind() == "PodDisruptionBudget" || o.U.GetKind() == "Issuer" || o.U.GetKind() == "Role"
	}) {
		t.Errorf("disabled PDB, the chart's own Issuers (issuerRef given) or RBAC (cert-manager mode) rendered")
	}
	serving := findU(t, objs, "Certificate", full+"-serving")
	if ref := serving.Object["spec"].(map[string]any)["issuerRef"]; !reflect.DeepEqual(ref, map[string]any{"kind": "ClusterIssuer", "name": "corp-ca"}) {
		t.Errorf("issuerRef %v", ref)
	}
	cfg := find[*admissionregistrationv1.MutatingWebhookConfiguration](t, objs, "MutatingWebhookConfiguration", full)
	w := cfg.Webhooks[0]
	if *w.TimeoutSeconds != 5 || !slices.Equal(w.NamespaceSelector.MatchExpressions[0].Values, []string{"kube-system", "platform", "monitoring"}) ||
		cfg.Annotations["cert-manager.io/inject-ca-from"] != "platform/"+full+"-serving" || w.ClientConfig.Service.Namespace != "platform" {
		t.Errorf("webhook configuration does not follow the values: %+v %v", w, cfg.Annotations)
	}

	if _, err := renderChartErr(name, ns, map[string]any{"tls": map[string]any{"mode": "openssl"}}); err == nil ||
		!strings.Contains(err.Error(), "tls.mode must be self-managed or cert-manager") {
		t.Errorf("an unknown tls.mode must fail the render, got %v", err)
	}
}

// TestHelmChartMetadata: the chart loads, declares a Kubernetes range that includes the test
// cluster, and every top-level value is documented with a comment in values.yaml.
func TestHelmChartMetadata(t *testing.T) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Validate(); err != nil {
		t.Fatal(err)
	}
	if !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, testKubeVersion.Version) {
		t.Errorf("kubeVersion %q excludes the test cluster %s", ch.Metadata.KubeVersion, testKubeVersion.Version)
	}
	var raw []byte
	for _, f := range ch.Raw {
		if f.Name == "values.yaml" {
			raw = f.Data
		}
	}
	lines := strings.Split(string(raw), "\n")
	for i, l := range lines {
		if l == "" || l[0] == ' ' || l[0] == '#' || !strings.Contains(l, ":") {
			continue
		}
		documented := false
		for j := i - 1; j >= 0 && strings.HasPrefix(lines[j], "#"); j-- {
			documented = true
		}
		sub := i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), "#")
		if !documented && !sub && !strings.HasSuffix(l, ": {}") && !strings.HasSuffix(l, ": []") {
			t.Errorf("values.yaml: %q has no comment", l)
		}
	}
}
