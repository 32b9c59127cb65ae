package vaultserver

import (
	"context"
	"testing"
)

func TestStartStopRestart(t *testing.T) {
	ctx := context.Background()
	s := New(t, Options{})
	c := s.MustClient(t)
	if _, err := c.KVv2("secret").Put(ctx, "x", map[string]any{"k": "v"}); err != nil {
		t.Fatalf("KV v2 at secret/ not usable: %v", err)
	}
	tok, err := s.CreateToken(ctx, "1h", "", "default")
	if err != nil || !s.TokenValid(ctx, tok) {
		t.Fatalf("token: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KVv2("secret").Get(ctx, "x"); err == nil {
		t.Fatal("server still answers after Stop")
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// Dev mode keeps state in memory: a restart is an empty Vault on the same address.
	if _, err := c.KVv2("secret").Get(ctx, "x"); err == nil {
		t.Fatal("secret survived a dev-server restart")
	}
	if s.TokenValid(ctx, tok) {
		t.Fatal("old token valid after restart")
	}
	if _, err := c.KVv2("secret").Put(ctx, "x", map[string]any{"k": "v2"}); err != nil {
		t.Fatalf("restarted server not usable: %v", err)
	}
}
