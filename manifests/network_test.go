package manifests

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/vault-injector/vault-injector/test/kubetest"
	"github.com/vault-injector/vault-injector/test/testpki"
)

// networkPolicyValues are the Helm values that render the network-policy overlay's policy.
var networkPolicyValues = map[string]any{"networkPolicy": map[string]any{
	"enabled":        true,
	"apiServerCIDRs": []any{"192.0.2.10/32"},
	"metricsFrom":    []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "monitoring"}}}},
}}

// TestNetworkPolicy (issue 21): the opt-in NetworkPolicy of the kustomize overlay and of Helm
// selects the webhook pods, admits on the webhook port only the API server's addresses and on
// the metrics port only the scrapers; the health port gets no rule (kubelet probes come from
// the node, always allowed). Both installs render the same policy, neither by default, and
// Helm refuses to render one that would shut the API server out.
func TestNetworkPolicy(t *testing.T) {
	for what, objs := range map[string][]object{"kustomize base": decode(t, kustomize(t, "base")), "helm": decode(t, renderChart(t, name, ns, nil))} {
		for _, o := range objs {
			if o.U.GetKind() == "NetworkPolicy" {
				t.Errorf("%s renders %s: the policy must be opt-in", what, o.key())
			}
		}
	}
	overlay := decode(t, kustomize(t, "overlays/network-policy"))
	helm := decode(t, renderChart(t, name, ns, networkPolicyValues))
	k := find[*networkingv1.NetworkPolicy](t, overlay, "NetworkPolicy", name)
	h := find[*networkingv1.NetworkPolicy](t, helm, "NetworkPolicy", name)
	if !reflect.DeepEqual(k.Spec, h.Spec) || k.Namespace != ns || h.Namespace != ns {
		ky, _ := yaml.Marshal(k)
		hy, _ := yaml.Marshal(h)
		t.Errorf("the overlay's and Helm's policies differ:\nkustomize:\n%s\nhelm:\n%s", ky, hy)
	}

	d := find[*appsv1.Deployment](t, overlay, "Deployment", name)
	sel, err := metav1.LabelSelectorAsSelector(&k.Spec.PodSelector)
	if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) || sel.Empty() {
		t.Errorf("podSelector %v does not select the webhook pods %v (%v)", k.Spec.PodSelector, d.Spec.Template.Labels, err)
	}
	if !reflect.DeepEqual(k.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("policyTypes %v, want Ingress only (egress to the API server stays open)", k.Spec.PolicyTypes)
	}
	ports := map[string]int32{}
	for _, p := range webhookContainer(t, d).Ports {
		ports[p.Name] = p.ContainerPort
	}
	rules := map[int32][]networkingv1.NetworkPolicyPeer{}
	for _, r := range k.Spec.Ingress {
		if len(r.Ports) != 1 || r.Ports[0].Port == nil || len(r.From) == 0 {
			t.Fatalf("rule %+v: want one port and named sources (an empty from admits everyone)", r)
		}
		rules[r.Ports[0].Port.IntVal] = r.From
	}
	apiServer := []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "192.0.2.10/32"}}}
	if !reflect.DeepEqual(rules[ports["webhook"]], apiServer) {
		t.Errorf("webhook port %d admits %+v, want only the API server's CIDR", ports["webhook"], rules[ports["webhook"]])
	}
	if from := rules[ports["metrics"]]; len(from) != 1 || from[0].NamespaceSelector == nil || from[0].IPBlock != nil {
		t.Errorf("metrics port %d admits %+v, want the monitoring namespace", ports["metrics"], from)
	}
	if len(rules) != 2 {
		t.Errorf("rules for ports %v, want only the webhook and metrics ports", rules)
	}

	// Helm: no metrics rule without scrapers, more peers for the API server, and no policy that
	// admits nothing on the webhook port.
	peer := map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{"k8s-app": "konnectivity-agent"}},
		"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "kube-system"}}}
	p := find[*networkingv1.NetworkPolicy](t, decode(t, renderChart(t, name, ns, map[string]any{"networkPolicy": map[string]any{
		"enabled": true, "apiServerCIDRs": []any{"10.0.0.0/28"}, "apiServerPeers": []any{peer}}})), "NetworkPolicy", name)
	if len(p.Spec.Ingress) != 1 || len(p.Spec.Ingress[0].From) != 2 || p.Spec.Ingress[0].From[1].PodSelector == nil {
		t.Errorf("CIDR + peer, no scrapers: ingress %+v", p.Spec.Ingress)
	}
	if _, err := renderChartErr(name, ns, map[string]any{"networkPolicy": map[string]any{"enabled": true}}); err == nil ||
		!strings.Contains(err.Error(), "apiServerCIDRs") {
		t.Errorf("a policy without the API server's sources must fail the render, got %v", err)
	}
}

