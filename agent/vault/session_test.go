package vault_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/agent/vault"
	"github.com/vault-injector/vault-injector/agent/vault/fake"
	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/syncbuf"
	"github.com/vault-injector/vault-injector/test/wait"
)

// sessionHarness is a Session over the fake Vault, logging JSON into log and counting its
// events as the runner's metrics do.
type sessionHarness struct {
	f                          *fake.Client
	log                        *syncbuf.Buffer
	logins, failures, renewals atomic.Int32
	handover                   string
}

func newSessionHarness(t *testing.T) *sessionHarness {
	return &sessionHarness{f: fake.New(), log: &syncbuf.Buffer{},
		handover: filepath.Join(t.TempDir(), "handover", "token")}
}

func (h *sessionHarness) session(renew bool) *vault.Session {
	return vault.NewSession(vault.SessionOptions{
		Login: h.f, Tokens: h.f, HandoverFile: h.handover, Renew: renew,
		Backoff: contract.Backoff{Min: contract.Duration{Duration: 5 * time.Millisecond}, Max: contract.Duration{Duration: 20 * time.Millisecond}},
		Log:     slog.New(slog.NewJSONHandler(h.log, nil)),
		Events: vault.SessionEvents{
			LoggedIn:    func() { h.logins.Add(1) },
			LoginFailed: func() { h.failures.Add(1) },
			Renewed:     func() { h.renewals.Add(1) },
		},
	})
}

func (h *sessionHarness) logged(msg string) bool {
	return strings.Contains(h.log.String(), `"msg":"`+msg+`"`)
}

func ensure(t *testing.T, s *vault.Session, wantReplaced bool) {
	t.Helper()
	replaced, err := s.Ensure(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if replaced != wantReplaced {
		t.Errorf("replaced = %v, want %v", replaced, wantReplaced)
	}
}

func handoverHolds(t *testing.T, file, want string) {
	t.Helper()
	b, err := os.ReadFile(file)
	st, serr := os.Stat(file)
	if err != nil || serr != nil || string(b) != want || st.Mode().Perm() != 0o600 {
		t.Errorf("handover file holds %q (%v, %v), want %q with mode 0600", b, err, st, want)
	}
}

// When renewal ends the token is lost, with the reason logged and on Lost; the next Ensure logs
// in again and reports the new token as a replacement.
func TestSessionLostAfterRenewalEndsThenLogsInAgain(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(f *fake.Client)
		reason string
	}{
		{"renewal failing", func(f *fake.Client) {
			f.FailRenewal(&vault.Error{Op: "renew-self", Path: "auth/token/renew-self", Status: 500})
		}, "renewal kept failing until the grace period"},
		{"token forgotten by Vault", (*fake.Client).ExpireToken, "Vault refused the renewal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newSessionHarness(t)
			s := h.session(true)
			ensure(t, s, false)
			wait.For(t, 5*time.Second, "a renewal", func() bool { return h.renewals.Load() >= 1 })
			tc.break_(h.f)
			var err error
			select {
			case err = <-s.Lost():
			case <-time.After(5 * time.Second):
				t.Fatal("the token was not reported lost")
			}
			var end *vault.EndError
			if !errors.As(err, &end) || end.Kind != "token" || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("lost with %v, want a token EndError saying %q", err, tc.reason)
			}
			if !h.logged("token renewal ended, logging in again") || !strings.Contains(h.log.String(), tc.reason) {
				t.Errorf("the loss was not logged with its reason:\n%s", h.log.String())
			}
			h.f.FailRenewal(nil)
			ensure(t, s, true)
			if n := h.logins.Load(); n != 2 || h.f.Token() != "token-2" {
				t.Errorf("%d logins, reads carry %q; want a second login's token-2", n, h.f.Token())
			}
			ensure(t, s, false) // a valid token: nothing to do
			if n := h.f.Logins(); n != 2 {
				t.Errorf("%d logins with a valid token, want 2", n)
			}
		})
	}
}

// A handover file that cannot be used (missing, empty, a token Vault refuses) means a login,
// whose token is then left in the file for the next agent.
func TestSessionHandoverRefusedLogsIn(t *testing.T) {
	cases := []struct {
		name    string
		content *string
		logged  string
	}{
		{"missing", nil, "no handed-over token, logging in"},
		{"empty", ptr(""), "handed-over token not usable, logging in"},
		{"refused by Vault", ptr("dead-token\n"), "handed-over token not usable, logging in"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newSessionHarness(t)
			if tc.content != nil {
				_ = os.MkdirAll(filepath.Dir(h.handover), 0o700)
				_ = os.WriteFile(h.handover, []byte(*tc.content), 0o600)
			}
			ensure(t, h.session(false), false)
			if h.logins.Load() != 1 || h.f.Token() != "token-1" {
				t.Errorf("%d logins, reads carry %q; want one login", h.logins.Load(), h.f.Token())
			}
			if !h.logged(tc.logged) || !strings.Contains(h.log.String(), `"msg":"vault token ready","via":"login"`) {
				t.Errorf("log lacks %q or via=login:\n%s", tc.logged, h.log.String())
			}
			handoverHolds(t, h.handover, "token-1")
		})
	}
}

