// Package wait polls a condition in tests until it holds, and fails the test when a timeout
// passes first. Polls start every few milliseconds, because in-process conditions settle fast,
// and back off to 100ms, because a condition that asks an API server costs a request each time.
package wait

import (
	"errors"
	"testing"
	"time"
)

const (
	firstInterval = 5 * time.Millisecond
	maxInterval   = 100 * time.Millisecond
)

// For polls cond until it returns true. After timeout it fails the test, naming what it
// waited for.
func For(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	notYet := errors.New("not yet")
	err := poll(timeout, func() error {
		if cond() {
			return nil
		}
		return notYet
	})
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// Until polls check until it returns nil. After timeout it fails the test with check's last
// error, which should say what is still missing.
func Until(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	if err := poll(timeout, check); err != nil {
		t.Fatalf("timed out after %s: %v", timeout, err)
	}
}

// poll returns nil once check does, or check's last error once timeout has passed. check
// runs on the caller's goroutine, so it may itself fail the test.
func poll(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for interval := firstInterval; ; interval = min(2*interval, maxInterval) {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(interval)
	}
}
