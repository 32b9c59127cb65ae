package manifests

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/vault-injector/vault-injector/certs"
	"github.com/vault-injector/vault-injector/test/background"
	"github.com/vault-injector/vault-injector/test/kubetest"
	"github.com/vault-injector/vault-injector/test/wait"
)

// TestApplyOnRealAPIServer applies every install flavour to a real etcd + kube-apiserver:
// server-side dry-run first (must pass, create nothing and draw no warnings), then for real.
// In between it checks what only a real server can: Pod Security admission of the webhook pod,
// and that the webhook's RBAC is exactly enough for self-managed TLS.
func TestApplyOnRealAPIServer(t *testing.T) {
	c := kubetest.Start(t)
	base := kustomize(t, "base")
	t.Run("kustomize base", func(t *testing.T) { applyTwoPhase(t, c, base) })
	t.Run("restricted Pod Security admits the webhook pod", func(t *testing.T) { testPodSecurity(t, c, base) })
	t.Run("RBAC allows self-managed TLS and nothing else", func(t *testing.T) { testRBAC(t, c, base) })
	t.Run("kustomize cert-manager overlay", func(t *testing.T) {
		kubectl(t, c, nil, "apply", "-f", "testdata/cert-manager-crds.yaml")
		kubectl(t, c, nil, "wait", "--for=condition=Established", "--timeout=60s",
			"crd/certificates.cert-manager.io", "crd/issuers.cert-manager.io")
		applyTwoPhase(t, c, kustomize(t, "overlays/cert-manager"))
		d, err := c.Client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil || !strings.Contains(strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "), "--tls-self-managed=false") {
			t.Fatalf("overlay did not switch self-management off: %v", err)
		}
	})
	for _, mode := range []string{"self-managed", "cert-manager"} {
		t.Run("helm "+mode, func(t *testing.T) {
			release := "helm-" + mode
			kubectl(t, c, nil, "create", "namespace", release) // what helm install --create-namespace does
			applyTwoPhase(t, c, renderChart(t, release, release, map[string]any{"tls": map[string]any{"mode": mode}}))
		})
	}
}

func kubectl(t *testing.T, c *kubetest.Cluster, stdin []byte, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := c.Kubectl(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return stdout, stderr
}

// applyTwoPhase applies manifests as a platform team would with server-side apply. Namespaces
// are created first: a dry-run cannot place objects in a namespace that does not exist yet.
func applyTwoPhase(t *testing.T, c *kubetest.Cluster, manifests []byte) {
	t.Helper()
	objs := decode(t, manifests)
	var nsDocs [][]byte
	for _, o := range objs {
		if o.U.GetKind() == "Namespace" {
			nsDocs = append(nsDocs, o.Raw)
		}
	}
	if len(nsDocs) > 0 {
		kubectl(t, c, bytes.Join(nsDocs, []byte("\n---\n")), "apply", "--server-side", "--field-manager=install-test", "-f", "-")
	}
	existing := func() []string {
		out, _ := kubectl(t, c, manifests, "get", "--ignore-not-found", "-o", "name", "-f", "-")
		return strings.Fields(out)
	}
	before := existing()
	apply := []string{"apply", "--server-side", "--field-manager=install-test", "-f", "-"}
	_, stderr := kubectl(t, c, manifests, append(apply, "--dry-run=server")...)
	if strings.Contains(stderr, "Warning") {
		t.Errorf("dry-run warnings:\n%s", stderr)
	}
	for _, n := range existing() {
		if !slices.Contains(before, n) {
			t.Errorf("the dry-run created %s", n)
		}
	}
	_, stderr = kubectl(t, c, manifests, apply...)
	if strings.Contains(stderr, "Warning") {
		t.Errorf("apply warnings:\n%s", stderr)
	}
	out, _ := kubectl(t, c, manifests, "get", "-o", "name", "-f", "-")
	if n := len(strings.Fields(out)); n != len(objs) {
		t.Fatalf("%d objects on the server after apply, want %d:\n%s", n, len(objs), out)
	}
}

// testPodSecurity creates a Pod from the Deployment's template in the webhook's namespace,
// which enforces the restricted level; a copy without security contexts must be refused, so
// the admission is known to be on.
func testPodSecurity(t *testing.T, c *kubetest.Cluster, base []byte) {
	d := find[*appsv1.Deployment](t, decode(t, base), "Deployment", name)
	pod := func(spec corev1.PodSpec) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "psa-", Namespace: ns, Labels: d.Spec.Template.Labels}, Spec: spec}
	}
	ctx := context.Background()
	ok, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod(d.Spec.Template.Spec), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("restricted namespace refused the webhook pod: %v", err)
	}
	_ = c.Client.CoreV1().Pods(ns).Delete(ctx, ok.Name, metav1.DeleteOptions{})
	loose := *d.Spec.Template.Spec.DeepCopy()
	loose.SecurityContext, loose.Containers[0].SecurityContext = nil, nil
	_, err = c.Client.CoreV1().Pods(ns).Create(ctx, pod(loose), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "PodSecurity") {
		t.Fatalf("a pod without security contexts must be refused by Pod Security admission, got %v", err)
	}
}

