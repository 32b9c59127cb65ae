package manifests

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/vault-injector/vault-injector/contract"
)

const (
	ns          = "vault-injector"
	name        = "vault-injector"
	webhookName = "inject.vault-injector.io"
)

// webhookFlags are the flags the manifests pass; the webhook must define each (README of the
// manifests lists them).
var webhookFlags = []string{
	"vault-addr", "agent-image", "default-auth-path", "sidecar", "token-audience", "token-expiry",
	"volume-size", "port", "health-addr", "metrics-addr", "tls-dir", "tls-self-managed",
	"tls-secret", "webhook-config-name", "service-name", "namespace", "log-level",
}

// flags parses "--name=value" arguments; a repeated or malformed flag fails the test.
func flags(t *testing.T, args []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok || !strings.HasPrefix(a, "--") {
			t.Fatalf("argument %q is not --name=value", a)
		}
		if _, dup := out[k]; dup {
			t.Fatalf("flag --%s given twice", k)
		}
		out[k] = v
	}
	return out
}

func webhookContainer(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(d.Spec.Template.Spec.Containers))
	}
	return d.Spec.Template.Spec.Containers[0]
}

func TestKustomizeBase(t *testing.T) {
	objs := decode(t, kustomize(t, "base"))
	want := []string{"ClusterRole/" + name, "ClusterRoleBinding/" + name, "Deployment/" + name, "MutatingWebhookConfiguration/" + name,
		"Namespace/" + ns, "PodDisruptionBudget/" + name, "Role/" + name, "RoleBinding/" + name, "Service/" + name, "ServiceAccount/" + name,
		"ValidatingAdmissionPolicy/" + protectName, "ValidatingAdmissionPolicyBinding/" + protectName}
	if got := keys(objs); !slices.Equal(got, want) {
		t.Fatalf("objects %v, want %v", got, want)
	}
	nsObj := find[*corev1.Namespace](t, objs, "Namespace", ns)
	if nsObj.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace does not enforce the restricted Pod Security level: %v", nsObj.Labels)
	}
	d := find[*appsv1.Deployment](t, objs, "Deployment", name)
	f := checkDeployment(t, d)
	if f["tls-self-managed"] != "true" {
		t.Errorf("base must use self-managed TLS, got --tls-self-managed=%s", f["tls-self-managed"])
	}
	checkSelfManagedRBAC(t, objs, f)
	checkService(t, objs, d)
	checkWebhookConfig(t, objs, d, f)
	pdb := find[*policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget", name)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 || !selects(pdb.Spec.Selector, d) {
		t.Errorf("PDB must keep 1 webhook pod: %+v", pdb.Spec)
	}
}

