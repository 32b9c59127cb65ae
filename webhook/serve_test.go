package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-injector/vault-injector/certs"
	"github.com/vault-injector/vault-injector/test/freeport"
	"github.com/vault-injector/vault-injector/test/syncbuf"
	"github.com/vault-injector/vault-injector/test/testpki"
	"github.com/vault-injector/vault-injector/test/wait"
)

// TestServe starts the real serve command with certificate files and checks readiness, a
// TLS-verified admission round trip, metrics, and a clean stop.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	dev, err := certs.WriteDevCerts(dir, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	port, health, metrics := freeport.For(t, "127.0.0.1"), freeport.For(t, "127.0.0.1"), freeport.For(t, "127.0.0.1")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var logs syncbuf.Buffer
	go func() {
		done <- Main(ctx, []string{"serve", "--tls-self-managed=false", "--tls-dir", dir,
			"--host", "127.0.0.1", "--port", fmt.Sprint(port),
			"--health-addr", fmt.Sprintf("127.0.0.1:%d", health), "--metrics-addr", fmt.Sprintf("127.0.0.1:%d", metrics),
			"--vault-addr", "https://vault:8200", "--agent-image", "agent:v1"}, nil, io.Discard, &logs)
	}()
	waitOK(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", health))

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(dev.CAPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	body := strings.NewReader(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1",
		"kind":{"version":"v1","kind":"Pod"},"resource":{"version":"v1","resource":"pods"},"namespace":"ns","operation":"CREATE",
		"object":{"metadata":{"name":"p","annotations":{"vault-injector.io/inject":"true","vault-injector.io/role":"r",
		"vault-injector.io/secret-a":"kv/a"}},"spec":{"containers":[{"name":"app","image":"app:1"}]}}}}`)
	resp, err := client.Post(fmt.Sprintf("https://127.0.0.1:%d/mutate", port), "application/json", body)
	if err != nil {
		t.Fatalf("TLS round trip with the dev CA: %v", err)
	}
	var review admissionv1.AdmissionReview
	err = json.NewDecoder(resp.Body).Decode(&review)
	resp.Body.Close()
	if err != nil || review.Response == nil || !review.Response.Allowed || len(review.Response.Patch) == 0 {
		t.Fatalf("review %+v, err %v", review.Response, err)
	}

	m := get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics))
	for _, w := range []string{`vault_injector_injections_total{shape="native-sidecar"} 1`, `controller_runtime_webhook_requests_total{code="200",webhook="/mutate"} 1`} {
		if !strings.Contains(m, w) {
			t.Errorf("metrics lack %q", w)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d:\n%s", code, logs.String())
		}
	case <-time.After(70 * time.Second):
		t.Fatal("serve did not stop")
	}
	if strings.Contains(logs.String(), "kv/a") {
		t.Error("logs contain an annotation value")
	}
}

func waitOK(t *testing.T, url string) {
	t.Helper()
	wait.For(t, 30*time.Second, url+" to answer 200", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestServeClientCA runs serve with --client-ca-file (in a process of its own: the metrics of
// one Main per process): /mutate refuses a client without a certificate at once, before its
// body is read; a certificate from another CA fails the handshake; the API server's
// certificate is admitted; /readyz, which dials without one, stays ready.
func TestServeClientCA(t *testing.T) {
	clientCA, err := testpki.NewCA("kube-apiserver-webhook-client-ca")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "client-ca.crt")
	if err := os.WriteFile(caFile, clientCA.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	p := startWebhookProcess(t, "--client-ca-file", caFile)

	client := func(ca *testpki.CA) *http.Client {
		cfg := p.tlsConfig()
		if ca != nil {
			pair, err := ca.Client("kube-apiserver")
			if err != nil {
				t.Fatal(err)
			}
			cert, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
			if err != nil {
				t.Fatal(err)
			}
			// Sent whatever CAs the server names (Go's client would keep back a certificate
			// of another CA, and be refused as having none).
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
	}
	url := "https://" + p.addr + "/mutate"

	t.Run("the API server's certificate is admitted", func(t *testing.T) {
		if err := admitSmallPod(client(clientCA), p.addr, "with-cert"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no certificate is refused before the body is read", func(t *testing.T) {
		// Announce 7 MiB and send none of it: the refusal must not wait for the body.
		body, w := io.Pipe()
		defer w.Close()
		req, err := http.NewRequest(http.MethodPost, url, body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = 7 << 20
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := client(nil).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var status metav1.Status
		if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); resp.StatusCode != http.StatusUnauthorized || status.Code != http.StatusUnauthorized ||
			!strings.Contains(status.Message, "--client-ca-file") || took > 2*time.Second {
			t.Errorf("after %s: status %d, %+v; want a prompt 401 naming --client-ca-file", took, resp.StatusCode, status)
		}
	})
	t.Run("a certificate from another CA fails the handshake", func(t *testing.T) {
		other, err := testpki.NewCA("other")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client(other).Post(url, "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("status %d, want the TLS handshake refused", resp.StatusCode)
		}
		// With TLS 1.3 the client finishes its side of the handshake before the server checks
		// the certificate, so the client's error varies (the server's alert, a closed
		// connection, HTTP/2's failed preface); the server's log says why it refused.
		deadline := time.Now().Add(5 * time.Second)
		for {
			b, _ := os.ReadFile(p.logFile)
			if strings.Contains(string(b), "TLS handshake error") && strings.Contains(string(b), "certificate signed by unknown authority") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("refused with %v, but the webhook's log names no handshake refused for an unknown authority", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	waitOK(t, p.health+"/readyz")
}
