package vault

import (
	"context"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/vault-injector/vault-injector/agent/backoff"
	"github.com/vault-injector/vault-injector/contract"
)

// revokeTimeout bounds the best-effort token revocation at shutdown: the kubelet's grace period
// is shared with the app, and a dead Vault must not hold the pod.
const revokeTimeout = 2 * time.Second

// SessionOptions configure a Session.
type SessionOptions struct {
	Login  Method
	Tokens Tokens
	// HandoverFile (classic mode) is where a token is looked for before the first login, once per
	// process, and where each login leaves its token for the pod's next agent. Empty: neither.
	HandoverFile string
	// Renew keeps the token alive and reports its end on Lost (the sidecar). Without it the
	// token is left to its TTL (`--once`: the classic sidecar takes it over).
	Renew bool
	// Backoff spaces renewal retries; zero means the contract defaults.
	Backoff contract.Backoff
	Log     *slog.Logger // nil: no logs
	Events  SessionEvents
	// TokenSink, when set (inject-token), is the file where each token installed is written,
	// and rewritten after every renewal, with mode TokenSinkMode.
	TokenSink     string
	TokenSinkMode fs.FileMode
}

// SessionEvents are told what a session did, for the agent's metrics. Nil fields are skipped.
type SessionEvents struct {
	LoggedIn, LoginFailed, Renewed func()
	// Expires is told when the token watched under id expires, and a zero time once it is no
	// longer watched (Observer.Expiry of kind "token").
	Expires func(id string, at time.Time)
}

// Session owns one Vault token through its life: obtained by Ensure (a handed-over token or a
// login), installed into the Conn's reads, renewed, lost when renewal ends or when Check finds
// Vault no longer accepts it, and revoked by Revoke. A second login method or a second token per
// pod is a second Session over its own Tokens.
//
// Ensure, Check and Revoke are called from one goroutine (the runner's); the renewal watch
// runs beside it and only marks its token lost and signals Lost.
type Session struct {
	o    SessionOptions
	bo   *lockedBackoff // one across successive tokens: see watch
	lost chan error

	handoverTried bool // the handover file is tried once per process
	sinkDirty     bool // the token sink does not hold the current token: Ensure writes it

	mu     sync.Mutex
	token  string // the token installed last; kept after a loss, for Revoke
	valid  bool   // token may still be used
	held   bool   // a token was installed before, so the next one replaces it
	gen    uint64 // counts installed tokens: an old watch's end must not lose a newer token
	cancel context.CancelFunc
	since  time.Time // when token was installed
}

// NewSession returns a session holding no token yet.
func NewSession(o SessionOptions) *Session {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	bo := backoffOrDefault(o.Backoff)
	return &Session{o: o, lost: make(chan error, 1),
		bo: &lockedBackoff{b: backoff.Backoff{Min: bo.Min.Duration, Max: bo.Max.Duration}}}
}

// Ensure makes sure the session holds a token Vault accepted: the current one, else a
// handed-over one (first call only), else a new login. replaced reports a new token taking the
// place of an earlier one: whatever was fetched with the old token must be fetched again,
// because leases die with the token that created them. With Renew the new token is renewed
// until ctx ends or the token is lost, dropped or replaced. With a TokenSink the token is
// written there; when that fails the error comes back with the token installed (replaced may
// be true alongside it) and the next Ensure writes the file again.
func (s *Session) Ensure(ctx context.Context) (replaced bool, err error) {
	s.mu.Lock()
	valid, dirty := s.valid, s.sinkDirty
	if valid && dirty {
		err = s.writeSinkLocked(s.token)
	}
	s.mu.Unlock()
	if valid {
		return false, err
	}
	tok, via, err := s.obtain(ctx)
	if err != nil {
		return false, err
	}
	s.o.Tokens.SetToken(tok.Value)
	s.mu.Lock()
	replaced = s.held
	s.token, s.valid, s.held, s.since = tok.Value, true, true, time.Now()
	s.gen++
	gen := s.gen
	s.stopWatchLocked()
	// The token is installed even when its file cannot be written: the secrets can still be
	// fetched, and the next Ensure writes the file again (sinkDirty) instead of logging in.
	sinkErr := s.writeSinkLocked(tok.Value)
	s.mu.Unlock()
	s.o.Log.Info("vault token ready", "via", via)
	if s.o.Renew {
		s.watch(ctx, tok, gen)
	}
	return replaced, sinkErr
}

