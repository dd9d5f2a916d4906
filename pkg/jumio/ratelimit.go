package jumio

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateState is a snapshot of a request-rate limiter, for metrics.
type RateState struct {
	// Base is the configured rate in requests per second.
	Base float64
	// Limit is the current rate: Base, or less for a while after a 429.
	Limit float64
	// Burst is the number of requests that may start at once.
	Burst int
	// PausedUntil is when a Retry-After pause ends; zero when not paused.
	PausedUntil time.Time
	// SlowUntil is when the rate next doubles back toward Base; zero at
	// full rate.
	SlowUntil time.Time
	// Throttled counts the 429 answers seen.
	Throttled uint64
	// LongPauses counts the 429s whose Retry-After (capped at the
	// client's MaxRetryAfter) was longer than LongPause.
	LongPauses uint64
}

// LongPause is the Retry-After beyond which a pause is reported: logged
// at ERROR and counted (kycflow_jumio_long_pauses_total). Every request
// of the client waits that long.
const LongPause = time.Minute

// limiter is a token bucket (golang.org/x/time/rate) shared by every
// goroutine of a Client. A 429 pauses every caller for the Retry-After
// delay and halves the rate; after each cooldown without a further 429 the
// rate doubles, until it is back at the base rate. 429s that arrive
// together (answers to requests sent before the first one was seen) count
// as one.
type limiter struct {
	mu        sync.Mutex
	lim       *rate.Limiter
	base      rate.Limit
	factor    float64
	minFactor float64
	cooldown  time.Duration
	paused    time.Time
	slowUntil time.Time
	lastCut   time.Time
	throttled uint64
	// lanes orders waiting callers by lane (lanes.go).
	lanes *laneSched

	// maxPause caps a Retry-After (0: no cap); onLong, when set, is told
	// of a pause longer than LongPause, outside the lock.
	maxPause   time.Duration
	onLong     func(time.Duration)
	longPauses uint64
}

func newLimiter(rps float64, burst int, cooldown time.Duration) *limiter {
	return &limiter{
		lim:       rate.NewLimiter(rate.Limit(rps), burst),
		base:      rate.Limit(rps),
		factor:    1,
		minFactor: 1.0 / 16,
		cooldown:  cooldown,
		lanes:     newLaneSched(burst, DefaultBulkBurst, DefaultLaneWeights),
	}
}

// Wait blocks until a request may start or ctx is done; callers wait in
// the lane of ctx (LaneFrom), live ones first. A wait that would outlast
// ctx's deadline fails at once with an error that wraps
// context.DeadlineExceeded.
func (l *limiter) Wait(ctx context.Context) error {
	for {
		now := time.Now()
		l.mu.Lock()
		pause := l.paused.Sub(now)
		if pause <= 0 && l.factor < 1 && !now.Before(l.slowUntil) {
			// One doubling per cooldown elapsed since the last change.
			for l.factor < 1 && !now.Before(l.slowUntil) {
				l.factor = min(1, l.factor*2)
				l.slowUntil = l.slowUntil.Add(l.cooldown)
			}
			if l.factor >= 1 {
				l.slowUntil = time.Time{}
			}
			l.lim.SetLimitAt(now, l.base*rate.Limit(l.factor))
		}
		l.mu.Unlock()
		if pause <= 0 {
			break
		}
		if dl, ok := ctx.Deadline(); ok && dl.Before(now.Add(pause)) {
			return fmt.Errorf("jumio: paused by a 429 for %s: %w", pause.Round(time.Millisecond), context.DeadlineExceeded)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-t.C:
		}
	}
	return l.take(ctx, LaneFrom(ctx))
}

// Throttled records a 429: every caller pauses for retryAfter (when
// positive, at most maxPause) and the rate halves (not below 1/16 of the
// base) unless it was cut less than a second ago. A pause longer than
// LongPause is counted and reported to onLong.
func (l *limiter) Throttled(retryAfter time.Duration) {
	if l.maxPause > 0 {
		retryAfter = min(retryAfter, l.maxPause)
	}
	if retryAfter > LongPause && l.onLong != nil {
		defer l.onLong(retryAfter) // runs after the unlock below
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.throttled++
	if retryAfter > LongPause {
		l.longPauses++
	}
	if retryAfter > 0 && now.Add(retryAfter).After(l.paused) {
		l.paused = now.Add(retryAfter)
	}
	if now.Sub(l.lastCut) < time.Second && !l.lastCut.IsZero() {
		return
	}
	l.lastCut = now
	l.factor = max(l.minFactor, l.factor/2)
	l.lim.SetLimitAt(now, l.base*rate.Limit(l.factor))
	l.slowUntil = now.Add(max(l.cooldown, retryAfter))
}

// State returns a snapshot.
func (l *limiter) State() RateState {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := RateState{
		Base:       float64(l.base),
		Limit:      float64(l.base) * l.factor,
		Burst:      l.lim.Burst(),
		Throttled:  l.throttled,
		LongPauses: l.longPauses,
	}
	if l.paused.After(now) {
		s.PausedUntil = l.paused
	}
	if l.factor < 1 {
		s.SlowUntil = l.slowUntil
	}
	return s
}
