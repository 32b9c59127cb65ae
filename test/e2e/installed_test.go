package e2e

import (
	"bytes"
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-injector/vault-injector/certs"
	"github.com/vault-injector/vault-injector/test/stack"
)

// The installed product: what the README's Install section tells a platform team to apply
// (the kustomize base, or the Helm chart), running as two pods behind the Service, with
// self-managed TLS, called by the API server through the Service's ClusterIP (kube-proxy).
// These scenarios replace the dev registration while they run and restore it after.

// TestInstalledProduct installs manifests/base, injects a Deployment through the Service, then
// storms it, deleting one webhook pod mid-storm: no creation may be refused.
func TestInstalledProduct(t *testing.T) {
	installedStorm(t, "installed", func(ctx context.Context, t *testing.T, victim corev1.Pod) error {
		return st.Cluster.Clientset().CoreV1().Pods(stack.ProductNamespace).Delete(ctx, victim.Name, metav1.DeleteOptions{})
	}, 0)
}

// TestInstalledProductSIGKILL is the same storm with one replica's process SIGKILLed instead:
// the requests it had in flight, and new connections until the kubelet sees it die, are
// refused (the API server does not retry admissions; docs/real-cluster.md), so a bound.
func TestInstalledProductSIGKILL(t *testing.T) {
	installedStorm(t, "installed-kill", func(ctx context.Context, t *testing.T, victim corev1.Pod) error {
		return syscall.Kill(procOf(ctx, t, victim), syscall.SIGKILL)
	}, 50)
}

func installedStorm(t *testing.T, name string, disrupt func(context.Context, *testing.T, corev1.Pod) error, maxRefused int) {
	ctx, ns := scenario(t, name, 3*time.Minute)
	if err := st.WriteSecret(ctx, "storm", map[string]any{"password": stormSecret}); err != nil {
		t.Fatal(err)
	}
	p := installProduct(ctx, t, st.InstallKustomize)
	checkThroughService(ctx, t, ns)
	pods := readyReplicas(ctx, t, p)
	victim, survivor := pods[0], pods[1]
	pid := procOf(ctx, t, survivor)
	before := procStats(t, pid)
	var served map[string]float64
	res := runStorm(ctx, t, stormPlan{
		ns: ns, total: 5000, workers: 16, realPods: 4, atFraction: 0.4, deadline: 110 * time.Second,
		disrupt: func(ctx context.Context) error {
			served = replicaLoad(ctx, t, pods)
			return disrupt(ctx, t, victim)
		},
	})
	after := procStats(t, pid)
	cpu := float64(after.CPUTicks-before.CPUTicks) / 100 / res.elapsed.Seconds()
	t.Logf("STORM %s: %s", name, res)
	t.Logf("STORM %s: admissions served per replica before the disruption: %v; survivor %s: %.2f cores over the storm, RSS %d MiB (peak %d MiB)",
		name, served, survivor.Name, cpu, after.RSS>>20, after.PeakRSS>>20)
	for msg, n := range res.errSamples {
		t.Logf("refused %d×: %s", n, msg)
	}
	for replica, n := range served {
		if n == 0 {
			t.Errorf("replica %s served no admission before the disruption: %v", replica, served)
		}
	}
	if res.refused > maxRefused {
		t.Errorf("%d pod creations refused (allowed %d)", res.refused, maxRefused)
	}
	if res.uninjected != 0 {
		t.Errorf("%d opted-in pods admitted without injection", res.uninjected)
	}
	checkRealPods(ctx, t, ns, res.realNames)
}