// checkDeployment asserts the Deployment's shape and returns its webhook flags.
func checkDeployment(t *testing.T, d *appsv1.Deployment) map[string]string {
	t.Helper()
	spec := d.Spec.Template.Spec
	c := webhookContainer(t, d)
	f := flags(t, c.Args)
	for _, k := range webhookFlags {
		if _, ok := f[k]; !ok {
			t.Errorf("flag --%s missing", k)
		}
	}
	switch {
	case d.Spec.Replicas == nil || *d.Spec.Replicas != 2:
		t.Errorf("want 2 replicas")
	case d.Spec.Strategy.RollingUpdate == nil || d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0:
		t.Errorf("a rollout must not lower the number of ready replicas")
	case len(c.Command) != 0:
		t.Errorf("command %v overrides the image entrypoint %s", c.Command, webhookBinary)
	case spec.ServiceAccountName != name || len(spec.TopologySpreadConstraints) == 0 || spec.Affinity == nil || spec.Affinity.PodAntiAffinity == nil:
		t.Errorf("service account, topology spread or anti-affinity missing")
	case f["namespace"] != "$(POD_NAMESPACE)" || c.Env[0].Name != "POD_NAMESPACE" || c.Env[0].ValueFrom.FieldRef.FieldPath != "metadata.namespace":
		t.Errorf("--namespace must come from the downward API")
	}
	for _, tc := range []struct {
		flag, port string
		num        int32
	}{{"port", "webhook", 9443}, {"health-addr", "health", 8081}, {"metrics-addr", "metrics", 8080}} {
		if p := port(c, tc.port); p != tc.num || !strings.HasSuffix(f[tc.flag], strconv.Itoa(int(p))) {
			t.Errorf("port %s is %d, --%s=%s; want %d for both", tc.port, p, tc.flag, f[tc.flag], tc.num)
		}
	}
	probe := func(p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "health" {
			t.Errorf("probe %+v, want GET %s on port health", p, path)
		}
	}
	probe(c.ReadinessProbe, "/readyz")
	probe(c.LivenessProbe, "/healthz")
	probe(c.StartupProbe, "/readyz")
	psc, sc := spec.SecurityContext, c.SecurityContext
	if psc == nil || !*psc.RunAsNonRoot || *psc.RunAsUser != 65532 || *psc.RunAsGroup != 65532 || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context must run as 65532:65532 (the image's USER) with RuntimeDefault seccomp: %+v", psc)
	}
	// A mounted Secret's files belong to root: the webhook reads a 0440 key only through fsGroup.
	if v := spec.Volumes[0]; v.Secret != nil && (psc.FSGroup == nil || *psc.FSGroup != *psc.RunAsGroup || *v.Secret.DefaultMode&0o044 == 0) {
		t.Errorf("the TLS Secret volume (mode %o) is unreadable for group %v", *v.Secret.DefaultMode, psc.FSGroup)
	}
	if sc == nil || *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context is not restricted: %+v", sc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources: %+v", c.Resources)
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != f["tls-dir"] || spec.Volumes[0].Name != c.VolumeMounts[0].Name {
		t.Errorf("the TLS volume must be mounted at --tls-dir=%s: %+v", f["tls-dir"], c.VolumeMounts)
	}
	return f
}

func port(c corev1.Container, portName string) int32 {
	for _, p := range c.Ports {
		if p.Name == portName {
			return p.ContainerPort
		}
	}
	return 0
}

func selects(sel *metav1.LabelSelector, d *appsv1.Deployment) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(d.Spec.Template.Labels))
}

// checkSelfManagedRBAC: exactly the Secret named by --tls-secret and the configuration named
// by --webhook-config-name, no wildcards.
func checkSelfManagedRBAC(t *testing.T, objs []object, f map[string]string) {
	t.Helper()
	role := find[*rbacv1.Role](t, objs, "Role", name)
	wantRole := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{f["tls-secret"]}, Verbs: []string{"get", "list", "watch", "update"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
	}
	if !reflect.DeepEqual(role.Rules, wantRole) {
		t.Errorf("Role rules %+v, want %+v", role.Rules, wantRole)
	}
	cr := find[*rbacv1.ClusterRole](t, objs, "ClusterRole", name)
	wantCR := []rbacv1.PolicyRule{{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"mutatingwebhookconfigurations"},
		ResourceNames: []string{f["webhook-config-name"]}, Verbs: []string{"get", "update"}}}
	if !reflect.DeepEqual(cr.Rules, wantCR) {
		t.Errorf("ClusterRole rules %+v, want %+v", cr.Rules, wantCR)
	}
	rb := find[*rbacv1.RoleBinding](t, objs, "RoleBinding", name)
	crb := find[*rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", name)
	for _, s := range [][]rbacv1.Subject{rb.Subjects, crb.Subjects} {
		if len(s) != 1 || s[0].Kind != "ServiceAccount" || s[0].Name != name || s[0].Namespace != ns {
			t.Errorf("binding subjects %+v, want the webhook's service account", s)
		}
	}
}