// testRBAC runs the certs Manager as the webhook's service account (impersonated) with the
// Deployment's flags: it must bootstrap the Secret and the caBundle and follow Secret changes
// through its watch. The same identity must not read other Secrets nor touch other webhook
// configurations.
func testRBAC(t *testing.T, c *kubetest.Cluster, base []byte) {
	f := flags(t, webhookContainer(t, find[*appsv1.Deployment](t, decode(t, base), "Deployment", name)).Args)
	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + ns + ":" + name,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}
	clients, err := certs.ClientsForConfig(cfg) // as the webhook's main builds them
	if err != nil {
		t.Fatal(err)
	}
	m, err := certs.NewManager(clients, certs.Options{
		Namespace: ns, SecretName: f["tls-secret"], ServiceName: f["service-name"],
		WebhookConfigName: f["webhook-config-name"], CertDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	background.Start(t, m.Run).AwaitReady(m.Ready(), 30*time.Second)
	ctx, admin := context.Background(), c.Client
	wait.For(t, 10*time.Second, "caBundle set from the Secret by the service account", func() bool {
		sec, err1 := admin.CoreV1().Secrets(ns).Get(ctx, f["tls-secret"], metav1.GetOptions{})
		mwc, err2 := admin.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, f["webhook-config-name"], metav1.GetOptions{})
		return err1 == nil && err2 == nil && bytes.Equal(mwc.Webhooks[0].ClientConfig.CABundle, sec.Data[certs.KeyCABundle])
	})

	// The watch runs under RBAC too: a deleted Secret is recreated long before the resync.
	if err := admin.CoreV1().Secrets(ns).Delete(ctx, f["tls-secret"], metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 5*time.Second, "Secret recreated after deletion (watch allowed by RBAC)", func() bool {
		_, err := admin.CoreV1().Secrets(ns).Get(ctx, f["tls-secret"], metav1.GetOptions{})
		return err == nil
	})

	if _, err := admin.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "other"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sa := kubernetes.NewForConfigOrDie(cfg)
	denied := map[string]error{}
	_, denied["get another Secret"] = sa.CoreV1().Secrets(ns).Get(ctx, "other", metav1.GetOptions{})
	_, denied["list all Secrets"] = sa.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	_, denied["get a Secret in another namespace"] = sa.CoreV1().Secrets("default").Get(ctx, f["tls-secret"], metav1.GetOptions{})
	_, denied["get another webhook configuration"] = sa.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "other", metav1.GetOptions{})
	denied["delete its Secret"] = sa.CoreV1().Secrets(ns).Delete(ctx, f["tls-secret"], metav1.DeleteOptions{})
	for what, err := range denied {
		if !apierrors.IsForbidden(err) {
			t.Errorf("service account may %s (err %v), want Forbidden", what, err)
		}
	}
	_, err = sa.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", f["tls-secret"]).String()})
	if err != nil {
		t.Errorf("list of its own Secret by field selector (what the watch does) denied: %v", err)
	}
}
