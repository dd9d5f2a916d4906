package jumio

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestLimiterAfter429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(10, 1, 30*time.Second)
		start := time.Now()
		l.Throttled(2 * time.Second)
		l.Throttled(2 * time.Second) // the same burst of 429s: one cut
		s := l.State()
		if s.Limit != 5 || s.Throttled != 2 || !s.PausedUntil.Equal(start.Add(2*time.Second)) {
			t.Fatalf("after two 429s: %+v, want limit 5, 2 throttled, paused 2s", s)
		}
		if err := l.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited != 2*time.Second {
			t.Errorf("first request after the 429 waited %v, want the 2s Retry-After", waited)
		}
		time.Sleep(time.Second)
		l.Throttled(0) // a second 429 later: the rate halves again
		if got := l.State().Limit; got != 2.5 {
			t.Errorf("after a later 429: limit %v, want 2.5", got)
		}
		// Each cooldown without a 429 doubles the rate back.
		time.Sleep(30 * time.Second)
		_ = l.Wait(t.Context())
		if got := l.State().Limit; got != 5 {
			t.Errorf("after one cooldown: limit %v, want 5", got)
		}
		time.Sleep(30 * time.Second)
		_ = l.Wait(t.Context())
		if s := l.State(); s.Limit != 10 || !s.SlowUntil.IsZero() {
			t.Errorf("after two cooldowns: %+v, want the full rate 10", s)
		}
	})
}

func TestLimiterHonoursDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(1, 1, time.Minute)
		l.Throttled(time.Minute)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := l.Wait(ctx); err == nil || Classify(err).Kind != RetryNow {
			t.Errorf("Wait during a 1-minute pause with a 1s deadline: %v, want a deadline error", err)
		}
	})
}
