package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

// TestRunWritesVerifiableFiles checks the files `make demo` uses: tls.crt verifies against
// ca.crt for every -host given (comma lists and repeats).
func TestRunWritesVerifiableFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	if err := run([]string{"-dir", dir, "-host", "127.0.0.1,localhost", "-host", "webhook.local"}); err != nil {
		t.Fatal(err)
	}
	read := func(name string) *x509.Certificate {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(b)
		if block == nil {
			t.Fatalf("%s is not PEM", name)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return c
	}
	roots := x509.NewCertPool()
	roots.AddCert(read("ca.crt"))
	leaf := read("tls.crt")
	for _, h := range []string{"127.0.0.1", "localhost", "webhook.local"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: h}); err != nil {
			t.Errorf("tls.crt for %s: %v", h, err)
		}
	}
	if err := run([]string{}); err == nil {
		t.Fatal("missing -dir must be an error")
	}
}
