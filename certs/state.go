package certs

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Keys of the TLS Secret. tls.crt/tls.key/ca.crt follow the kubernetes.io/tls and cert-manager
// conventions so other tools can read the Secret; the rest carry the rollover state.
const (
	KeyCert       = corev1.TLSCertKey       // serving certificate
	KeyKey        = corev1.TLSPrivateKeyKey // its key
	KeyCACert     = "ca.crt"                // CA that signed tls.crt
	KeyCAKey      = "ca.key"                // its key
	KeyNextCACert = "next-ca.crt"           // CA being rolled in (trusted, not yet signing)
	KeyNextCAKey  = "next-ca.key"
	KeyCABundle   = "ca-bundle.crt" // every CA clients must trust: the caBundle
)

// state is what the Secret holds, parsed.
type state struct {
	CA   *keyPair
	Leaf *keyPair
	// NextCA is set during a CA rollover: it is already in the bundle (so the API server
	// learns it) but only signs leaves after the propagation delay.
	NextCA *keyPair
	// Previous are retired CAs kept in the bundle until they expire, so a replica still
	// serving an older leaf keeps working.
	Previous []*x509.Certificate
}

// bundle is the PEM caBundle: signing CA first, then the next and previous ones.
func (s *state) bundle() []byte {
	var b bytes.Buffer
	b.Write(s.CA.CertPEM)
	if s.NextCA != nil {
		b.Write(s.NextCA.CertPEM)
	}
	for _, c := range s.Previous {
		b.Write(certPEMOf(c))
	}
	return b.Bytes()
}

func (s *state) data() map[string][]byte {
	d := map[string][]byte{
		KeyCert:     s.Leaf.CertPEM,
		KeyKey:      s.Leaf.KeyPEM,
		KeyCACert:   s.CA.CertPEM,
		KeyCAKey:    s.CA.KeyPEM,
		KeyCABundle: s.bundle(),
	}
	if s.NextCA != nil {
		d[KeyNextCACert], d[KeyNextCAKey] = s.NextCA.CertPEM, s.NextCA.KeyPEM
	}
	return d
}

// salvageState parses Secret data and keeps every usable part, so a partial corruption (a
// garbled bundle, a lost leaf) costs only that part: a CA whose certificate and key still match
// keeps signing, and CA certificates that only survive in the bundle or without their key stay
// trusted as previous CAs until they expire. problems names each unusable entry (key and
// problem, never key material). s.CA is nil when no CA can sign.
func salvageState(d map[string][]byte) (*state, []string) {
	var s state
	var problems []string
	var orphans []*x509.Certificate // CA certificates whose key is gone: trusted, not signing
	pair := func(certKey, keyKey string, wantCA bool) *keyPair {
		if len(d[certKey]) == 0 || len(d[keyKey]) == 0 {
			problems = append(problems, fmt.Sprintf("%s or %s is missing", certKey, keyKey))
		} else if kp, err := parseKeyPair(d[certKey], d[keyKey]); err != nil {
			problems = append(problems, fmt.Sprintf("%s/%s: %v", certKey, keyKey, err))
		} else if wantCA && !kp.Cert.IsCA {
			problems = append(problems, fmt.Sprintf("%s is not a CA certificate", certKey))
		} else {
			return kp
		}
		if certs, err := parseCerts(d[certKey]); wantCA && err == nil && len(certs) == 1 && certs[0].IsCA {
			orphans = append(orphans, certs[0])
		}
		return nil
	}
	s.CA = pair(KeyCACert, KeyCAKey, true)
	s.Leaf = pair(KeyCert, KeyKey, false)
	if len(d[KeyNextCACert]) > 0 || len(d[KeyNextCAKey]) > 0 {
		s.NextCA = pair(KeyNextCACert, KeyNextCAKey, true)
	}
	if len(d[KeyCABundle]) > 0 {
		all, err := parseCertsLenient(d[KeyCABundle])
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", KeyCABundle, err))
		}
		orphans = append(orphans, all...)
	}
	for _, c := range orphans {
		known := !c.IsCA || (s.CA != nil && c.Equal(s.CA.Cert)) || (s.NextCA != nil && c.Equal(s.NextCA.Cert)) ||
			slices.ContainsFunc(s.Previous, c.Equal)
		if !known {
			s.Previous = append(s.Previous, c)
		}
	}
	return &s, problems
}

// policy decides when certificates are issued, rolled over and dropped. It is pure (the clock
// is an argument) so the rollover sequence is tested without waiting.
type policy struct {
	Hosts            []string
	CAValidity       time.Duration
	LeafValidity     time.Duration
	PropagationDelay time.Duration
}

