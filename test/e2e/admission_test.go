package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

func podFromTemplate(name string, tmpl corev1.PodTemplateSpec) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: tmpl.Labels, Annotations: tmpl.Annotations}, Spec: tmpl.Spec}
}

// Scenario 6: invalid annotations are refused at `kubectl apply` with the webhook's message;
// pods that do not opt in never reach the webhook (matchConditions), so they start while it is
// down; opted-in pods are refused while it is down (failurePolicy Fail).
func TestAdmission(t *testing.T) {
	ctx, ns := scenario(t, "admission", 4*time.Minute)

	bad := podFromTemplate("bad", template("bad", annotations("refresh", "often", "secret-a", "/abs"), "sleep 1"))
	bad.APIVersion, bad.Kind, bad.Namespace = "v1", "Pod", ns
	b, err := yaml.Marshal(bad)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := st.Cluster.Kubectl(ctx, "apply", "-f", file)
	if err == nil {
		t.Fatal("kubectl apply accepted a pod with invalid annotations")
	}
	for _, want := range []string{`denied the request`, `2 invalid vault-injector annotations`,
		`vault-injector.io/refresh="often"`, `vault-injector.io/secret-a="/abs"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kubectl output lacks %q:\n%s", want, out)
		}
	}

	if err := st.Webhook.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { restartWebhook(t) })
	plain := template("plain", nil, "exec sleep 3600")
	if _, err := st.Cluster.Clientset().CoreV1().Pods(ns).Create(ctx, podFromTemplate("plain", plain), metav1.CreateOptions{}); err != nil {
		t.Fatalf("a pod without the opt-in was refused while the webhook is down: %v", err)
	}
	if _, err := st.Cluster.WaitForPodReady(ctx, ns, "plain"); err != nil {
		t.Fatal(err)
	}
	optedIn := podFromTemplate("opted-in", template("opted-in", annotations("secret-a", "secret/e2e/a"), "sleep 1"))
	_, err = st.Cluster.Clientset().CoreV1().Pods(ns).Create(ctx, optedIn, metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "failed calling webhook") {
		t.Errorf("an opted-in pod while the webhook is down: err = %v, want a refusal", err)
	}
}
