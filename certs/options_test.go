package certs

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewManagerValidatesOptions(t *testing.T) {
	t.Parallel()
	ok := Options{Namespace: "ns", SecretName: "s", ServiceName: "svc", CertDir: "/tmp/x"}
	m, err := NewManager(Clients{}, ok)
	if err != nil {
		t.Fatalf("valid options refused: %v", err)
	}
	if m.opts.CAValidity != DefaultCAValidity || m.opts.LeafValidity != DefaultLeafValidity || m.opts.PropagationDelay != DefaultPropagationDelay {
		t.Errorf("defaults not applied: %+v", m.opts)
	}
	if want := []string{"svc", "svc.ns", "svc.ns.svc", "svc.ns.svc.cluster.local"}; !slices.Equal(m.pol.Hosts, want) {
		t.Errorf("hosts %v, want %v", m.pol.Hosts, want)
	}
	for name, tc := range map[string]struct {
		edit func(o *Options)
		want string
	}{
		"no namespace":     {func(o *Options) { o.Namespace = "" }, "Namespace, SecretName and CertDir are required"},
		"no hosts":         {func(o *Options) { o.ServiceName = "" }, "no hosts"},
		"leaf outlives CA": {func(o *Options) { o.LeafValidity, o.CAValidity = time.Hour, time.Minute }, "must be shorter than CAValidity"},
		"delay too long":   {func(o *Options) { o.CAValidity, o.PropagationDelay = 3*time.Hour, time.Hour }, "shorter than a third of CAValidity"},
		"negative resync":  {func(o *Options) { o.ResyncInterval = -time.Second }, "must be positive"},
		"several at once":  {func(o *Options) { o.SecretName, o.ServiceName = "", "" }, "no hosts"},
	} {
		t.Run(name, func(t *testing.T) {
			o := ok
			tc.edit(&o)
			if _, err := NewManager(Clients{}, o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
