package run

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vault-injector/vault-injector/agent/render"
)

// text/template cannot be cancelled: {{ range 100000000000 }}{{ end }} spins a core with no
// output and no function call to interrupt. So each secret renders on its own goroutine while
// the loop watches the clock; a render that runs past renderTimeout (Vault requests excluded)
// or past the end of ctx (SIGTERM, --once's initTimeout) is abandoned, and the agent exits:
// the goroutine cannot be stopped, and the next render would spin beside it.

// RenderTimeoutError is a render that ran past its budget. It ends the agent, with this
// message on stderr and in the termination log.
type RenderTimeoutError struct {
	Secret string
	Budget time.Duration
}

func (e *RenderTimeoutError) Error() string {
	return fmt.Sprintf("secret %q: the template ran for more than %s (renderTimeout) without finishing; a template cannot be stopped, so the agent exits", e.Secret, e.Budget)
}

// AbandonedError is a render still running when ctx ended.
type AbandonedError struct {
	Secret string
	Err    error // ctx's error
}

func (e *AbandonedError) Error() string {
	why := "the agent was stopped"
	if e.Err == context.DeadlineExceeded {
		why = "initTimeout was reached"
	}
	return fmt.Sprintf("secret %q: the template was still running when %s", e.Secret, why)
}

func (e *AbandonedError) Unwrap() error { return e.Err }

// renderGuarded renders it on its own goroutine under the watchdog.
func (r *Runner) renderGuarded(ctx context.Context, it *render.Item, src *source) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	name := it.Config().Name
	done := make(chan result, 1)
	clock := &fetchClock{}
	src.clock = clock
	go func() {
		b, err := it.Render(src)
		done <- result{b, err}
	}()
	budget := r.cfg.RenderBudget()
	start := time.Now()
	timer := time.NewTimer(budget)
	defer timer.Stop()
	for {
		select {
		case res := <-done:
			return res.b, res.err
		case <-ctx.Done():
			return nil, &AbandonedError{Secret: name, Err: ctx.Err()}
		case <-timer.C:
			left := budget - (time.Since(start) - clock.spent())
			if left <= 0 {
				return nil, &RenderTimeoutError{Secret: name, Budget: budget}
			}
			timer.Reset(left)
		}
	}
}

// fetchClock sums the time a render spends waiting for Vault, which is not the template's.
type fetchClock struct {
	mu    sync.Mutex
	total time.Duration
	since time.Time // start of the fetch in progress, or zero
}

func (c *fetchClock) begin() {
	c.mu.Lock()
	c.since = time.Now()
	c.mu.Unlock()
}

func (c *fetchClock) end() {
	c.mu.Lock()
	c.total += time.Since(c.since)
	c.since = time.Time{}
	c.mu.Unlock()
}

func (c *fetchClock) spent() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.since.IsZero() {
		return c.total
	}
	return c.total + time.Since(c.since)
}
