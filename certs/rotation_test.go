package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"

	"github.com/vault-injector/vault-injector/test/wait"
)

// rotationRun is what the client side of testRotation saw.
type rotationRun struct {
	mu           sync.Mutex
	ok, failed   int
	firstErrs    []string
	leaves, cas  map[string]bool
	maxBundleCAs int
	keptPrevious bool // the bundle held the first CA while the Secret's CA was already a new one
}

func (r *rotationRun) result(leaf *x509.Certificate, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.failed++
		if len(r.firstErrs) < 5 {
			r.firstErrs = append(r.firstErrs, err.Error())
		}
		return
	}
	r.ok++
	r.leaves[leaf.SerialNumber.String()] = true
	r.cas[string(leaf.AuthorityKeyId)] = true
}

// testRotation serves HTTPS from the Manager's cert dir through controller-runtime's cert
// watcher (what the webhook server uses) while a client calls it over a new TLS connection
// every 25ms for 26s, trusting only the webhook configuration's caBundle as re-read every
// 200ms (the API server also learns it with a lag). With a 6s leaf and a 24s CA this spans
// about seven leaf rotations and one CA rollover; not one request may fail.
func testRotation(t *testing.T, client kubernetes.Interface) {
	ns, dir := "certs-rotation", t.TempDir()
	createNamespace(t, client, ns)
	opts := testOptions(ns, dir, (&logBuffer{}).logger(t, "m"))
	opts.LeafValidity, opts.CAValidity, opts.PropagationDelay = 6*time.Second, 24*time.Second, 2*time.Second
	createWebhookConfig(t, client, opts.WebhookConfigName)
	m := startManager(t, client, opts)
	firstCA := getSecret(t, client, ns, opts.SecretName).Data[KeyCACert]

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := serveFromCertDir(t, ctx, m)

	run := &rotationRun{leaves: map[string]bool{}, cas: map[string]bool{}}
	var roots atomic.Pointer[x509.CertPool]
	wait.Until(t, 10*time.Second, func() error { return loadRoots(ctx, client, opts, firstCA, &roots, run) })
	go func() {
		for ctx.Err() == nil {
			_ = loadRoots(ctx, client, opts, firstCA, &roots, run) // a failed read keeps the old pool
			time.Sleep(200 * time.Millisecond)
		}
	}()
	for end := time.Now().Add(26 * time.Second); time.Now().Before(end); time.Sleep(25 * time.Millisecond) {
		run.result(call(addr, "vault-injector."+ns+".svc", roots.Load()))
	}
	cancel()

	run.mu.Lock()
	defer run.mu.Unlock()
	t.Logf("%d requests ok, %d failed; %d leaves and %d CAs served; caBundle held up to %d CAs",
		run.ok, run.failed, len(run.leaves), len(run.cas), run.maxBundleCAs)
	if run.failed != 0 || run.ok < 200 {
		t.Fatalf("%d failed, %d ok (want 0 failed, >= 200 ok); first errors: %q", run.failed, run.ok, run.firstErrs)
	}
	if len(run.leaves) < 5 || len(run.cas) < 2 {
		t.Fatalf("served %d leaves from %d CAs, want >= 5 leaves and a CA rollover", len(run.leaves), len(run.cas))
	}
	if run.maxBundleCAs < 2 || !run.keptPrevious {
		t.Fatalf("caBundle never held two CAs (max %d) or dropped the previous CA at once", run.maxBundleCAs)
	}
}

// serveFromCertDir starts an HTTPS server on 127.0.0.1 whose certificate comes from a cert
// watcher on the Manager's files, and returns its address.
func serveFromCertDir(t *testing.T, ctx context.Context, m *Manager) string {
	t.Helper()
	cw, err := certwatcher.New(m.CertFile(), m.KeyFile())
	if err != nil {
		t.Fatalf("cert watcher: %v", err)
	}
	go func() { _ = cw.Start(ctx) }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }),
		TLSConfig:         &tls.Config{GetCertificate: cw.GetCertificate, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// loadRoots refreshes the client's trust from the webhook configuration, as the API server does.
func loadRoots(ctx context.Context, client kubernetes.Interface, opts Options, firstCA []byte, roots *atomic.Pointer[x509.CertPool], run *rotationRun) error {
	cfg, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, opts.WebhookConfigName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	bundle := cfg.Webhooks[0].ClientConfig.CABundle
	cas, err := parseCerts(bundle)
	if err != nil {
		return fmt.Errorf("caBundle: %w", err)
	}
	sec, err := client.CoreV1().Secrets(opts.Namespace).Get(ctx, opts.SecretName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle)
	roots.Store(pool)
	run.mu.Lock()
	defer run.mu.Unlock()
	run.maxBundleCAs = max(run.maxBundleCAs, len(cas))
	if !bytes.Equal(sec.Data[KeyCACert], firstCA) && bytes.Contains(bundle, firstCA) {
		run.keptPrevious = true
	}
	return nil
}

// call makes one request over a fresh TLS connection and returns the served leaf.
func call(addr, serverName string, roots *x509.CertPool) (*x509.Certificate, error) {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := c.Get("https://" + addr + "/")
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil || string(body) != "ok" {
		return nil, errors.Join(err, fmt.Errorf("unexpected response %d %q", resp.StatusCode, body))
	}
	return resp.TLS.PeerCertificates[0], nil
}
