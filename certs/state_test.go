package certs

import (
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"
)

var testHosts = []string{"vault-injector", "vault-injector.vault-injector.svc", "127.0.0.1"}

// verify checks leaf against a PEM bundle for each host, as a TLS client of the webhook would.
func verify(t *testing.T, bundle []byte, leaf *x509.Certificate, now time.Time) error {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundle) {
		t.Fatalf("bundle has no certificates")
	}
	for _, h := range testHosts {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: h, CurrentTime: now}); err != nil {
			return err
		}
	}
	return nil
}

// TestPolicyLifecycle runs the policy over 400 days in one-hour steps with a 90-day CA, a
// 9-day leaf and a one-hour propagation delay. A client that learned the bundle one step ago
// (an API server lagging behind by the whole delay) must verify every leaf served: CA
// rollovers must never break a request.
func TestPolicyLifecycle(t *testing.T) {
	t.Parallel()
	p := policy{Hosts: testHosts, CAValidity: 90 * 24 * time.Hour, LeafValidity: 9 * 24 * time.Hour, PropagationDelay: time.Hour}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st, why, err := p.step(start, nil, time.Time{})
	if err != nil || len(why) == 0 {
		t.Fatalf("first step: %v %v", why, err)
	}
	published := st.bundle()
	var nextAt time.Time // when the bundle with the next CA was published (one step after creation)
	cas, leaves, maxBundle := map[string]bool{}, 0, 0
	for now := start; now.Before(start.Add(400 * 24 * time.Hour)); now = now.Add(time.Hour) {
		if w := p.wake(st, nextAt); w.Before(now.Add(-time.Hour)) {
			t.Fatalf("%s: wake %s was missed by more than a step", now, w)
		}
		next, _, err := p.step(now, st, nextAt)
		if err != nil {
			t.Fatalf("%s: step: %v", now, err)
		}
		if err := verify(t, published, next.Leaf.Cert, now); err != nil {
			t.Fatalf("%s: leaf served now does not verify against the bundle published an hour ago: %v", now, err)
		}
		if !validAt(next.Leaf.Cert, now) || next.Leaf.Cert.CheckSignatureFrom(next.CA.Cert) != nil {
			t.Fatalf("%s: leaf not valid or not signed by the current CA", now)
		}
		if age, life := now.Sub(next.Leaf.Cert.NotBefore), next.Leaf.Cert.NotAfter.Sub(next.Leaf.Cert.NotBefore); age > life*2/3+time.Hour {
			t.Fatalf("%s: leaf is %s into a %s life: not renewed at 2/3", now, age, life)
		}
		if next != st {
			if next.Leaf != st.Leaf {
				leaves++
			}
			cas[string(next.CA.Cert.Raw)] = true
		}
		maxBundle = max(maxBundle, strings.Count(string(next.bundle()), "BEGIN CERTIFICATE"))
		if next.NextCA != nil && (st.NextCA == nil || next.NextCA != st.NextCA) {
			nextAt = now
		}
		st, published = next, next.bundle()
	}
	// 400 days of a 90-day CA rolled at 2/3 (60 days): at least 6 CAs; 9-day leaves renewed at
	// 6 days: about 66 leaves.
	if len(cas) < 6 || leaves < 60 || leaves > 80 {
		t.Fatalf("got %d CAs and %d leaves, want >= 6 CAs and 60..80 leaves", len(cas), leaves)
	}
	if maxBundle > 3 {
		t.Fatalf("bundle grew to %d CAs; expired ones must be dropped", maxBundle)
	}
	t.Logf("400 days: %d CAs, %d leaves, bundle at most %d CAs", len(cas), leaves, maxBundle)
}

