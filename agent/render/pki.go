package render

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/rand/v2"
	"strings"
	"sync"
	"text/template"
	"time"
)

// PemEncoded is what pkiCert returns, as in consul-template: the certificate, its key, the
// issuing CA and the CA chain, each a PEM block ending in a newline. .Data returns itself, so
// both {{ .Cert }} and {{ .Data.Cert }} work.
type PemEncoded struct {
	Cert, Key, CA string
	CAChain       []string
}

// Data mimics a secret's Data, as consul-template's does.
func (p PemEncoded) Data() PemEncoded { return p }

// certCache keeps each pkiCert issue of one secret until its renewal point, so the
// certificate is not replaced at every refresh but before it expires.
type certCache struct {
	mu    sync.Mutex
	certs map[string]issued
}

type issued struct {
	pems    PemEncoded
	renewAt time.Time
}

// renewalShare is the part of a certificate's lifetime after which it is renewed, with ±3 %
// jitter: consul-template's default (VaultLeaseRenewalThreshold 0.9).
const renewalShare = 0.9

// pkiCertFunc issues a certificate with a write to path (pki/issue/<role>) and key=value args,
// or returns the one issued before while it is short of its renewal point.
func (it *Item) pkiCertFunc(src Source) func(string, ...string) (PemEncoded, error) {
	return func(path string, args ...string) (PemEncoded, error) {
		if err := it.refuseTokenPath(path); err != nil {
			return PemEncoded{}, err
		}
		data, err := writeArgs(args)
		if err != nil {
			return PemEncoded{}, err
		}
		if data == nil {
			data = map[string]any{}
		}
		b, _ := json.Marshal(data)
		key := path + "?" + string(b)
		c := &it.certs
		c.mu.Lock()
		defer c.mu.Unlock()
		if e, ok := c.certs[key]; ok && time.Now().Before(e.renewAt) {
			return e.pems, nil
		}
		s, err := src.Secret(path, data)
		if err != nil {
			if it.computed(path, args) {
				return PemEncoded{}, withholdComputed(err)
			}
			return PemEncoded{}, err
		}
		pems, cert, err := pemsOf(s.Data)
		if err != nil {
			return PemEncoded{}, err
		}
		if c.certs == nil {
			c.certs = map[string]issued{}
		}
		c.certs[key] = issued{pems: pems, renewAt: renewalPoint(cert)}
		return pems, nil
	}
}

// renewalPoint is 87-93 % into the certificate's lifetime.
func renewalPoint(cert *x509.Certificate) time.Time {
	if cert == nil {
		return time.Time{}
	}
	life := cert.NotAfter.Sub(cert.NotBefore)
	share := renewalShare + (rand.Float64()*6-3)/100
	return cert.NotBefore.Add(time.Duration(float64(life) * share))
}

// pemsOf sorts the PEM blocks of a PKI issue's answer into a PemEncoded: private keys, CA
// certificates (the first is CA, all are CAChain) and the leaf certificate.
func pemsOf(data map[string]any) (PemEncoded, *x509.Certificate, error) {
	var raw []string
	for _, k := range []string{"certificate", "issuing_ca", "private_key"} {
		if s, ok := data[k].(string); ok {
			raw = append(raw, s)
		}
	}
	if chain, ok := data["ca_chain"].([]any); ok {
		for _, c := range chain {
			if s, ok := c.(string); ok {
				raw = append(raw, s)
			}
		}
	}
	var p PemEncoded
	var leaf *x509.Certificate
	rest := []byte(strings.Join(raw, "\n"))
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		enc := string(pem.EncodeToMemory(block))
		if strings.HasSuffix(block.Type, "PRIVATE KEY") {
			p.Key = enc
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return PemEncoded{}, nil, safef("pkiCert: the answer holds a certificate that does not parse")
		}
		switch {
		case !cert.IsCA:
			leaf, p.Cert = cert, enc
		case !contains(p.CAChain, enc):
			if p.CA == "" {
				p.CA = enc
			}
			p.CAChain = append(p.CAChain, enc)
		}
	}
	if leaf == nil {
		return PemEncoded{}, nil, safef("pkiCert: the answer has no certificate: use a pki/issue/<role> path")
	}
	return p, leaf, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// pkiFuncs binds pkiCert to this item's cache and source.
func (it *Item) pkiFuncs(src Source) template.FuncMap {
	return template.FuncMap{"pkiCert": it.pkiCertFunc(src)}
}