// step returns the state the Secret should hold at now, with the reasons it differs from cur
// (nil reasons: keep cur). cur nil means there is no usable Secret. published is when a
// caBundle holding cur.NextCA was known to be in place (zero: not yet); the next CA signs
// only PropagationDelay after that, so the API server trusts it before any replica serves it.
func (p policy) step(now time.Time, cur *state, published time.Time) (*state, []string, error) {
	next := state{}
	var why []string
	if cur != nil {
		next = *cur
	}
	if next.CA == nil && next.NextCA != nil && validAt(next.NextCA.Cert, now) {
		// The next CA is in the bundle already: it can sign at once, as after a rollover.
		next.CA, next.NextCA, next.Leaf = next.NextCA, nil, nil
		why = append(why, "signing CA unusable: next CA promoted")
	}
	if next.CA == nil || !validAt(next.CA.Cert, now) {
		fresh, reasons, err := p.fresh(now)
		if err != nil {
			return nil, nil, err
		}
		// CAs that can no longer sign stay trusted until they expire: other replicas may still
		// serve leaves they signed.
		for _, c := range append([]*x509.Certificate{caCert(next.CA), caCert(next.NextCA)}, next.Previous...) {
			if c != nil && now.Before(c.NotAfter) && !slices.ContainsFunc(fresh.Previous, c.Equal) {
				fresh.Previous = append(fresh.Previous, c)
			}
		}
		return fresh, append(why, reasons...), nil
	}
	if next.NextCA != nil && !published.IsZero() && !now.Before(published.Add(p.PropagationDelay)) {
		next.Previous = append([]*x509.Certificate{next.CA.Cert}, next.Previous...)
		next.CA, next.NextCA, next.Leaf = next.NextCA, nil, nil
		why = append(why, "next CA promoted after propagation delay")
	}
	if next.NextCA == nil && !now.Before(renewAt(next.CA.Cert)) {
		ca, err := newCA(caCommonName, now, p.CAValidity)
		if err != nil {
			return nil, nil, err
		}
		next.NextCA = ca
		why = append(why, "CA past 2/3 of its life: new CA added to the bundle")
	}
	if r := p.leafProblem(now, &next); r != "" {
		leaf, err := newLeaf(next.CA, p.Hosts, now, p.LeafValidity)
		if err != nil {
			return nil, nil, err
		}
		next.Leaf = leaf
		why = append(why, r)
	}
	kept := next.Previous[:0:0]
	for _, c := range next.Previous {
		if now.Before(c.NotAfter) {
			kept = append(kept, c)
		}
	}
	if len(kept) != len(next.Previous) {
		why = append(why, "expired previous CA dropped from the bundle")
	}
	next.Previous = kept
	if len(why) == 0 {
		return cur, nil, nil
	}
	return &next, why, nil
}

func (p policy) fresh(now time.Time) (*state, []string, error) {
	ca, err := newCA(caCommonName, now, p.CAValidity)
	if err != nil {
		return nil, nil, err
	}
	leaf, err := newLeaf(ca, p.Hosts, now, p.LeafValidity)
	if err != nil {
		return nil, nil, err
	}
	return &state{CA: ca, Leaf: leaf}, []string{"new CA and serving certificate"}, nil
}

// leafProblem says why s.Leaf must be reissued, or "" when it is fine.
func (p policy) leafProblem(now time.Time, s *state) string {
	switch {
	case s.Leaf == nil:
		return "serving certificate missing, unusable or signed by a replaced CA: issued anew"
	case s.Leaf.Cert.CheckSignatureFrom(s.CA.Cert) != nil:
		return "serving certificate not signed by the current CA"
	case !validAt(s.Leaf.Cert, now):
		return "serving certificate expired or not yet valid"
	case !now.Before(renewAt(s.Leaf.Cert)):
		return "serving certificate past 2/3 of its life"
	case !sameHosts(s.Leaf.Cert, p.Hosts):
		return "serving certificate hosts differ from the configured ones"
	}
	return ""
}

// wake is the next instant at which step may change s (published as for step).
func (p policy) wake(s *state, published time.Time) time.Time {
	t := renewAt(s.Leaf.Cert)
	consider := func(u time.Time) {
		if u.Before(t) {
			t = u
		}
	}
	switch {
	case s.NextCA != nil && !published.IsZero():
		consider(published.Add(p.PropagationDelay))
	case s.NextCA == nil:
		consider(renewAt(s.CA.Cert))
	}
	for _, c := range s.Previous {
		consider(c.NotAfter)
	}
	return t
}

func caCert(kp *keyPair) *x509.Certificate {
	if kp == nil {
		return nil
	}
	return kp.Cert
}

func validAt(c *x509.Certificate, now time.Time) bool {
	return !now.Before(c.NotBefore) && now.Before(c.NotAfter)
}

func sameHosts(c *x509.Certificate, hosts []string) bool {
	var have []string
	have = append(have, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		have = append(have, ip.String())
	}
	want := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			h = ip.String()
		}
		want = append(want, h)
	}
	slices.Sort(have)
	slices.Sort(want)
	return slices.Equal(have, want)
}

// caCommonName names the CA so operators recognise it in a caBundle.
const caCommonName = "vault-injector-ca"

var errNoHosts = errors.New("no hosts: set ServiceName (and Namespace) or Hosts")