func TestPolicyReissuesOnHostChangeAndExpiredCA(t *testing.T) {
	t.Parallel()
	p := policy{Hosts: testHosts, CAValidity: 90 * 24 * time.Hour, LeafValidity: 9 * 24 * time.Hour, PropagationDelay: time.Hour}
	now := time.Now()
	st, _, err := p.step(now, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	p2 := p
	p2.Hosts = append([]string{"other"}, testHosts...)
	next, why, err := p2.step(now, st, time.Time{})
	if err != nil || next.CA != st.CA || next.Leaf == st.Leaf || !strings.Contains(strings.Join(why, ";"), "hosts differ") {
		t.Fatalf("host change: want a new leaf from the same CA, got reasons %q, err %v", why, err)
	}
	next, why, err = p.step(now.Add(91*24*time.Hour), st, time.Time{})
	if err != nil || next.CA == st.CA || !strings.Contains(strings.Join(why, ";"), "new CA") {
		t.Fatalf("expired CA: want a fresh CA, got reasons %q, err %v", why, err)
	}
	if same, why, _ := p.step(now, st, time.Time{}); same != st || why != nil {
		t.Fatalf("no change due: want the same state, got reasons %q", why)
	}

	// Rollover: the next CA signs nothing until its bundle was published a delay ago.
	late := now.Add(61 * 24 * time.Hour)
	rolling, _, err := p.step(late, st, time.Time{})
	if err != nil || rolling.NextCA == nil || rolling.CA != st.CA {
		t.Fatalf("at 2/3 of the CA's life: want a next CA beside the current one, err %v", err)
	}
	if kept, _, _ := p.step(late.Add(48*time.Hour), rolling, time.Time{}); kept.CA != st.CA {
		t.Fatal("next CA promoted although its bundle was never published")
	}
	if kept, _, _ := p.step(late.Add(30*time.Minute), rolling, late); kept.CA != st.CA {
		t.Fatal("next CA promoted before the propagation delay passed")
	}
	promoted, _, _ := p.step(late.Add(time.Hour), rolling, late)
	if promoted.CA != rolling.NextCA || promoted.Leaf.Cert.CheckSignatureFrom(rolling.NextCA.Cert) != nil ||
		len(promoted.Previous) != 1 || !promoted.Previous[0].Equal(st.CA.Cert) {
		t.Fatal("after the delay: want the next CA signing, a new leaf, and the old CA kept in the bundle")
	}
}

func TestDecodeStateRoundTripAndCorruption(t *testing.T) {
	t.Parallel()
	p := policy{Hosts: testHosts, CAValidity: 90 * 24 * time.Hour, LeafValidity: 9 * 24 * time.Hour, PropagationDelay: time.Hour}
	st, _, err := p.step(time.Now(), nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeState(st.data())
	if err != nil || !got.Leaf.Cert.Equal(st.Leaf.Cert) || !got.CA.Cert.Equal(st.CA.Cert) || len(got.Previous) != 0 {
		t.Fatalf("round trip: %v", err)
	}
	other, _, _ := p.step(time.Now(), nil, time.Time{})
	cases := map[string]struct {
		edit func(d map[string][]byte)
		want string
	}{
		"garbage cert":      {func(d map[string][]byte) { d[KeyCert] = []byte("not a cert") }, "tls.crt/tls.key: data after the last PEM block is not PEM"},
		"missing CA key":    {func(d map[string][]byte) { delete(d, KeyCAKey) }, "ca.crt or ca.key is missing"},
		"mismatched key":    {func(d map[string][]byte) { d[KeyKey] = other.Leaf.KeyPEM }, "tls.crt/tls.key: private key does not match"},
		"leaf as CA":        {func(d map[string][]byte) { d[KeyCACert], d[KeyCAKey] = st.Leaf.CertPEM, st.Leaf.KeyPEM }, "ca.crt is not a CA"},
		"junk in bundle":    {func(d map[string][]byte) { d[KeyCABundle] = append(d[KeyCABundle], "junk"...) }, "ca-bundle.crt"},
		"key is not PEM":    {func(d map[string][]byte) { d[KeyKey] = []byte("-----") }, "private key is not PEM"},
		"two certs in leaf": {func(d map[string][]byte) { d[KeyCert] = append(d[KeyCert], d[KeyCert]...) }, "want exactly one certificate"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d := st.data()
			c.edit(d)
			_, err := decodeState(d)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY-----") {
				t.Fatalf("error leaks key material: %v", err)
			}
		})
	}
}