// TestInstalledHelm installs the Helm chart's output the same way, shorter: injection through
// the Service and a burst that both replicas serve.
func TestInstalledHelm(t *testing.T) {
	ctx, ns := scenario(t, "installed-helm", 3*time.Minute)
	if err := st.WriteSecret(ctx, "storm", map[string]any{"password": stormSecret}); err != nil {
		t.Fatal(err)
	}
	p := installProduct(ctx, t, st.InstallHelm)
	checkThroughService(ctx, t, ns)
	pods := readyReplicas(ctx, t, p)
	res := runStorm(ctx, t, stormPlan{ns: ns, total: 1000, workers: 16, realPods: 2, deadline: 45 * time.Second})
	t.Logf("helm: %s", res)
	if res.refused != 0 || res.uninjected != 0 {
		t.Errorf("refused %d, admitted without injection %d: %v", res.refused, res.uninjected, res.errSamples)
	}
	served := replicaLoad(ctx, t, pods)
	for name, n := range served {
		if n == 0 {
			t.Errorf("replica %s served no admission: %v", name, served)
		}
	}
	checkRealPods(ctx, t, ns, res.realNames)
}

func installProduct(ctx context.Context, t *testing.T, install func(context.Context) (*stack.Product, error)) *stack.Product {
	t.Helper()
	began := time.Now()
	p, err := install(ctx)
	if p != nil {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := p.Uninstall(ctx); err != nil {
				t.Errorf("uninstalling: %v", err)
			}
		})
	}
	if err != nil {
		logs, _ := st.Cluster.Kubectl(context.Background(), "-n", stack.ProductNamespace, "logs", "-l", "app.kubernetes.io/name=vault-injector", "--tail=30")
		t.Fatalf("installing: %v\nwebhook logs:\n%s", err, logs)
	}
	t.Logf("installed and rolled out in %s", time.Since(began).Round(100*time.Millisecond))
	checkSelfManagedTLS(ctx, t)
	return p
}

// checkSelfManagedTLS: the webhook pods made the CA and certificate in the Secret and put the
// CA into the caBundle themselves.
func checkSelfManagedTLS(ctx context.Context, t *testing.T) {
	t.Helper()
	cs := st.Cluster.Clientset()
	sec, err := cs.CoreV1().Secrets(stack.ProductNamespace).Get(ctx, "vault-injector-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the webhook did not create its TLS Secret: %v", err)
	}
	mwc, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, stack.WebhookConfigName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bundle := mwc.Webhooks[0].ClientConfig.CABundle
	ca := sec.Data[certs.KeyCACert]
	if len(ca) == 0 || !bytes.Contains(bundle, bytes.TrimSpace(ca)) {
		t.Errorf("caBundle (%d bytes) lacks the Secret's CA (%d bytes)", len(bundle), len(ca))
	}
	if svc := mwc.Webhooks[0].ClientConfig.Service; svc == nil || svc.Name != "vault-injector" || mwc.Webhooks[0].ClientConfig.URL != nil {
		t.Errorf("webhook not called through its Service: %+v", mwc.Webhooks[0].ClientConfig)
	}
}

// checkThroughService: a Deployment's pod is injected through the Service and reads its
// secret.
func checkThroughService(ctx context.Context, t *testing.T, ns string) {
	t.Helper()
	pod := deploy(ctx, t, ns, "via-service", template("via-service",
		annotations("secret-db", stack.SecretPrefix+"storm", "format-db", "raw:password"),
		`cat /vault/secrets/db; echo; echo read-done; trap 'exit 0' TERM; while true; do sleep 1; done`))
	if log := waitLog(ctx, t, ns, pod.Name, "app", "read-done"); !strings.Contains(log, stormSecret) {
		t.Errorf("app injected through the Service did not read its secret:\n%s", log)
	}
}

// readyReplicas waits until the Deployment has its two replicas Ready again and returns them.
func readyReplicas(ctx context.Context, t *testing.T, p *stack.Product) []corev1.Pod {
	t.Helper()
	for {
		pods, err := p.Pods(ctx)
		ready := 0
		for _, pod := range pods {
			for _, c := range pod.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if err == nil && len(pods) == 2 && ready == 2 {
			return pods
		}
		select {
		case <-ctx.Done():
			t.Fatalf("webhook replicas not back to 2 Ready: %d of %d (%v)", ready, len(pods), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
