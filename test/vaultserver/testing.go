package vaultserver

import (
	"context"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/vault-injector/vault-injector/test/testbin"
)

// New starts a server for a test and stops it at cleanup. A missing vault binary fails the
// test (never skips it): make test builds it first.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Binary == "" {
		o.Binary = testbin.Must(t, "vault")
	}
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("starting vault: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Cleanup(); err != nil {
			t.Logf("stopping vault: %v", err)
		}
	})
	return s
}

// MustClient is Client for tests.
func (s *Server) MustClient(t testing.TB) *api.Client {
	t.Helper()
	c, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	return c
}
