package background

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// recorder stands in for the test a Task reports to: it keeps failures instead of stopping,
// and runs the cleanups when the test calls end.
type recorder struct {
	testing.TB
	failures []string
	cleanups []func()
}

func (r *recorder) Helper()          {}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...) }

func (r *recorder) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// untilCancelled is a well-behaved loop: it runs until its context ends, then returns err.
func untilCancelled(err error) func(context.Context) error {
	return func(ctx context.Context) error { <-ctx.Done(); return err }
}

func TestCleanupStopsRunAndReportsItsError(t *testing.T) {
	r := &recorder{}
	k := Start(r, untilCancelled(errors.New("lost the lease")))
	if k.Err() != nil {
		t.Fatal("Err before run returned")
	}
	r.end()
	if want := "background run returned: lost the lease"; len(r.failures) != 1 || r.failures[0] != want {
		t.Fatalf("failures %q, want [%q]", r.failures, want)
	}
	<-k.Done()

	r = &recorder{}
	Start(r, untilCancelled(nil))
	r.end()
	if len(r.failures) != 0 {
		t.Fatalf("a clean stop failed the test: %q", r.failures)
	}
}

func TestStopHandsTheErrorToTheTest(t *testing.T) {
	r := &recorder{}
	k := Start(r, untilCancelled(errors.New("boom")))
	if err := k.Stop(); err == nil || err.Error() != "boom" {
		t.Fatalf("Stop: %v, want boom", err)
	}
	if err := k.Stop(); err == nil || err.Error() != "boom" {
		t.Fatalf("second Stop: %v, want boom again", err)
	}
	r.end()
	if len(r.failures) != 0 {
		t.Fatalf("the cleanup reported an error the test already had: %q", r.failures)
	}
}

func TestAwaitReady(t *testing.T) {
	r, ready := &recorder{}, make(chan struct{})
	k := Start(r, func(ctx context.Context) error { close(ready); <-ctx.Done(); return nil })
	k.AwaitReady(ready, time.Minute)
	if len(r.failures) != 0 {
		t.Fatalf("failures %q", r.failures)
	}
	r.end()

	r = &recorder{}
	Start(r, func(context.Context) error { return errors.New("no config") }).AwaitReady(make(chan struct{}), time.Minute)
	if want := "background run returned before it was ready: no config"; len(r.failures) != 1 || r.failures[0] != want {
		t.Fatalf("failures %q, want [%q]", r.failures, want)
	}
	r.end()

	r = &recorder{}
	Start(r, untilCancelled(nil)).AwaitReady(make(chan struct{}), 20*time.Millisecond)
	if want := "background run not ready after 20ms"; len(r.failures) != 1 || r.failures[0] != want {
		t.Fatalf("failures %q, want [%q]", r.failures, want)
	}
	r.end()
}

func TestStopGivesUpOnARunThatIgnoresItsContext(t *testing.T) {
	defer func(d time.Duration) { stopTimeout = d }(stopTimeout)
	stopTimeout = 20 * time.Millisecond
	r, release := &recorder{}, make(chan struct{})
	defer close(release)
	_ = Start(r, func(context.Context) error { <-release; return nil }).Stop()
	if want := "background run did not return within 20ms of its context ending"; len(r.failures) != 1 || r.failures[0] != want {
		t.Fatalf("failures %q, want [%q]", r.failures, want)
	}
}
