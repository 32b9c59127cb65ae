package certs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/certwatcher"

	"github.com/vault-injector/vault-injector/test/wait"
)

// TestWriteDevCertsServesOnLoopback uses the dev files exactly as `make demo` does: a TLS
// server on 127.0.0.1 and a client that trusts only ca.crt and dials the IP.
func TestWriteDevCertsServesOnLoopback(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dc, err := WriteDevCerts(dir, "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dc.KeyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi, err)
	}
	pair, err := tls.LoadX509KeyPair(dc.CertFile, dc.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := pair.PrivateKey.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		t.Fatalf("key is %T, want ECDSA P-256", pair.PrivateKey)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	}()
	caPEM, err := os.ReadFile(dc.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt holds no certificate")
	}
	for _, name := range []string{"127.0.0.1", "localhost"} {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(),
			&tls.Config{RootCAs: roots, ServerName: name, MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatalf("TLS to %s as %q: %v", ln.Addr(), name, err)
		}
		_ = conn.Close()
	}
	if _, err := WriteDevCerts(t.TempDir()); err == nil {
		t.Fatal("WriteDevCerts without hosts must fail")
	}
}

// TestWriteFilesSwapsPairForCertWatcher checks the ..data swap against controller-runtime's
// cert watcher: the new pair is loaded from the fsnotify event (its poll is every 10s, the
// test allows 3s), and the previous version directory is kept until the next write.
func TestWriteFilesSwapsPairForCertWatcher(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := policy{Hosts: []string{"127.0.0.1"}, CAValidity: time.Hour, LeafValidity: time.Minute}
	first, _, err := p.fresh(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	files := func(s *state) map[string][]byte {
		return map[string][]byte{KeyCert: s.Leaf.CertPEM, KeyKey: s.Leaf.KeyPEM, KeyCABundle: s.bundle()}
	}
	if changed, err := writeFiles(dir, files(first)); err != nil || !changed {
		t.Fatalf("first write: changed=%v err=%v", changed, err)
	}
	if changed, err := writeFiles(dir, files(first)); err != nil || changed {
		t.Fatalf("identical write must be a no-op: changed=%v err=%v", changed, err)
	}
	cw, err := certwatcher.New(dir+"/"+KeyCert, dir+"/"+KeyKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = cw.Start(ctx) }()
	time.Sleep(1500 * time.Millisecond) // Start adds its watches on a 1s poll

	second, _, err := p.fresh(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writeFiles(dir, files(second)); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 3*time.Second, "the cert watcher to serve the second certificate", func() bool {
		c, _ := cw.GetCertificate(nil)
		return c != nil && bytes.Equal(c.Certificate[0], second.Leaf.Cert.Raw)
	})
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 6 { // ..data, the current and the previous version dirs, tls.crt, tls.key, ca-bundle.crt
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("cert dir holds %v, want ..data, one version and three links", names)
	}
}
