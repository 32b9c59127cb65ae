package manifests

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-injector/vault-injector/certs"
	"github.com/vault-injector/vault-injector/test/cluster"
	"github.com/vault-injector/vault-injector/test/images"
)

// TestDeploymentReadyOnKubelet runs the webhook Deployment of the cert-manager overlay on a
// real kubelet and containerd (test/cluster), with the webhook image built from ./webhook the
// way the e2e images are (same entrypoint and user as Dockerfile.webhook). cert-manager itself
// is not installed: the test writes the Secret it would write. Both replicas must become
// Ready through their /readyz probes: the restricted security context, the read-only root
// filesystem, the 0440 key readable through fsGroup, the ports and the probes all work for real.
// (Self-managed TLS needs API access from pods, which this cluster has no Service routing for;
// the certs package tests it against the API server directly.)
func TestDeploymentReadyOnKubelet(t *testing.T) {
	// A cold build of the webhook image takes minutes on a busy 2-core machine (~8 min seen);
	// warm, the whole test takes ~30s.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	c := cluster.StartT(t, cluster.Options{})
	img := images.Webhook("./webhook")
	if err := c.BuildAndImport(ctx, img); err != nil {
		t.Fatalf("webhook image: %v", err)
	}
	if img.Entrypoint[0] != webhookBinary {
		t.Fatalf("e2e webhook image entrypoint %v, Dockerfile.webhook uses %s", img.Entrypoint, webhookBinary)
	}
	if err := c.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	dc, err := certs.WriteDevCerts(t.TempDir(), "vault-injector.vault-injector.svc")
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "vault-injector-tls", Namespace: ns},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{},
	}
	for key, file := range map[string]string{"tls.crt": dc.CertFile, "tls.key": dc.KeyFile, "ca.crt": dc.CAFile} {
		if secret.Data[key], err = os.ReadFile(file); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Clientset().CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The overlay without cert-manager's own kinds, with the test image.
	var docs []string
	for _, o := range decode(t, kustomize(t, "overlays/cert-manager")) {
		if !strings.HasPrefix(o.U.GetAPIVersion(), "cert-manager.io/") {
			docs = append(docs, string(o.Raw))
		}
	}
	manifests := strings.ReplaceAll(strings.Join(docs, "\n---\n"), "vault-injector/webhook:0.1.0", img.Ref())
	file := filepath.Join(t.TempDir(), "install.yaml")
	if err := os.WriteFile(file, []byte(manifests), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Kubectl(ctx, "apply", "--server-side", "-f", file); err != nil || strings.Contains(string(out), "Warning") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if out, err := c.Kubectl(ctx, "-n", ns, "rollout", "status", "deploy/"+name, "--timeout=180s"); err != nil {
		pods, _ := c.Kubectl(ctx, "-n", ns, "describe", "pods")
		logs, _ := c.Kubectl(ctx, "-n", ns, "logs", "-l", "app.kubernetes.io/name=vault-injector", "--tail=30")
		t.Fatalf("Deployment not ready: %v\n%s\n%s\n%s", err, out, pods, logs)
	}
	d, err := c.Clientset().AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.ReadyReplicas != 2 || !available(d) {
		t.Fatalf("ready replicas %d, conditions %+v", d.Status.ReadyReplicas, d.Status.Conditions)
	}
}

func available(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
