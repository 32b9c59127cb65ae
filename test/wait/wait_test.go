package wait

import (
	"fmt"
	"testing"
	"time"
)

// recorder stands in for the test a helper fails: it keeps the message instead of stopping.
type recorder struct {
	testing.TB
	failure string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) { r.failure = fmt.Sprintf(format, args...) }

func TestForReturnsOnceTheConditionHolds(t *testing.T) {
	r, calls := &recorder{}, 0
	For(r, time.Minute, "three calls", func() bool { calls++; return calls == 3 })
	if r.failure != "" || calls != 3 {
		t.Fatalf("failure %q after %d calls, want none after 3", r.failure, calls)
	}
}

func TestForFailsAfterTheTimeoutNamingWhat(t *testing.T) {
	r, began := &recorder{}, time.Now()
	For(r, 50*time.Millisecond, "the impossible", func() bool { return false })
	if took := time.Since(began); took < 50*time.Millisecond {
		t.Errorf("gave up after %s, before the timeout", took)
	}
	if want := "timed out after 50ms waiting for the impossible"; r.failure != want {
		t.Errorf("failure %q, want %q", r.failure, want)
	}
}

func TestUntilReportsTheLastError(t *testing.T) {
	r, calls := &recorder{}, 0
	Until(r, 50*time.Millisecond, func() error { calls++; return fmt.Errorf("attempt %d still wrong", calls) })
	if want := fmt.Sprintf("timed out after 50ms: attempt %d still wrong", calls); calls < 2 || r.failure != want {
		t.Errorf("failure %q after %d calls, want %q", r.failure, calls, want)
	}

	r = &recorder{}
	Until(r, time.Minute, func() error { return nil })
	if r.failure != "" {
		t.Errorf("failed with %q on a check that passes at once", r.failure)
	}
}

// TestPollBacksOff checks that a long wait does not hammer what it asks: after the first
// quick polls, at most ten a second.
func TestPollBacksOff(t *testing.T) {
	t.Parallel()
	calls := 0
	_ = poll(600*time.Millisecond, func() error { calls++; return fmt.Errorf("never") })
	// 5+10+20+40+80ms, then 100ms each: about 10 calls in 600ms; fewer on a loaded machine.
	if calls < 2 || calls > 12 {
		t.Errorf("%d calls in 600ms", calls)
	}
}

func TestPollChecksOnceWithZeroTimeout(t *testing.T) {
	calls := 0
	err := poll(0, func() error { calls++; return fmt.Errorf("not ready") })
	if calls != 1 || err == nil || err.Error() != "not ready" {
		t.Errorf("%d calls, error %v; want one call and its error", calls, err)
	}
}