func checkService(t *testing.T, objs []object, d *appsv1.Deployment) {
	t.Helper()
	svc := find[*corev1.Service](t, objs, "Service", name)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 443 || svc.Spec.Ports[0].TargetPort.String() != "webhook" ||
		!selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, d) {
		t.Errorf("Service must send 443 to the webhook port of the Deployment's pods: %+v", svc.Spec)
	}
	if f := flags(t, webhookContainer(t, d).Args); f["service-name"] != svc.Name {
		t.Errorf("--service-name=%s, Service is %s", f["service-name"], svc.Name)
	}
}

// checkWebhookConfig asserts the contract of the MutatingWebhookConfiguration.
func checkWebhookConfig(t *testing.T, objs []object, d *appsv1.Deployment, f map[string]string) {
	t.Helper()
	cfg := find[*admissionregistrationv1.MutatingWebhookConfiguration](t, objs, "MutatingWebhookConfiguration", f["webhook-config-name"])
	if len(cfg.Webhooks) != 1 {
		t.Fatalf("want one webhook, got %d", len(cfg.Webhooks))
	}
	w := cfg.Webhooks[0]
	rule := admissionregistrationv1.RuleWithOperations{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}, Scope: ptr(admissionregistrationv1.NamespacedScope)},
	}
	switch {
	case w.Name != webhookName || !slices.Equal(w.AdmissionReviewVersions, []string{"v1"}):
		t.Errorf("name %q versions %v", w.Name, w.AdmissionReviewVersions)
	case len(w.Rules) != 1 || !reflect.DeepEqual(w.Rules[0], rule):
		t.Errorf("rules %+v, want CREATE on pods only", w.Rules)
	case *w.FailurePolicy != admissionregistrationv1.Fail || *w.SideEffects != admissionregistrationv1.SideEffectClassNone:
		t.Errorf("failurePolicy %s sideEffects %s", *w.FailurePolicy, *w.SideEffects)
	case *w.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy || *w.TimeoutSeconds != 10:
		t.Errorf("reinvocationPolicy %s timeoutSeconds %d", *w.ReinvocationPolicy, *w.TimeoutSeconds)
	case len(w.ClientConfig.CABundle) != 0:
		t.Errorf("caBundle must be left to the webhook or cert-manager")
	}
	if len(w.MatchConditions) != 1 || !strings.Contains(w.MatchConditions[0].Expression, "'"+contract.AnnotationInject+"'") ||
		!strings.Contains(w.MatchConditions[0].Expression, "== '"+contract.InjectTrue+"'") {
		t.Errorf("matchConditions %+v must select %s == %q", w.MatchConditions, contract.AnnotationInject, contract.InjectTrue)
	}
	nsSel, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"kube-system", d.Namespace} {
		if nsSel.Matches(labels.Set{"kubernetes.io/metadata.name": n}) {
			t.Errorf("namespaceSelector must exclude namespace %s", n)
		}
	}
	if !nsSel.Matches(labels.Set{"kubernetes.io/metadata.name": "default"}) {
		t.Errorf("namespaceSelector must include ordinary namespaces")
	}
	objSel, err := metav1.LabelSelectorAsSelector(w.ObjectSelector)
	if err != nil || objSel.Matches(labels.Set(d.Spec.Template.Labels)) || !objSel.Matches(labels.Set{"app": "x"}) {
		t.Errorf("objectSelector must exclude the webhook's own pods (%v) and nothing else: %v", d.Spec.Template.Labels, err)
	}
	if s := w.ClientConfig.Service; s != nil && (s.Name != f["service-name"] || s.Namespace != d.Namespace || *s.Path != "/mutate" || *s.Port != 443) {
		t.Errorf("clientConfig.service %+v, want %s/%s:443/mutate", s, d.Namespace, f["service-name"])
	}
}

func ptr[T any](v T) *T { return &v }

