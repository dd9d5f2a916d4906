package jumio

import (
	"context"
	"errors"
	"io"
	"strings"
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

func TestCappedBody(t *testing.T) {
	done := 0
	b := &cappedBody{ep: EndpointCredentialPart, body: io.NopCloser(strings.NewReader(strings.Repeat("x", 11))), left: 10, done: func() { done++ }}
	n, err := io.Copy(io.Discard, b)
	if n != 10 || !errors.Is(err, ErrTooLarge) {
		t.Errorf("read %d, %v; want 10 bytes then ErrTooLarge", n, err)
	}
	if _, err := b.Read(make([]byte, 4)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("read after the cap: %v, want ErrTooLarge", err)
	}
	b.Close()
	if done != 1 {
		t.Errorf("Close called done %d times, want 1", done)
	}
}

func FuzzErrorBody(f *testing.F) {
	f.Add([]byte(`{"title":"Too Many Requests","status":429,"detail":"Request limit exceeded"}`), "1")
	f.Add([]byte(`{"error":"invalid_client"}`), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add([]byte(`{"errorCode":1234,"message":"x"}`), "-1")
	f.Fuzz(func(t *testing.T, body []byte, retryAfter string) {
		ae := &APIError{Status: 400}
		fillErrorBody(ae, body)
		_ = ae.Error()
		if d := parseRetryAfter(retryAfter, time.Now()); d < 0 {
			t.Errorf("parseRetryAfter(%q) = %v, want ≥ 0", retryAfter, d)
		}
	})
}
