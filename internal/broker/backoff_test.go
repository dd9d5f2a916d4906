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
