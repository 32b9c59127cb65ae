package render

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/agent/vault"
	"github.com/vault-injector/vault-injector/contract"
)

// pkiSource answers writes to pki/issue/web with a new certificate each time, valid from
// notBefore to notAfter, and counts them.
type pkiSource struct {
	t                   *testing.T
	notBefore, notAfter time.Time
	writes              int
}

func (p *pkiSource) Secret(path string, data map[string]any) (*vault.Secret, error) {
	p.t.Helper()
	if path != "pki/issue/web" || data["common_name"] != "www.example.com" {
		p.t.Fatalf("unexpected request %s %v", path, data)
	}
	p.writes++
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"}, IsCA: true,
		BasicConstraintsValid: true, NotBefore: p.notBefore, NotAfter: p.notAfter.Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(int64(p.writes + 1)), Subject: pkix.Name{CommonName: "www.example.com"},
		NotBefore: p.notBefore, NotAfter: p.notAfter}
	der, _ := x509.CreateCertificate(rand.Reader, leaf, caTmpl, &key.PublicKey, caKey)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	enc := func(typ string, b []byte) string {
		return strings.TrimSuffix(string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b})), "\n")
	}
	return &vault.Secret{Data: map[string]any{
		"certificate": enc("CERTIFICATE", der), "issuing_ca": enc("CERTIFICATE", caDER),
		"ca_chain": []any{enc("CERTIFICATE", caDER)}, "private_key": enc("EC PRIVATE KEY", keyDER), "serial_number": "01",
	}}, nil
}

// TestPKICertCachedUntilRenewal: pkiCert issues once and serves the same certificate while it
// is short of 90 % (±3 %) of its lifetime; past that point, the next render issues a new one.
func TestPKICertCachedUntilRenewal(t *testing.T) {
	tmpl := `{{ with pkiCert "pki/issue/web" "common_name=www.example.com" }}{{ .Cert }}{{ .Data.Key }}{{ .CA }}{{ len .CAChain }}{{ end }}`
	it, err := Compile(contract.Secret{Name: "c", Path: "pki/issue/web", Template: tmpl, File: "c", Perms: 0o400})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	fresh := &pkiSource{t: t, notBefore: now.Add(-time.Minute), notAfter: now.Add(time.Hour)}
	first, err := it.Render(fresh)
	if err != nil {
		t.Fatal(err)
	}
	second, err := it.Render(fresh)
	if err != nil || string(second) != string(first) || fresh.writes != 1 {
		t.Errorf("a fresh certificate was issued again (%d writes, same output %v, %v)", fresh.writes, string(second) == string(first), err)
	}
	s := string(first)
	if strings.Count(s, "BEGIN CERTIFICATE") != 2 || strings.Count(s, "BEGIN EC PRIVATE KEY") != 1 || !strings.HasSuffix(s, "-----\n1") {
		t.Errorf("unexpected layout:\n%s", s)
	}

	it2, _ := Compile(contract.Secret{Name: "c", Path: "pki/issue/web", Template: tmpl, File: "c", Perms: 0o400})
	old := &pkiSource{t: t, notBefore: now.Add(-time.Hour), notAfter: now.Add(time.Minute)}
	if _, err := it2.Render(old); err != nil {
		t.Fatal(err)
	}
	if _, err := it2.Render(old); err != nil || old.writes != 2 {
		t.Errorf("a certificate past its renewal point was not renewed (%d writes, %v)", old.writes, err)
	}
}

func TestPKICertRefusesAnswerWithoutCertificate(t *testing.T) {
	if _, _, err := pemsOf(map[string]any{"value": "x"}); err == nil || !strings.Contains(err.Error(), "pki/issue/<role>") {
		t.Errorf("err %v", err)
	}
}
