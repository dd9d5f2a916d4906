package bench

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// scheduleCase is a rate and a duration to drive the open loop with.
type scheduleCase struct {
	rate float64
	d    time.Duration
}

// scheduleCases are the rates whose interval is not a whole number of
// nanoseconds (1s/150, 1s/7, 1s/3), the run (150/s for 150 s),
// products that are whole only on paper (0.29/s for 100 s is
// 28.999999999999996 in floating point), and random rates and durations.
func scheduleCases() []scheduleCase {
	cases := []scheduleCase{
		{150, 150 * time.Second}, {150, 20 * time.Second}, {7, 10 * time.Second}, {3, 5 * time.Second},
		{3, time.Second}, {125, 150 * time.Second}, {100, 20 * time.Second}, {0.29, 100 * time.Second},
		{1.1, 10 * time.Second}, {7, 1500 * time.Millisecond}, {1234.5, 2 * time.Second}, {1, 333 * time.Millisecond},
	}
	rng := rand.New(rand.NewPCG(22, 150))
	for range 150 {
		rate := math.Round((0.1+rng.Float64()*499.9)*100) / 100
		d := time.Duration(1+rng.Int64N(3000)) * time.Millisecond
		cases = append(cases, scheduleCase{rate, d})
	}
	return cases
}

// sends is what an open loop did: the due time of each send, by index,
// and how many times each index was sent.
type sends struct {
	mu    sync.Mutex
	at    map[int]time.Time
	count map[int]int
}

func (s *sends) add(n int, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.at[n] = at
	s.count[n]++
}

// checkSends checks that the sends are indices 0 … want−1, each once, in
// order of their due times, from begin and before end.
func checkSends(t *testing.T, name string, s *sends, want int, begin, end time.Time) {
	t.Helper()
	if len(s.count) != want {
		t.Errorf("%s: %d distinct sends, want %d", name, len(s.count), want)
	}
	var prev time.Time
	for i := range want {
		if c := s.count[i]; c != 1 {
			t.Errorf("%s: send %d made %d times, want 1", name, i, c)
			return
		}
		at := s.at[i]
		switch {
		case i == 0 && !at.Equal(begin):
			t.Errorf("%s: first send due %v after the start, want at the start", name, at.Sub(begin))
		case at.Before(prev):
			t.Errorf("%s: send %d due before send %d", name, i, i-1)
		case !at.Before(end):
			t.Errorf("%s: send %d due %v after the start, not before the end (%v)", name, i, at.Sub(begin), end.Sub(begin))
		}
		prev = at
	}
	for i := range s.count {
		if i < 0 || i >= want {
			t.Errorf("%s: send %d made, want indices 0 to %d", name, i, want-1)
			return
		}
	}
}

// TestRateScheduleSendsRateTimesDuration: FixedRate's schedule sends
// exactly rate × duration requests (rounded), evenly from the start and
// before the end, for any rate and duration; where the product is whole
// each send is due at i/rate to the nanosecond, whatever the rounding of
// 1s/rate.
func TestRateScheduleSendsRateTimesDuration(t *testing.T) {
	for _, tc := range scheduleCases() {
		t.Run(caseName(tc), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &sends{at: map[int]time.Time{}, count: map[int]int{}}
				begin := time.Now()
				openLoop(t.Context(), 16, rateSchedule(begin, tc.rate, tc.d), s.add)
				want := int(math.Round(tc.rate * tc.d.Seconds()))
				label := caseName(tc)
				checkSends(t, label, s, want, begin, begin.Add(tc.d))
				if whole := tc.rate * tc.d.Seconds(); math.Abs(whole-math.Round(whole)) < 1e-6 {
					for i := range want {
						exact := time.Duration(math.Round(float64(i) / tc.rate * float64(time.Second)))
						if got := s.at[i].Sub(begin); (got - exact).Abs() > time.Nanosecond {
							t.Errorf("%s: send %d due at %v, want %v", label, i, got, exact)
							break
						}
					}
				}
			})
		})
	}
}

// TestDispatchSendsEveryShot: the end-to-end driver's open loop sends
// each of n callbacks exactly once at any rate (the run: 22500
// callbacks at 150/s, whose interval is not a whole number of
// nanoseconds, panicked with an index out of range), within n/rate of the
// start.
func TestDispatchSendsEveryShot(t *testing.T) {
	for _, tc := range scheduleCases() {
		t.Run(caseName(tc), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := int(math.Round(tc.rate * tc.d.Seconds()))
				out := make([]int, n) // as driver.fire sizes its posts
				s := &sends{at: map[int]time.Time{}, count: map[int]int{}}
				begin := time.Now()
				dispatch(t.Context(), n, tc.rate, 16, func(i int, due time.Time) {
					out[i]++
					s.add(i, due)
				})
				span := time.Duration(math.Round(float64(n) / tc.rate * float64(time.Second)))
				checkSends(t, caseName(tc), s, n, begin, begin.Add(max(span, 1)))
			})
		})
	}
}

// TestOpenLoopStopsWithContext: an ended context stops the sends.
func TestOpenLoopStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		var mu sync.Mutex
		made := 0
		openLoop(ctx, 4, rateSchedule(time.Now(), 10, 10*time.Second), func(n int, _ time.Time) {
			mu.Lock()
			defer mu.Unlock()
			if made++; made == 5 {
				cancel()
			}
		})
		if made != 5 {
			t.Errorf("got %d sends, want 5 (the context ended at the fifth)", made)
		}
	})
}

// TestSendCount pins the rounding of rate × duration.
func TestSendCount(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		d    time.Duration
		want int
	}{
		{150, 150 * time.Second, 22500},
		{0.29, 100 * time.Second, 29},
		{7, 1500 * time.Millisecond, 11},
		{3, 700 * time.Millisecond, 2},
		{100, 0, 0},
		{0, time.Second, 0},
	} {
		if got := sendCount(tc.rate, tc.d); got != tc.want {
			t.Errorf("sendCount(%v, %v) = %d, want %d", tc.rate, tc.d, got, tc.want)
		}
	}
}

func caseName(tc scheduleCase) string {
	return strconv.FormatFloat(tc.rate, 'f', -1, 64) + "/s for " + tc.d.String()
}
