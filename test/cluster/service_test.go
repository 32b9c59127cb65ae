package cluster_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/vault-injector/vault-injector/test/cluster"
	"github.com/vault-injector/vault-injector/test/images"
)

// TestServiceRouting checks what the installed-product scenarios rely on: with kube-proxy,
// a host process (as the API server calling a webhook) reaches a pod through its Service's
// ClusterIP, and a pod reaches the API server through the kubernetes Service.
func TestServiceRouting(t *testing.T) {
	c := cluster.StartT(t, cluster.Options{ServiceRouting: true})
	t.Logf("bring-up with kube-proxy: %s", c.BringUp.Round(10*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.BuildAndImport(ctx, images.Tokenizer(), images.Toolbox()); err != nil {
		t.Fatal(err)
	}
	cs := c.Clientset()
	pod := tokenizerPod()
	pod.Labels = map[string]string{"app": "tokenizer"}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitForPodReady(ctx, "default", "tokenizer"); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "tokenizer"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "tokenizer"},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	created := time.Now()
	svc, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + net.JoinHostPort(svc.Spec.ClusterIP, "80")
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(url + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("host never reached ClusterIP %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("host reached the new Service's ClusterIP %s %s after its creation", svc.Spec.ClusterIP, time.Since(created).Round(10*time.Millisecond))
	roundTrip(t, url)

	// A plain-HTTP request to the API server's TLS port gets Go's telltale answer: proof that
	// the pod reached the API server itself through 10.96.0.1.
	probe := container("probe", images.Toolbox(), "-c",
		`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 "$KUBERNETES_SERVICE_HOST" "$KUBERNETES_SERVICE_PORT"; echo; echo "via $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"`)
	probe.VolumeMounts = nil
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "api-probe"},
		Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{probe}},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitForPod(ctx, "default", "api-probe", func(p *corev1.Pod) (bool, error) {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed, nil
	}); err != nil {
		t.Fatal(err)
	}
	log, err := c.PodLogs(ctx, "default", "api-probe", "probe")
	if err != nil || !strings.Contains(log, "HTTPS server") || !strings.Contains(log, "via 10.96.0.1:443") {
		t.Errorf("pod did not reach the API server through the kubernetes Service: %v\n%s", err, log)
	}
}
