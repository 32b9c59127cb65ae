package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// maxBackdate bounds how far NotBefore is moved into the past, so a peer whose clock is a
// little behind ours does not reject a certificate as "not yet valid".
const maxBackdate = time.Minute

// backdate is a tenth of the validity, at most maxBackdate: short-lived test certificates keep
// most of their life, production ones get the full minute.
func backdate(validity time.Duration) time.Duration {
	return min(maxBackdate, validity/10)
}

// keyPair is a certificate with its private key, both parsed and PEM-encoded.
type keyPair struct {
	Cert    *x509.Certificate
	Key     *ecdsa.PrivateKey
	CertPEM []byte
	KeyPEM  []byte
}

// newCA makes a self-signed ECDSA P-256 CA valid for validity from now (minus the backdate).
func newCA(commonName string, now time.Time, validity time.Duration) (*keyPair, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-backdate(validity)),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// Leaves only: a stolen CA key cannot mint intermediates.
		MaxPathLenZero: true,
	}
	return issue(tmpl, nil)
}

// newLeaf makes an ECDSA P-256 serving certificate for hosts (DNS names or IPs) signed by ca.
// It never outlives the CA, so a CA rollover never leaves a leaf that no bundle can verify.
func newLeaf(ca *keyPair, hosts []string, now time.Time, validity time.Duration) (*keyPair, error) {
	if len(hosts) == 0 {
		return nil, errors.New("serving certificate needs at least one host")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		NotBefore:   now.Add(-backdate(validity)),
		NotAfter:    now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return issue(tmpl, ca)
}

// issue generates a fresh key for tmpl and signs it with parent, or self-signs when parent is nil.
func issue(tmpl *x509.Certificate, parent *keyPair) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating ECDSA P-256 key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	tmpl.SerialNumber = serial
	signerCert, signerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		signerCert, signerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signerKey)
	if err != nil {
		return nil, fmt.Errorf("signing certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing new certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	return &keyPair{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// parseKeyPair decodes one PEM certificate and its matching ECDSA key. The errors name what is
// wrong (never the key bytes) because they end up in the "replacing corrupt Secret" log line.
func parseKeyPair(certPEM, keyPEM []byte) (*keyPair, error) {
	certs, err := parseCerts(certPEM)
	if err != nil {
		return nil, err
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("want exactly one certificate, found %d", len(certs))
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("private key is not PEM")
	}
	key, err := parsePrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	pub, ok := certs[0].PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("private key does not match the certificate")
	}
	return &keyPair{Cert: certs[0], Key: key, CertPEM: certPEMOf(certs[0]), KeyPEM: keyPEM}, nil
}

// parsePrivateKey accepts SEC 1 ("EC PRIVATE KEY") and PKCS #8 ECDSA keys.
func parsePrivateKey(der []byte) (*ecdsa.PrivateKey, error) {
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("private key is neither SEC 1 nor PKCS #8")
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is %T, want ECDSA", k)
	}
	return ec, nil
}

// parseCerts decodes every CERTIFICATE block of a PEM bundle; anything else is an error.
func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := bytes.TrimSpace(b); len(rest) > 0; rest = bytes.TrimSpace(rest) {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("data after the last PEM block is not PEM")
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate found")
	}
	return out, nil
}

// parseCertsLenient returns every certificate of a PEM bundle that parses, and an error
// describing the first part that does not.
func parseCertsLenient(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	var first error
	fail := func(err error) {
		if first == nil {
			first = err
		}
	}
	for rest := bytes.TrimSpace(b); len(rest) > 0; rest = bytes.TrimSpace(rest) {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			fail(errors.New("data after the last PEM block is not PEM"))
			break
		}
		if block.Type != "CERTIFICATE" {
			fail(fmt.Errorf("unexpected PEM block %q", block.Type))
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			fail(fmt.Errorf("parsing certificate: %w", err))
			continue
		}
		out = append(out, c)
	}
	if len(out) == 0 && first == nil {
		first = errors.New("no certificate found")
	}
	return out, first
}

func certPEMOf(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// renewAt is two thirds into the certificate's life: a third of it is left to retry renewals
// and to let every replica and the API server pick the new one up.
func renewAt(c *x509.Certificate) time.Time {
	return c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) * 2 / 3)
}