// TestHelmClientCA: webhook.clientCA mounts the CA from a ConfigMap the chart makes or from a
// Secret, and passes --client-ca-file, which the webhook reads at start; both sources at once
// fail the render.
func TestHelmClientCA(t *testing.T) {
	ca, err := testpki.NewCA("apiserver-client-ca")
	if err != nil {
		t.Fatal(err)
	}
	const mount = "/etc/vault-injector/client-ca"
	for what, values := range map[string]map[string]any{
		"bundle": {"bundle": string(ca.CertPEM)},
		"secret": {"secret": map[string]any{"name": "apiserver-client-ca", "key": "ca.pem"}},
	} {
		t.Run(what, func(t *testing.T) {
			objs := decode(t, renderChart(t, name, ns, map[string]any{"webhook": map[string]any{"clientCA": values}}))
			d := find[*appsv1.Deployment](t, objs, "Deployment", name)
			c := webhookContainer(t, d)
			if f := flags(t, c.Args); f["client-ca-file"] != mount+"/ca.crt" {
				t.Errorf("--client-ca-file=%q, want the mounted %s/ca.crt", f["client-ca-file"], mount)
			}
			var vol *corev1.Volume
			for i, v := range d.Spec.Template.Spec.Volumes {
				if v.Name == "client-ca" {
					vol = &d.Spec.Template.Spec.Volumes[i]
				}
			}
			mounted := false
			for _, m := range c.VolumeMounts {
				mounted = mounted || m.Name == "client-ca" && m.MountPath == mount && m.ReadOnly
			}
			if vol == nil || !mounted {
				t.Fatalf("client-ca volume %+v mounted read-only at %s: %v", vol, mount, mounted)
			}
			switch what {
			case "bundle":
				cm := find[*corev1.ConfigMap](t, objs, "ConfigMap", vol.ConfigMap.Name)
				file := filepath.Join(t.TempDir(), "ca.crt")
				if err := os.WriteFile(file, []byte(cm.Data["ca.crt"]), 0o600); err != nil {
					t.Fatal(err)
				}
				var args []string
				for _, a := range c.Args {
					args = append(args, strings.ReplaceAll(a, mount+"/ca.crt", file))
				}
				if cfg := parseServeArgs(t, args); cfg.ClientCAs == nil {
					t.Errorf("the webhook read no CA from the ConfigMap's ca.crt")
				}
			case "secret":
				if vol.Secret == nil || vol.Secret.SecretName != "apiserver-client-ca" ||
					!reflect.DeepEqual(vol.Secret.Items, []corev1.KeyToPath{{Key: "ca.pem", Path: "ca.crt"}}) {
					t.Errorf("client-ca volume %+v, want the Secret's ca.pem as ca.crt", vol)
				}
			}
		})
	}
	_, err = renderChartErr(name, ns, map[string]any{"webhook": map[string]any{"clientCA": map[string]any{"bundle": "x", "secret": map[string]any{"name": "y"}}}})
	if err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("both client CA sources: %v", err)
	}
}

// TestNetworkPolicyApplyOnRealAPIServer applies the network-policy overlay and a Helm render
// with the policy and a client CA to a real API server, as the other install flavours are.
func TestNetworkPolicyApplyOnRealAPIServer(t *testing.T) {
	c := kubetest.Start(t)
	t.Run("kustomize network-policy overlay", func(t *testing.T) { applyTwoPhase(t, c, kustomize(t, "overlays/network-policy")) })
	t.Run("helm with networkPolicy and webhook.clientCA", func(t *testing.T) {
		ca, err := testpki.NewCA("apiserver-client-ca")
		if err != nil {
			t.Fatal(err)
		}
		const release = "helm-netpol"
		kubectl(t, c, nil, "create", "namespace", release)
		values := map[string]any{"networkPolicy": networkPolicyValues["networkPolicy"],
			"webhook": map[string]any{"clientCA": map[string]any{"bundle": string(ca.CertPEM)}}}
		applyTwoPhase(t, c, renderChart(t, release, release, values))
	})
}
