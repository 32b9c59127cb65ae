package certs

import (
	"testing"
	"time"
)

// FuzzDecodeState feeds arbitrary Secret contents to the decoder: anyone who can edit the
// Secret controls them. It must never panic, and whatever it accepts must survive a round trip.
func FuzzDecodeState(f *testing.F) {
	p := policy{Hosts: []string{"svc"}, CAValidity: time.Hour, LeafValidity: time.Minute}
	st, _, err := p.fresh(time.Now())
	if err != nil {
		f.Fatal(err)
	}
	d := st.data()
	f.Add(d[KeyCert], d[KeyKey], d[KeyCACert], d[KeyCAKey], d[KeyCABundle])
	f.Add([]byte("garbage"), d[KeyKey], d[KeyCACert], d[KeyCAKey], []byte{})
	f.Fuzz(func(t *testing.T, cert, key, caCert, caKey, bundle []byte) {
		s, err := decodeState(map[string][]byte{KeyCert: cert, KeyKey: key, KeyCACert: caCert, KeyCAKey: caKey, KeyCABundle: bundle})
		if err != nil {
			return
		}
		if _, err := decodeState(s.data()); err != nil {
			t.Fatalf("accepted state does not round-trip: %v", err)
		}
	})
}