// TestSalvagePartialCorruption: a corrupted entry costs only that entry. A CA whose
// certificate and key still match keeps signing, and every CA still valid stays in the bundle.
func TestSalvagePartialCorruption(t *testing.T) {
	t.Parallel()
	p := policy{Hosts: testHosts, CAValidity: 90 * 24 * time.Hour, LeafValidity: 9 * 24 * time.Hour, PropagationDelay: time.Hour}
	now := time.Now()
	old, _, err := p.step(now.Add(-70*24*time.Hour), nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// A Secret mid-life: a current CA, a previous one still valid, and a next one rolling in.
	st, _, err := p.step(now, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	st.Previous = []*x509.Certificate{old.CA.Cert}
	nextCA, err := newCA(caCommonName, now, p.CAValidity)
	if err != nil {
		t.Fatal(err)
	}
	garbled := []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
	tests := []struct {
		name        string
		rolling     bool
		edit        func(d map[string][]byte)
		problem     string
		sameCA      bool // the signing CA is kept
		promoted    bool // the next CA signs now
		sameLeaf    bool
		stillTrusts []string // CAs the bundle must keep: "current", "previous", "next"
	}{
		{"bundle with junk appended", false, func(d map[string][]byte) { d[KeyCABundle] = append(d[KeyCABundle], "junk"...) },
			"ca-bundle.crt: data after the last PEM block", true, false, true, []string{"current", "previous"}},
		{"bundle with a garbled block first", false, func(d map[string][]byte) { d[KeyCABundle] = append(garbled, d[KeyCABundle]...) },
			"ca-bundle.crt: parsing certificate", true, false, true, []string{"current", "previous"}},
		{"bundle emptied", false, func(d map[string][]byte) { d[KeyCABundle] = []byte("x") },
			"ca-bundle.crt", true, false, true, []string{"current"}},
		{"leaf garbled", false, func(d map[string][]byte) { d[KeyCert] = garbled },
			"tls.crt/tls.key: parsing certificate", true, false, false, []string{"current", "previous"}},
		{"CA key garbled", false, func(d map[string][]byte) { d[KeyCAKey] = []byte("-----") },
			"ca.crt/ca.key: private key is not PEM", false, false, false, []string{"current", "previous"}},
		{"CA key garbled during a rollover", true, func(d map[string][]byte) { d[KeyCAKey] = []byte("-----") },
			"ca.crt/ca.key", false, true, false, []string{"current", "previous", "next"}},
		{"next CA key garbled", true, func(d map[string][]byte) { d[KeyNextCAKey] = []byte("-----") },
			"next-ca.crt/next-ca.key", true, false, true, []string{"current", "previous", "next"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := *st
			if tt.rolling {
				in.NextCA = nextCA
			}
			d := in.data()
			tt.edit(d)
			cur, problems := salvageState(d)
			if !strings.Contains(strings.Join(problems, "; "), tt.problem) {
				t.Fatalf("problems %q lack %q", problems, tt.problem)
			}
			next, _, err := p.step(now, cur, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.sameCA && !next.CA.Cert.Equal(st.CA.Cert):
				t.Error("the signing CA was replaced")
			case tt.promoted && !next.CA.Cert.Equal(nextCA.Cert):
				t.Error("the next CA was not promoted")
			case !tt.sameCA && !tt.promoted && next.CA.Cert.Equal(st.CA.Cert):
				t.Error("a CA without its key still signs")
			}
			if got := next.Leaf.Cert.Equal(st.Leaf.Cert); got != tt.sameLeaf {
				t.Errorf("leaf kept = %v, want %v", got, tt.sameLeaf)
			}
			if err := next.Leaf.Cert.CheckSignatureFrom(next.CA.Cert); err != nil {
				t.Errorf("leaf not signed by the signing CA: %v", err)
			}
			bundle, err := parseCerts(next.bundle())
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]*x509.Certificate{"current": st.CA.Cert, "previous": old.CA.Cert, "next": nextCA.Cert}
			for _, w := range tt.stillTrusts {
				if !slices.ContainsFunc(bundle, want[w].Equal) {
					t.Errorf("the %s CA left the bundle", w)
				}
			}
			if _, err := decodeState(next.data()); err != nil {
				t.Errorf("the rewritten Secret is not clean: %v", err)
			}
		})
	}
}