// A handed-over token Vault accepts is used without a login, and the file is tried once per
// process: after that token dies, the session logs in even though the file holds a good token.
func TestSessionHandoverAcceptedOncePerProcess(t *testing.T) {
	h := newSessionHarness(t)
	_ = os.MkdirAll(filepath.Dir(h.handover), 0o700)
	_ = os.WriteFile(h.handover, []byte("init-token\n"), 0o600)
	h.f.AddToken("init-token")
	s := h.session(false)
	ensure(t, s, false)
	if h.logins.Load() != 0 || h.f.Token() != "init-token" || !strings.Contains(h.log.String(), `"via":"handover"`) {
		t.Fatalf("%d logins, reads carry %q; want the handed-over token:\n%s", h.logins.Load(), h.f.Token(), h.log.String())
	}
	handoverHolds(t, h.handover, "init-token\n") // not rewritten

	h.f.ExpireToken()
	s.Check(context.Background())
	if !h.logged("token no longer valid, will log in again") {
		t.Errorf("a dead token after a 403 was not logged:\n%s", h.log.String())
	}
	_ = os.WriteFile(h.handover, []byte("another-init-token"), 0o600)
	h.f.AddToken("another-init-token")
	ensure(t, s, true)
	if h.logins.Load() != 1 || h.f.Token() != "token-1" {
		t.Errorf("%d logins, reads carry %q; want a login, not the handover file again", h.logins.Load(), h.f.Token())
	}
	handoverHolds(t, h.handover, "token-1")
}

// Check keeps a token Vault still accepts (the 403 was a policy's), and a failed login is
// counted and leaves no token.
func TestSessionCheckKeepsValidTokenAndLoginFailureCounts(t *testing.T) {
	h := newSessionHarness(t)
	s := h.session(false)
	h.f.FailLogin(errors.New("login auth/kubernetes/login: Vault answered 500"))
	if _, err := s.Ensure(context.Background()); err == nil || h.failures.Load() != 1 {
		t.Fatalf("err %v, %d login failures; want the login's error counted", err, h.failures.Load())
	}
	h.f.FailLogin(nil)
	ensure(t, s, false) // the failed attempt held no token: nothing is replaced
	s.Check(context.Background())
	ensure(t, s, false)
	if h.logins.Load() != 1 || h.logged("token no longer valid, will log in again") {
		t.Errorf("%d logins; a valid token was dropped:\n%s", h.logins.Load(), h.log.String())
	}
}

// Without Renew (--once) the token is left to its TTL: no renewal, no loss reported.
func TestSessionWithoutRenewLeavesTokenAlone(t *testing.T) {
	h := newSessionHarness(t)
	s := h.session(false)
	ensure(t, s, false)
	h.f.ExpireToken()
	select {
	case err := <-s.Lost():
		t.Errorf("lost (%v) without a watch", err)
	case <-time.After(2 * fake.TokenTTL):
	}
	if n := h.f.Renewals(); n != 0 {
		t.Errorf("%d renewals without Renew", n)
	}
}

// Revoke revokes only a token the session held: the last one, even after it was lost (it may
// live on until its TTL), once, and within revokeTimeout when Vault does not answer.
func TestSessionRevoke(t *testing.T) {
	h := newSessionHarness(t)
	s := h.session(true)
	s.Revoke()
	if rev := h.f.Revoked(); len(rev) != 0 || h.logged("token revoked") {
		t.Fatalf("revoked %v without a token", rev)
	}
	ensure(t, s, false)
	s.Revoke()
	s.Revoke()
	if rev := h.f.Revoked(); len(rev) != 1 || rev[0] != "token-1" || !h.logged("token revoked") {
		t.Errorf("revoked %v, want token-1 once", rev)
	}
	renewals := h.f.Renewals()
	time.Sleep(2 * fake.TokenTTL)
	if n := h.f.Renewals(); n != renewals {
		t.Errorf("%d renewals after the revocation", n-renewals)
	}

	ensure(t, s, true) // a new token: what the revoked one fetched is gone with it
	h.f.FailRenewal(&vault.Error{Op: "renew-self", Path: "auth/token/renew-self", Status: 403})
	if err := <-s.Lost(); !strings.Contains(err.Error(), "Vault refused the renewal") {
		t.Fatalf("lost with %v", err)
	}
	h.f.HangRevoke()
	start := time.Now()
	s.Revoke()
	if took := time.Since(start); took < time.Second || took > 4*time.Second {
		t.Errorf("revoking against a silent Vault took %v, want about 2 s", took)
	}
	if !h.logged("revoking the token failed; it ends with its TTL") {
		t.Errorf("the failed revocation was not logged:\n%s", h.log.String())
	}
}

func ptr(s string) *string { return &s }
