package broker

import (
	"testing"
	"time"
)

func TestBackoffStaysInItsJitteredRange(t *testing.T) {
	initial, maxInterval := time.Second, 30*time.Second
	for attempt := 1; attempt <= 70; attempt++ {
		base := min(initial<<min(attempt-1, 20), maxInterval)
		lo, hi := base/2, base+base/2
		for range 20 {
			if d := Backoff(attempt, initial, maxInterval); d < lo || d > hi {
				t.Fatalf("Backoff(%d): got %v, want within [%v, %v]", attempt, d, lo, hi)
			}
		}
	}
}

// TestFetchBackOff: after failed fetches the waits grow from 100 ms to at
// most 5 s, jittered ±50%, never give up, and start over once a fetch
// works.
func TestFetchBackOff(t *testing.T) {
	for range 20 {
		bo := newFetchBackOff()
		for failure := 1; failure <= 40; failure++ {
			base := min(100*time.Millisecond<<min(failure-1, 20), 5*time.Second)
			if d := bo.NextBackOff(); d < base/2 || d > base+base/2 {
				t.Fatalf("failure %d: wait %v, want within [%v, %v]", failure, d, base/2, base+base/2)
			}
		}
		bo.Reset()
		if d := bo.NextBackOff(); d > 150*time.Millisecond {
			t.Fatalf("after a fetch that worked: wait %v, want at most 150ms", d)
		}
	}
}