func TestKustomizeCertManagerOverlay(t *testing.T) {
	objs := decode(t, kustomize(t, "overlays/cert-manager"))
	for _, k := range []string{"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"} {
		if slices.ContainsFunc(objs, func(o object) bool { return o.U.GetKind() == k }) {
			t.Errorf("%s rendered: with cert-manager the webhook needs no API permissions", k)
		}
	}
	d := find[*appsv1.Deployment](t, objs, "Deployment", name)
	f := checkDeployment(t, d)
	if f["tls-self-managed"] != "false" {
		t.Errorf("--tls-self-managed=%s, want false", f["tls-self-managed"])
	}
	if v := d.Spec.Template.Spec.Volumes[0]; v.Secret == nil || v.Secret.SecretName != f["tls-secret"] {
		t.Errorf("TLS volume %+v must be the Secret %s", v, f["tls-secret"])
	}
	checkWebhookConfig(t, objs, d, f)
	checkCertManagerObjects(t, objs, f)
}

// checkCertManagerObjects follows the chain: inject-ca-from names the serving Certificate, which
// writes --tls-secret for the Service's names, issued by a CA Issuer backed by a CA Certificate.
func checkCertManagerObjects(t *testing.T, objs []object, f map[string]string) {
	t.Helper()
	cfg := findU(t, objs, "MutatingWebhookConfiguration", f["webhook-config-name"])
	ref := cfg.GetAnnotations()["cert-manager.io/inject-ca-from"]
	refNS, refName, _ := strings.Cut(ref, "/")
	serving := findU(t, objs, "Certificate", refName)
	if refNS != serving.GetNamespace() {
		t.Fatalf("inject-ca-from %q does not name the serving Certificate %s/%s", ref, serving.GetNamespace(), refName)
	}
	spec := serving.Object["spec"].(map[string]any)
	svc, svcNS := f["service-name"], serving.GetNamespace()
	wantDNS := []any{svc, svc + "." + svcNS, svc + "." + svcNS + ".svc", svc + "." + svcNS + ".svc.cluster.local"}
	if spec["secretName"] != f["tls-secret"] || !reflect.DeepEqual(spec["dnsNames"], wantDNS) {
		t.Errorf("serving Certificate secretName %v dnsNames %v, want %s and %v", spec["secretName"], spec["dnsNames"], f["tls-secret"], wantDNS)
	}
	issuer := findU(t, objs, "Issuer", spec["issuerRef"].(map[string]any)["name"].(string))
	caSecret := issuer.Object["spec"].(map[string]any)["ca"].(map[string]any)["secretName"]
	found := slices.ContainsFunc(objs, func(o object) bool {
		s, _ := o.U.Object["spec"].(map[string]any)
		return o.U.GetKind() == "Certificate" && s["isCA"] == true && s["secretName"] == caSecret
	})
	if !found {
		t.Errorf("Issuer %s uses CA Secret %v that no CA Certificate writes", issuer.GetName(), caSecret)
	}
}

func TestKustomizeDevOverlay(t *testing.T) {
	objs := decode(t, kustomize(t, "overlays/dev"))
	for _, k := range []string{"Deployment", "Service", "PodDisruptionBudget"} {
		if slices.ContainsFunc(objs, func(o object) bool { return o.U.GetKind() == k }) {
			t.Errorf("%s rendered: in dev the webhook runs outside the cluster", k)
		}
	}
	base := find[*appsv1.Deployment](t, decode(t, kustomize(t, "base")), "Deployment", name)
	f := flags(t, webhookContainer(t, base).Args)
	cfg := find[*admissionregistrationv1.MutatingWebhookConfiguration](t, objs, "MutatingWebhookConfiguration", name)
	cc := cfg.Webhooks[0].ClientConfig
	if want := fmt.Sprintf("https://127.0.0.1:%s/mutate", f["port"]); cc.Service != nil || cc.URL == nil || *cc.URL != want {
		t.Errorf("dev clientConfig %+v, want url %s (the harness replaces it)", cc, want)
	}
	if cfg.Webhooks[0].MatchConditions[0].Expression == "" || *cfg.Webhooks[0].FailurePolicy != admissionregistrationv1.Fail {
		t.Errorf("dev must keep the production matching and failure policy")
	}
}
