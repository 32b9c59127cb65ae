package vault

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/agent/vault/fakehttp"
	"github.com/vault-injector/vault-injector/contract"
)

// maxRetries bounds the requests an exponential backoff from min to max allows in d: the
// doubling steps, then one per max/2 at worst (equal jitter draws from [max/2, max]), plus the
// first attempt and one for timer slack.
func maxRetries(d, min, max time.Duration) int {
	return int(math.Ceil(math.Log2(float64(max)/float64(min)))) + int(d/(max/2)) + 2
}

// tokenClient is a client of srv with token auth (auth.method token), and its login method.
func tokenClient(t *testing.T, srv *fakehttp.Server, bo contract.Backoff) (*APIClient, Method) {
	t.Helper()
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("hvs.test"), 0o600); err != nil {
		t.Fatal(err)
	}
	auth := contract.Auth{Method: contract.AuthToken, TokenFile: tok}
	c, err := New(&contract.Config{Vault: contract.Vault{Address: srv.URL}, Auth: auth, Backoff: bo})
	if err != nil {
		t.Fatal(err)
	}
	return c, NewMethod(c, auth)
}

// tokenSession is a renewing session over tokenClient, logged in.
func tokenSession(t *testing.T, srv *fakehttp.Server, bo contract.Backoff, ev SessionEvents) *Session {
	t.Helper()
	c, m := tokenClient(t, srv, bo)
	s := NewSession(SessionOptions{Login: m, Tokens: c, Renew: true, Backoff: bo, Events: ev})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := s.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRenewalFailuresBackOff is the renewal storm: renew-self answers 500, and the retries
// must follow the configured backoff (here scaled down: 5-40 ms instead of 500 ms-30 s), then
// the watch ends in the grace period with a reason, instead of thousands of requests and
// "err":"".
func TestRenewalFailuresBackOff(t *testing.T) {
	srv := fakehttp.Start(2)
	t.Cleanup(srv.Close)
	srv.Fail(fakehttp.RenewSelf, 500)
	min, max := 5*time.Millisecond, 40*time.Millisecond
	start := time.Now()
	s := tokenSession(t, srv, contract.Backoff{Min: contract.Duration{Duration: min}, Max: contract.Duration{Duration: max}}, SessionEvents{})
	var err error
	select {
	case err = <-s.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not end before the token expired")
	}
	took := time.Since(start)
	if took > 2*time.Second {
		t.Errorf("ended after %v, after the token's 2 s TTL", took)
	}
	// The first renewal is due at 2/3 of the TTL; every request after it is a retry.
	retrying := took - 4*time.Second/3
	if n, bound := srv.Count(fakehttp.RenewSelf), maxRetries(retrying, min, max); n > bound || n < 2 {
		t.Errorf("%d renew-self requests in %v of retries; backoff %v-%v allows at most %d", n, retrying, min, max, bound)
	}
	var end *EndError
	if !errors.As(err, &end) || end.Err == nil || !HasStatus(err, 500) ||
		!strings.Contains(err.Error(), "renewal kept failing") || !strings.Contains(err.Error(), "injected failure 500") {
		t.Errorf("the watch ended with %v; want the reason and the last renewal error", err)
	}
}

func TestLeaseRenewalFailuresBackOff(t *testing.T) {
	srv := fakehttp.Start(0)
	t.Cleanup(srv.Close)
	srv.Fail(fakehttp.RenewLease, 503)
	min, max := 5*time.Millisecond, 40*time.Millisecond
	c, _ := tokenClient(t, srv, contract.Backoff{Min: contract.Duration{Duration: min}, Max: contract.Duration{Duration: max}})
	start := time.Now()
	err := <-c.WatchLease(context.Background(), &Secret{LeaseID: "db/creds/app/1", LeaseDuration: 2, Renewable: true}, nil)
	retrying := time.Since(start) - 4*time.Second/3
	if n, bound := srv.Count(fakehttp.RenewLease), maxRetries(retrying, min, max); n > bound || n < 2 {
		t.Errorf("%d lease renewals in %v of retries; at most %d allowed", n, retrying, bound)
	}
	if !HasStatus(err, 503) {
		t.Errorf("the watch ended with %v", err)
	}
}

// A refusal (revoked token) ends the watch at once: no retries against a 403.
func TestRenewalRefusedEndsAtOnce(t *testing.T) {
	srv := fakehttp.Start(1)
	t.Cleanup(srv.Close)
	srv.Fail(fakehttp.RenewSelf, 403)
	err := <-tokenSession(t, srv, contract.Backoff{}, SessionEvents{}).Lost()
	if n := srv.Count(fakehttp.RenewSelf); n != 1 || !strings.Contains(err.Error(), "Vault refused the renewal") {
		t.Errorf("%d renewals, ended with %v", n, err)
	}
}

// A renewable token is renewed at 2/3 of its TTL, and renewed() is told.
func TestRenewalSucceeds(t *testing.T) {
	srv := fakehttp.Start(1)
	t.Cleanup(srv.Close)
	renewed := make(chan struct{}, 10)
	s := tokenSession(t, srv, contract.Backoff{}, SessionEvents{Renewed: func() { renewed <- struct{}{} }})
	for range 2 {
		select {
		case <-renewed:
		case err := <-s.Lost():
			t.Fatalf("the watch ended: %v", err)
		case <-time.After(3 * time.Second):
			t.Fatal("no renewal")
		}
	}
}

// TestTokenRenewalBackoffCarriesOver: with short token lifetimes and renewal failing each time,
// a new token's retries continue from the previous token's delay instead of from backoff.min,
// so the requests per lifetime drop to the one at 2/3 of the TTL once the delay outgrows the
// retry window.
func TestTokenRenewalBackoffCarriesOver(t *testing.T) {
	srv := fakehttp.Start(2)
	t.Cleanup(srv.Close)
	srv.Fail(fakehttp.RenewSelf, 500)
	bo := contract.Backoff{Min: contract.Duration{Duration: 50 * time.Millisecond}, Max: contract.Duration{Duration: 2 * time.Second}}
	c, m := tokenClient(t, srv, bo)
	s := NewSession(SessionOptions{Login: m, Tokens: c, Renew: true, Backoff: bo})
	var perLifetime []int
	for range 3 {
		before := srv.Count(fakehttp.RenewSelf)
		if _, err := s.Ensure(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-s.Lost(); err == nil {
			t.Fatal("the watch ended without a reason")
		}
		perLifetime = append(perLifetime, srv.Count(fakehttp.RenewSelf)-before)
	}
	t.Logf("renew-self requests per token lifetime: %v", perLifetime)
	// The retry window (2/3 of the TTL to the grace period) is at most 0.67 s: the first
	// lifetime fits about four delays from 50 ms, the third none but the due renewal.
	if perLifetime[0] < 2 || perLifetime[2] > 2 {
		t.Errorf("renew-self requests per token lifetime: %v; want the backoff carried over", perLifetime)
	}
}
