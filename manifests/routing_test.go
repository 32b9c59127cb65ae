package manifests

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-injector/vault-injector/certs"
	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/kubetest"
	"github.com/vault-injector/vault-injector/test/wait"
)

// devURL is the dev overlay's clientConfig.url, which harnesses replace with their own.
const devURL = "https://127.0.0.1:9443/mutate"

// stubWebhook answers AdmissionReviews by allowing them, and records which pods it was asked about.
type stubWebhook struct {
	mu    sync.Mutex
	calls map[string]int // "namespace/name" -> calls
}

func (s *stubWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if r.URL.Path != "/mutate" || json.NewDecoder(r.Body).Decode(&review) != nil || review.Request == nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var pod corev1.Pod
	_ = json.Unmarshal(review.Request.Object.Raw, &pod)
	s.mu.Lock()
	s.calls[review.Request.Namespace+"/"+pod.Name]++
	s.mu.Unlock()
	review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
	review.Request = nil
	_ = json.NewEncoder(w).Encode(review)
}

func (s *stubWebhook) count(ns, pod string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[ns+"/"+pod]
}

// TestDevOverlayRoutingOnRealAPIServer installs the dev overlay the way the README tells
// harnesses to (URL replaced, dev CA as caBundle), with a stub webhook on 127.0.0.1 behind it,
// and checks on the real API server which pod creations reach the webhook: only opted-in pods,
// never in kube-system or the webhook's namespace, never the webhook's own pods, never updates;
// and with the webhook down, opted-in pods are refused while every other pod is still created.
func TestDevOverlayRoutingOnRealAPIServer(t *testing.T) {
	c := kubetest.Start(t)
	stub, srv := installDevWebhook(t, c)
	kubectl(t, c, nil, "create", "namespace", "apps")

	ctx := context.Background()
	create := func(ns, pod string, annotations, lbls map[string]string) error {
		_, err := c.Client.CoreV1().Pods(ns).Create(ctx, restrictedPod(pod, annotations, lbls), metav1.CreateOptions{})
		return err
	}
	optIn := map[string]string{contract.AnnotationInject: contract.InjectTrue}
	// The configuration is read by the API server asynchronously: wait until an opted-in pod
	// reaches the stub.
	wait.For(t, 15*time.Second, "the API server calls the dev webhook", func() bool {
		_ = create("apps", "probe-"+time.Now().Format("150405.000000")[7:], optIn, nil)
		stub.mu.Lock()
		defer stub.mu.Unlock()
		return len(stub.calls) > 0
	})

	cases := []struct {
		ns, pod     string
		annotations map[string]string
		labels      map[string]string
		wantCalls   int
	}{
		{"apps", "opted-in", optIn, nil, 1},
		{"apps", "plain", nil, nil, 0},
		{"apps", "other-annotations", map[string]string{"example.com/x": "true"}, nil, 0},
		{"apps", "inject-false", map[string]string{contract.AnnotationInject: "false"}, nil, 0},
		{"apps", "inject-yes", map[string]string{contract.AnnotationInject: "yes"}, nil, 0},
		{"apps", "vault-k8s-opted-in", map[string]string{"vault.hashicorp.com/agent-inject": "true"}, nil, 1},
		{"apps", "vault-k8s-false", map[string]string{"vault.hashicorp.com/agent-inject": "false", "vault.hashicorp.com/role": "x"}, nil, 0},
		{"apps", "webhook-own-pod", optIn, map[string]string{"app.kubernetes.io/name": "vault-injector"}, 0},
		{"kube-system", "system-pod", optIn, nil, 0},
		{ns, "webhook-namespace-pod", optIn, nil, 0},
	}
	for _, tc := range cases {
		if err := create(tc.ns, tc.pod, tc.annotations, tc.labels); err != nil {
			t.Fatalf("creating %s/%s: %v", tc.ns, tc.pod, err)
		}
		if got := stub.count(tc.ns, tc.pod); got != tc.wantCalls {
			t.Errorf("%s/%s reached the webhook %d times, want %d", tc.ns, tc.pod, got, tc.wantCalls)
		}
	}
	p, err := c.Client.CoreV1().Pods("apps").Get(ctx, "opted-in", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Labels = map[string]string{"updated": "yes"}
	if _, err := c.Client.CoreV1().Pods("apps").Update(ctx, p, metav1.UpdateOptions{}); err != nil || stub.count("apps", "opted-in") != 1 {
		t.Errorf("an update reached the webhook (calls %d) or failed: %v", stub.count("apps", "opted-in"), err)
	}

	// failurePolicy Fail, limited by matchConditions: only opted-in pods pay for an outage.
	_ = srv.Close()
	if err := create("apps", "opted-in-while-down", optIn, nil); err == nil || !strings.Contains(err.Error(), webhookName) {
		t.Errorf("an opted-in pod was admitted with the webhook down (err %v)", err)
	}
	if err := create("apps", "plain-while-down", nil, nil); err != nil {
		t.Errorf("a pod that did not opt in was refused with the webhook down: %v", err)
	}
}

// installDevWebhook serves a stub webhook on 127.0.0.1 with dev certificates and applies the
// dev overlay pointing at it, as the README tells harnesses to (URL replaced, CA patched in).
func installDevWebhook(t *testing.T, c *kubetest.Cluster) (*stubWebhook, *http.Server) {
	t.Helper()
	dc, err := certs.WriteDevCerts(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	stub := &stubWebhook{calls: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: stub, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.ServeTLS(ln, dc.CertFile, dc.KeyFile) }()
	t.Cleanup(func() { _ = srv.Close() })

	manifests := kustomize(t, "overlays/dev")
	if !strings.Contains(string(manifests), devURL) {
		t.Fatalf("dev overlay lacks the placeholder URL %s", devURL)
	}
	url := "https://" + ln.Addr().String() + "/mutate"
	applyTwoPhase(t, c, []byte(strings.ReplaceAll(string(manifests), devURL, url)))
	kubectl(t, c, nil, "patch", "mutatingwebhookconfiguration", name, "--type=json", "-p",
		`[{"op":"add","path":"/webhooks/0/clientConfig/caBundle","value":"`+base64.StdEncoding.EncodeToString(dc.CAPEM)+`"}]`)
	return stub, srv
}

// restrictedPod passes the restricted Pod Security level, which the webhook's namespace enforces.
func restrictedPod(name string, annotations, lbls map[string]string) *corev1.Pod {
	no, yes := false, true
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations, Labels: lbls},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "app", Image: "registry.invalid/app:1",
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: &no,
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
}