// Since is when the current token was installed: the start of "login → first render".
func (s *Session) Since() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.since
}

// Lost yields why the token's renewal ended (the maximum TTL is reached, Vault refused it, or it
// kept failing until the grace period; an *EndError, already logged): the next Ensure logs in
// again. One value may stand for several losses, and one may come for a token already
// replaced; Ensure sorts that out.
func (s *Session) Lost() <-chan error { return s.lost }

// Check follows a request Vault denied (403): the token may have died (revoked, Vault
// restarted) rather than lack a policy. If lookup-self fails too, the token is dropped, so the
// next Ensure logs in again.
func (s *Session) Check(ctx context.Context) {
	s.mu.Lock()
	token, valid := s.token, s.valid
	s.mu.Unlock()
	if !valid {
		return
	}
	if _, err := s.o.Tokens.LookupToken(ctx, token); err != nil {
		s.o.Log.Info("token no longer valid, will log in again", "err", err.Error())
		s.mu.Lock()
		if s.token == token {
			s.valid = false
			s.stopWatchLocked()
		}
		s.mu.Unlock()
	}
}

// Revoke revokes the last token the session held, if it held one, and stops renewing it. Best
// effort and bounded by revokeTimeout; the session holds no token afterwards.
func (s *Session) Revoke() {
	s.mu.Lock()
	token := s.token
	s.token, s.valid = "", false
	s.stopWatchLocked()
	s.mu.Unlock()
	if token == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), revokeTimeout)
	defer cancel()
	if err := s.o.Tokens.RevokeToken(ctx, token); err != nil {
		s.o.Log.Warn("revoking the token failed; it ends with its TTL", "err", err.Error())
		return
	}
	s.o.Log.Info("token revoked")
}

// watch renews tok, installed as generation gen, on a goroutine of its own. Successive tokens
// share one backoff: when renewal fails lifetime after lifetime (short TTLs), each new token
// retries where the last one stopped, not from backoff.min again.
func (s *Session) watch(ctx context.Context, tok Token, gen uint64) {
	if tok.TTL <= 0 {
		// Root-like tokens never expire; a watch would end at once and loop logins.
		return
	}
	wctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	l := lifetime{kind: "token", id: "token", ttl: tok.TTL, renewable: tok.Renewable,
		renew: func(ctx context.Context) (time.Duration, bool, error) {
			// Ask for the lifetime it was issued with; Vault caps it at the max TTL.
			t, err := s.o.Tokens.RenewToken(ctx, tok.Value, tok.TTL)
			return t.TTL, t.Renewable, err
		}}
	if f := s.o.Events.Expires; f != nil {
		id := watchID(l.id)
		l.expires = func(at time.Time) { f(id, at) }
	}
	go func() {
		defer cancel()
		renewed := s.o.Events.Renewed
		if s.o.TokenSink != "" {
			renewed = func() {
				call(s.o.Events.Renewed)
				s.renewedSink(gen)
			}
		}
		err := keepAlive(wctx, l, s.bo, renewed)
		if l.expires != nil {
			l.expires(time.Time{})
		}
		if wctx.Err() == nil {
			s.lose(gen, err)
		}
	}()
}

// lose marks the token of generation gen lost, unless it was dropped or replaced meanwhile,
// and signals Lost.
func (s *Session) lose(gen uint64, err error) {
	s.mu.Lock()
	current := gen == s.gen && s.valid
	if current {
		s.valid = false
	}
	s.mu.Unlock()
	if !current {
		return
	}
	s.o.Log.Info("token renewal ended, logging in again", "reason", err.Error())
	select {
	case s.lost <- err:
	default: // a loss is already pending
	}
}

func (s *Session) stopWatchLocked() {
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
}
