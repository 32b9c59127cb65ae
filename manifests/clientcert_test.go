package manifests

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/vault-injector/vault-injector/certs"
	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/freeport"
	"github.com/vault-injector/vault-injector/test/kubetest"
	"github.com/vault-injector/vault-injector/test/testbin"
	"github.com/vault-injector/vault-injector/test/testpki"
	"github.com/vault-injector/vault-injector/test/wait"
	"github.com/vault-injector/vault-injector/webhook/server"
)

// admissionDir is where docs/install.md puts the API server's admission files.
const admissionDir = "/etc/kubernetes/admission/"

// TestClientCertificateOnRealAPIServer starts a real kube-apiserver with the admission
// configuration and kubeconfig of docs/install.md ("The API server's client certificate"),
// only its paths and the webhook's address changed to the test's, and the webhook with
// --client-ca-file: an opted-in pod is injected, so the API server presented its certificate.
// Called at an address the kubeconfig names no certificate for, the API server is refused, and
// the pod's creation fails with the webhook's message.
func TestClientCertificateOnRealAPIServer(t *testing.T) {
	dir := t.TempDir()
	serving, err := certs.WriteDevCerts(filepath.Join(dir, "serving"), "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := testpki.NewCA("vault-injector-client-ca")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Client("kube-apiserver")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := client.Write(dir, "vault-injector-client.crt", "vault-injector-client.key"); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "client-ca.crt")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	port, health := freeport.For(t, "127.0.0.1"), freeport.For(t, "127.0.0.1")
	address := fmt.Sprintf("127.0.0.1:%d", port)
	for _, f := range []string{"admission-config.yaml", "webhook-kubeconfig.yaml"} {
		doc := strings.NewReplacer(admissionDir, dir+"/", "name: vault-injector.vault-injector.svc", "name: "+address).Replace(docBlock(t, admissionDir+f))
		if err := os.WriteFile(filepath.Join(dir, f), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := startAPIServer(t, "admission-control-config-file", filepath.Join(dir, "admission-config.yaml"))

	cfg := parseServeArgs(t, []string{"--tls-self-managed=false", "--tls-dir=" + serving.Dir, "--host=127.0.0.1",
		fmt.Sprintf("--port=%d", port), fmt.Sprintf("--health-addr=127.0.0.1:%d", health), "--metrics-addr=",
		"--vault-addr=https://vault:8200", "--agent-image=agent:v1", "--client-ca-file=" + caFile})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg, logr.Discard(), nil) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("the webhook stopped with %v", err)
		}
	})
	wait.For(t, 30*time.Second, "the webhook ready", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", health))
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})

	register := func(host string) {
		t.Helper()
		mwc := find[*admissionregistrationv1.MutatingWebhookConfiguration](t, decode(t, kustomize(t, "overlays/dev")), "MutatingWebhookConfiguration", name)
		mwc.TypeMeta = metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"}
		mwc.Webhooks[0].ClientConfig.URL = ptr(fmt.Sprintf("https://%s:%d/mutate", host, port))
		mwc.Webhooks[0].ClientConfig.CABundle = serving.CAPEM
		doc, err := yaml.Marshal(mwc)
		if err != nil {
			t.Fatal(err)
		}
		c.kubectl(t, doc, "apply", "--server-side", "--force-conflicts", "--field-manager=test", "-f", "-")
	}
	c.kubectl(t, nil, "create", "namespace", "apps")
	pods := c.Client.CoreV1().Pods("apps")
	pod := func() *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "app-", Annotations: map[string]string{
				contract.AnnotationInject: contract.InjectTrue, contract.Prefix + "role": "app", contract.Prefix + "secret-db": "secret/db"}},
			Spec: corev1.PodSpec{ServiceAccountName: "app", Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
		}
	}

	register("127.0.0.1")
	// The API server loads webhook configurations through an informer: the first creations
	// may not see it yet.
	wait.Until(t, 30*time.Second, func() error {
		p, err := pods.Create(context.Background(), pod(), metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("creating an opted-in pod: %w", err)
		}
		if p.Annotations[contract.AnnotationStatus] != contract.StatusInjected {
			return fmt.Errorf("pod %s created without injection (the configuration not loaded yet?)", p.Name)
		}
		return nil
	})

	register("localhost") // an address the kubeconfig has no certificate for
	var last error
	wait.For(t, 30*time.Second, "the API server refused for want of a client certificate", func() bool {
		_, last = pods.Create(context.Background(), pod(), metav1.CreateOptions{})
		return last != nil && strings.Contains(last.Error(), "--client-ca-file")
	})
	t.Logf("without a certificate, creating an opted-in pod fails with:\n%v", last)

	register("127.0.0.1")
	t.Run("busy: the API server passes on 429 with Retry-After and client-go retries", func(t *testing.T) {
		testBusyThroughAPIServer(t, c.Client, pod, address, serving.CAPEM, client)
	})
}

