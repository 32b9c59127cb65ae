package vault

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vault-injector/vault-injector/agent/backoff"
)

// The agent renews tokens and leases itself instead of with the API's LifetimeWatcher: with
// RenewBehaviorIgnoreErrors its retry after a failed renewal does not back off
// (hashicorp/vault#28611), and one agent sent 13505 renew-self requests in 25 s to a Vault
// answering 500. Here every retry waits for the agent's own backoff (config backoff.min/max),
// and the watch ends with an EndError that says why.

// EndError is what a Session's token watch and WatchLease report when they stop: the reason,
// and the last renewal error if renewal failed rather than reached its limit.
type EndError struct {
	Kind   string // "token" or "lease"
	Reason string
	Err    error
}

func (e *EndError) Error() string {
	if e.Err == nil {
		return e.Kind + " renewal ended: " + e.Reason
	}
	return fmt.Sprintf("%s renewal ended: %s: %v", e.Kind, e.Reason, e.Err)
}

func (e *EndError) Unwrap() error { return e.Err }

// WatchLease implements Client. Non-renewable leases (pki with generate_lease, for example)
// are only timed: the channel fires in the last 10-20% of the lease so the secret is fetched
// again before it ends.
func (a *APIClient) WatchLease(ctx context.Context, s *Secret, renewed func()) <-chan error {
	if !s.Leased() {
		return make(chan error)
	}
	id, inc := s.LeaseID, int(s.TTL()/time.Second)
	return a.watch(ctx, lifetime{kind: "lease", id: id, ttl: s.TTL(), renewable: s.Renewable,
		renew: func(ctx context.Context) (time.Duration, bool, error) {
			r, err := a.c.Sys().RenewWithContext(ctx, id, inc)
			if err != nil {
				return 0, false, wrap("renew", "sys/leases/renew", err)
			}
			if r == nil {
				return 0, false, &Error{Op: "renew", Path: "sys/leases/renew", Status: 204, Errors: []string{"Vault returned no lease"}}
			}
			return Seconds(r.LeaseDuration), r.Renewable, nil
		}}, renewed)
}

// lifetime is a token or lease to keep alive: its TTL when issued and how to renew it.
type lifetime struct {
	kind      string
	ttl       time.Duration
	renewable bool
	renew     func(ctx context.Context) (ttl time.Duration, renewable bool, err error)
	id        string             // the observer's key for it
	expires   func(at time.Time) // told each new expiry (metrics); may be nil
}

// watch runs keepAlive for a lease on a goroutine of its own and reports its end, unless ctx
// ended first.
func (a *APIClient) watch(ctx context.Context, l lifetime, renewed func()) <-chan error {
	out := make(chan error, 1)
	bo := &backoff.Backoff{Min: a.backoff.Min.Duration, Max: a.backoff.Max.Duration}
	if a.obs != nil {
		id := watchID(l.id)
		l.expires = func(at time.Time) { a.obs.expiry(l.kind, id, at) }
	}
	go func() {
		err := keepAlive(ctx, l, bo, renewed)
		if l.expires != nil {
			l.expires(time.Time{})
		}
		if ctx.Err() == nil {
			out <- err
		}
	}()
	return out
}

// watchID is the observer's key for one watch of id: a key per watch, so an ended watch's
// clearing does not erase its successor's expiry.
func watchID(id string) string { return id + "#" + strconv.FormatUint(watchSeq.Add(1), 10) }

var watchSeq atomic.Uint64

// keepAlive renews at 2/3 of the remaining TTL and returns when renewal can no longer help:
// in the grace period (the last 10-20% of the first TTL), which leaves time to log in again or
// fetch the secret again before the old one ends. A failed renewal is retried after the next
// backoff delay; a refusal (4xx: revoked, unknown lease) ends the watch at once.
func keepAlive(ctx context.Context, l lifetime, bo delays, renewed func()) error {
	grace := l.ttl/10 + rand.N(l.ttl/10+1)
	expiry := time.Now().Add(l.ttl)
	if l.expires != nil {
		l.expires(expiry)
	}
	renewable := l.renewable
	var lastErr error
	for {
		next := time.Until(expiry) * 2 / 3
		if lastErr != nil {
			next = bo.Next()
		}
		end := time.Until(expiry) - grace
		if !renewable || next >= end {
			if err := sleep(ctx, end); err != nil {
				return err
			}
			return &EndError{Kind: l.kind, Reason: endReason(renewable, lastErr), Err: lastErr}
		}
		if err := sleep(ctx, next); err != nil {
			return err
		}
		ttl, ok, err := l.renew(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil && permanent(err):
			return &EndError{Kind: l.kind, Reason: "Vault refused the renewal", Err: err}
		case err != nil:
			lastErr = err
			continue
		}
		lastErr = nil
		bo.Reset()
		if renewed != nil {
			renewed()
		}
		expiry, renewable = time.Now().Add(ttl), ok && ttl > 0
		if l.expires != nil {
			l.expires(expiry)
		}
	}
}

// delays is a backoff: *backoff.Backoff, or lockedBackoff when watches share one.
type delays interface {
	Next() time.Duration
	Reset()
}

type lockedBackoff struct {
	mu sync.Mutex
	b  backoff.Backoff
}

func (l *lockedBackoff) Next() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Next()
}

func (l *lockedBackoff) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

func endReason(renewable bool, lastErr error) string {
	switch {
	case lastErr != nil:
		return "renewal kept failing until the grace period before expiry"
	case !renewable:
		return "not renewable, expiring"
	}
	return "the maximum TTL is reached"
}

// permanent reports a renewal Vault refused (revoked token, unknown or non-renewable lease):
// retrying cannot help. Server errors, rate limits and transport errors are retried.
func permanent(err error) bool {
	s := StatusOf(err)
	return s >= 400 && s < 500 && s != 429 && s != 412
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
