// Package backoff computes bounded exponential retry delays with jitter, so that many pods
// failing against one Vault do not retry in lockstep.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff doubles from Min up to Max; each delay is drawn from [d/2, d] ("equal jitter"), which
// spreads retries while keeping a floor. Not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration
	attempt  int
}

// Next returns the delay before the next retry.
func (b *Backoff) Next() time.Duration {
	d := b.Min
	for i := 0; i < b.attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	b.attempt++
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(d-half+1)
}

// Reset starts over from Min, after a success.
func (b *Backoff) Reset() { b.attempt = 0 }