// testBusyThroughAPIServer fills the webhook's budget for large bodies with stalled requests
// (exactly: four bodies of a quarter of it each), then creates a pod whose review is over
// 64 KiB. Without retries the creation fails with the webhook's 429, a Retry-After and its
// message; with client-go's own retries it succeeds once the read deadline has cut the
// stalled bodies.
func testBusyThroughAPIServer(t *testing.T, cs kubernetes.Interface, pod func() *corev1.Pod, address string, servingCA []byte, client testpki.Pair) {
	cert, err := tls.X509KeyPair(client.CertPEM, client.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(servingCA)
	// A body of n bytes is charged n+1 less its 4 KiB head (webhook/server/body.go).
	const quarter = (server.BodyBudgetBytes - server.SmallBodyReserve) / 4
	const announced = quarter + 4<<10 - 1
	for i := range 4 {
		conn, err := tls.Dial("tcp", address, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /mutate HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", address, announced)
		prefix := fmt.Sprintf(`{"request":{"uid":"stalled-%d","object":{"metadata":{"name":"`, i)
		if _, err := conn.Write(append([]byte(prefix), bytes.Repeat([]byte("x"), announced-1-len(prefix))...)); err != nil {
			t.Fatal(err)
		}
	}
	large := func() *corev1.Pod {
		p := pod()
		p.Annotations["example.com/blob"] = strings.Repeat("x", 100<<10)
		return p
	}
	var refusal error
	wait.For(t, 3*time.Second, "a large pod refused as busy", func() bool {
		refusal = cs.CoreV1().RESTClient().Post().Namespace("apps").Resource("pods").Body(large()).MaxRetries(0).Do(context.Background()).Error()
		return apierrors.IsTooManyRequests(refusal)
	})
	if delay, ok := apierrors.SuggestsClientDelay(refusal); !ok || delay != 1 || !strings.Contains(refusal.Error(), "busy") {
		t.Errorf("refusal %v: Retry-After %d (%v), want 1 and the webhook's message", refusal, delay, ok)
	}
	t.Logf("without retries, creating a large opted-in pod fails with:\n%v", refusal)
	start := time.Now()
	p, err := cs.CoreV1().Pods("apps").Create(context.Background(), large(), metav1.CreateOptions{})
	if err != nil || p.Annotations[contract.AnnotationStatus] != contract.StatusInjected {
		t.Fatalf("with client-go's retries, after %s: %v", time.Since(start), err)
	}
	t.Logf("created with client-go's retries after %s", time.Since(start).Round(time.Millisecond))
}

// docBlock returns the fenced block of docs/install.md whose first line is "# name".
func docBlock(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../docs/install.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n( *)# " + regexp.QuoteMeta(name) + "\n(.*?)\n *```").FindSubmatch(b)
	if m == nil {
		t.Fatalf("docs/install.md has no yaml block starting with # %s", name)
	}
	indent := string(m[1])
	var lines []string
	for _, l := range strings.Split(string(m[2]), "\n") {
		lines = append(lines, strings.TrimPrefix(l, indent))
	}
	return strings.Join(lines, "\n") + "\n"
}

// startAPIServer runs etcd and kube-apiserver with one more flag, as test/kubetest does.
func startAPIServer(t *testing.T, flag, value string) *apiServer {
	t.Helper()
	assets := t.TempDir()
	for _, name := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if err := os.Symlink(testbin.Must(t, name), filepath.Join(assets, name)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBEBUILDER_ASSETS", assets)
	env := &envtest.Environment{BinaryAssetsDirectory: assets, ControlPlaneStartTimeout: 2 * time.Minute, ControlPlaneStopTimeout: time.Minute}
	env.ControlPlane.GetAPIServer().Configure().Set(flag, value)
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting etcd + kube-apiserver: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	c := &apiServer{kubeconfig: filepath.Join(t.TempDir(), "kubeconfig"), kubectlPath: filepath.Join(assets, "kubectl")}
	if err := os.WriteFile(c.kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	if c.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return c
}

// apiServer is a kube-apiserver started by startAPIServer.
type apiServer struct {
	Client                  kubernetes.Interface
	kubeconfig, kubectlPath string
}

func (c *apiServer) kubectl(t *testing.T, stdin []byte, args ...string) {
	t.Helper()
	if _, _, err := kubetest.Kubectl(c.kubectlPath, stdin, append([]string{"--kubeconfig", c.kubeconfig}, args...)...); err != nil {
		t.Fatal(err)
	}
}
