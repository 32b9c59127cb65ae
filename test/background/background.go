// Package background runs a component's Run(ctx) loop in its own goroutine for the length of
// a test: a certs Manager, an agent Runner, a server. Its error, its readiness and a clean
// stop are checked in one place instead of a done channel and a cleanup in every test file.
package background

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stopTimeout bounds how long Stop waits for run to return after its context ends; a loop
// that ignores its context would otherwise hang the test binary until go test kills it.
var stopTimeout = time.Minute

// Task is a run function started by Start.
type Task struct {
	t      testing.TB
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done is closed

	stopOnce sync.Once
	stopped  atomic.Bool // Stop handed run's error to the test: the cleanup does not report it
}

// Start calls run in a new goroutine with a context that ends at Stop or when the test ends.
// If the test has not called Stop by then, the cleanup stops run and fails the test with the
// error run returned, if any.
func Start(t testing.TB, run func(ctx context.Context) error) *Task {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	k := &Task{t: t, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(k.done)
		k.err = run(ctx)
	}()
	t.Cleanup(func() {
		if err := k.stop(); err != nil && !k.stopped.Load() {
			t.Errorf("background run returned: %v", err)
		}
	})
	return k
}

// Done is closed once run has returned; Err then returns its error.
func (k *Task) Done() <-chan struct{} { return k.done }

// Err is run's error once Done is closed, nil before.
func (k *Task) Err() error {
	select {
	case <-k.done:
		return k.err
	default:
		return nil
	}
}

// AwaitReady blocks until ready is closed (a component's Ready channel). It fails the test
// if run returns first, with run's error, or if timeout passes.
func (k *Task) AwaitReady(ready <-chan struct{}, timeout time.Duration) {
	k.t.Helper()
	select {
	case <-ready:
	case <-k.done:
		k.t.Fatalf("background run returned before it was ready: %v", k.err)
	case <-time.After(timeout):
		k.t.Fatalf("background run not ready after %s", timeout)
	}
}

// Stop cancels run's context, waits for run to return and returns its error. Later calls
// return the same error. It fails the test if run has not returned a minute after the cancel.
func (k *Task) Stop() error {
	k.t.Helper()
	err := k.stop()
	k.stopped.Store(true)
	return err
}

func (k *Task) stop() error {
	k.stopOnce.Do(func() {
		k.cancel()
		select {
		case <-k.done:
		case <-time.After(stopTimeout):
			k.t.Fatalf("background run did not return within %s of its context ending", stopTimeout)
		}
	})
	return k.Err()
}
