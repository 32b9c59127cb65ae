package backoff

import (
	"testing"
	"time"
)

func TestBoundsAndGrowth(t *testing.T) {
	b := &Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	var prevCeil time.Duration
	for i := 0; i < 40; i++ {
		ceil := min(b.Min<<min(i, 20), b.Max)
		d := b.Next()
		if d < ceil/2 || d > ceil {
			t.Fatalf("attempt %d: %v outside [%v, %v]", i, d, ceil/2, ceil)
		}
		if ceil < prevCeil {
			t.Fatalf("ceiling shrank at attempt %d", i)
		}
		prevCeil = ceil
	}
	b.Reset()
	if d := b.Next(); d > b.Min {
		t.Fatalf("after Reset: %v > Min", d)
	}
}

func TestJitterSpreads(t *testing.T) {
	seen := map[time.Duration]bool{}
	for i := 0; i < 50; i++ {
		b := &Backoff{Min: time.Second, Max: time.Minute}
		seen[b.Next()] = true
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct first delays out of 50: no jitter", len(seen))
	}
}
