package vault_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/agent/vault"
	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/wait"
)

func sinkSession(h *sessionHarness, sink string) *vault.Session {
	return vault.NewSession(vault.SessionOptions{
		Login: h.f, Tokens: h.f, Renew: true,
		Backoff:   contract.Backoff{Min: contract.Duration{Duration: 5 * time.Millisecond}, Max: contract.Duration{Duration: 20 * time.Millisecond}},
		Log:       slog.New(slog.NewJSONHandler(h.log, nil)),
		TokenSink: sink, TokenSinkMode: 0o640,
		Events: vault.SessionEvents{Renewed: func() { h.renewals.Add(1) }},
	})
}

func sinkHolds(t *testing.T, file, want string) {
	t.Helper()
	b, err := os.ReadFile(file)
	st, serr := os.Stat(file)
	if err != nil || serr != nil || string(b) != want || st.Mode().Perm() != 0o640 {
		t.Fatalf("token file holds %q (%v, %v), want %q with mode 0640", b, err, serr, want)
	}
}

// The token file holds the current token: written at login, rewritten after a renewal (a
// deleted file comes back) and replaced by the next login's token.
func TestSessionTokenSinkFollowsTheToken(t *testing.T) {
	h := newSessionHarness(t)
	sink := filepath.Join(t.TempDir(), "secrets", "token")
	s := sinkSession(h, sink)
	defer s.Revoke()
	ensure(t, s, false)
	sinkHolds(t, sink, "token-1")

	if err := os.Remove(sink); err != nil {
		t.Fatal(err)
	}
	n := h.renewals.Load()
	wait.For(t, 5*time.Second, "a renewal rewriting the file", func() bool {
		_, err := os.Stat(sink)
		return h.renewals.Load() > n && err == nil
	})
	sinkHolds(t, sink, "token-1")

	h.f.ExpireToken()
	select {
	case err := <-s.Lost():
		if err == nil {
			t.Error("the token was reported lost without a reason")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the token was not reported lost")
	}
	ensure(t, s, true)
	sinkHolds(t, sink, "token-2")
	if strings.Contains(h.log.String(), "token-") {
		t.Errorf("a token was logged:\n%s", h.log.String())
	}
}

// A token file that cannot be written fails Ensure with the file's name (not the token), the
// token stays installed, and the next Ensure writes the file without logging in again.
func TestSessionTokenSinkWriteFailureRetried(t *testing.T) {
	h := newSessionHarness(t)
	dir := filepath.Join(t.TempDir(), "secrets")
	if err := os.WriteFile(dir, nil, 0o600); err != nil { // a file where the directory should be
		t.Fatal(err)
	}
	sink := filepath.Join(dir, "token")
	s := sinkSession(h, sink)
	defer s.Revoke()
	replaced, err := s.Ensure(context.Background())
	if err == nil || !strings.Contains(err.Error(), "writing the token file") || strings.Contains(err.Error(), "token-1") {
		t.Fatalf("Ensure() = %v, %v; want the token file's error without the token", replaced, err)
	}
	if h.f.Token() != "token-1" {
		t.Errorf("reads carry %q, want the login's token installed", h.f.Token())
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	ensure(t, s, false)
	sinkHolds(t, sink, "token-1")
	if n := h.f.Logins(); n != 1 {
		t.Errorf("%d logins, want 1: writing the file again needs no login", n)
	}
}
