package jumio

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// laneLimiter is a limiter of rps with burst whose bulk lanes may use
// bulkBurst of it.
func laneLimiter(rps float64, burst, bulkBurst int, weights map[Lane]int) *limiter {
	l := newLimiter(rps, burst, time.Minute)
	l.lanes.configure(burst, bulkBurst, weights)
	return l
}

// TestLiveBeforeBulk: with bulk requests queued on an empty bucket, live
// requests that come later are let through first.
func TestLiveBeforeBulk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := laneLimiter(10, 1, 1, DefaultLaneWeights)
		if err := l.Wait(t.Context()); err != nil { // empty the bucket
			t.Fatal(err)
		}
		var (
			mu    sync.Mutex
			order []Lane
			wg    sync.WaitGroup
		)
		start := func(lane Lane) {
			wg.Go(func() {
				if err := l.Wait(WithLane(t.Context(), lane)); err != nil {
					t.Errorf("Wait(%s): %v", lane, err)
				}
				mu.Lock()
				order = append(order, lane)
				mu.Unlock()
			})
			synctest.Wait() // queued before the next one comes
		}
		for range 3 {
			start(LaneMigrate)
		}
		start(LaneLive)
		start(LaneLive)
		wg.Wait()
		want := []Lane{LaneLive, LaneLive, LaneMigrate, LaneMigrate, LaneMigrate}
		if diff := cmp.Diff(want, order); diff != "" {
			t.Errorf("order of requests (-want +got):\n%s", diff)
		}
	})
}

// TestBulkLeavesTheBurstToLive: bulk requests never take the part of the
// burst kept for live ones, so live requests that arrive while bulk work
// keeps the budget busy do not wait.
func TestBulkLeavesTheBurstToLive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := laneLimiter(10, 5, 1, DefaultLaneWeights)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var bulk sync.WaitGroup
		for range 4 { // bulk callers that always want more
			bulk.Go(func() {
				for l.Wait(WithLane(ctx, LaneReplay)) == nil {
				}
			})
		}
		time.Sleep(10 * time.Second) // bulk work runs long
		before := l.laneStates("retrieval")[2].Granted
		start := time.Now()
		for i := range 4 {
			if err := l.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
			if waited := time.Since(start); waited != 0 {
				t.Fatalf("live request %d waited %v behind bulk work, want 0", i+1, waited)
			}
		}
		// 10 s at 10/s, one taken at once: bulk used the whole budget meanwhile.
		if before < 100 {
			t.Errorf("bulk got %d requests in 10 s at 10/s, want about 100", before)
		}
		cancel()
		bulk.Wait()
	})
}

// TestBulkUsesWhatLiveLeaves: with live requests at 4/s of a 10/s budget
// and bulk work always waiting, the bulk lane gets the other 6/s.
func TestBulkUsesWhatLiveLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := laneLimiter(10, 5, 1, DefaultLaneWeights)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for l.Wait(WithLane(ctx, LaneMigrate)) == nil {
				}
			})
		}
		liveWaited := time.Duration(0)
		for range 400 { // 100 s of live requests at 4/s
			time.Sleep(250 * time.Millisecond)
			t0 := time.Now()
			if err := l.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
			liveWaited += time.Since(t0)
		}
		cancel()
		wg.Wait()
		st := l.laneStates("retrieval")
		live, bulk := st[0].Granted, st[3].Granted
		// 100 s × 10/s + the first burst = 1005; live took 400. One
		// request of slack for the last bulk waiter woken at the end.
		if live != 400 || bulk < 600 || bulk > 605 {
			t.Errorf("live %d, bulk %d requests in 100 s: want 400 live and the 600 left to bulk", live, bulk)
		}
		if liveWaited != 0 {
			t.Errorf("live requests waited %v in all, want none: the reserve covers them", liveWaited)
		}
	})
}

// TestBulkLanesShareByWeight: two saturated bulk lanes share the budget
// in proportion to their weights.
func TestBulkLanesShareByWeight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := laneLimiter(10, 1, 1, map[Lane]int{LaneReconcile: 3, LaneReplay: 1, LaneMigrate: 1})
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for _, lane := range []Lane{LaneReconcile, LaneMigrate} {
			for range 4 {
				wg.Go(func() {
					for l.Wait(WithLane(ctx, lane)) == nil {
					}
				})
			}
		}
		time.Sleep(40 * time.Second)
		cancel()
		wg.Wait()
		st := l.laneStates("retrieval")
		rec, mig := st[1].Granted, st[3].Granted
		// Three of every four requests, give or take the one being
		// handed over when the test ends.
		if total := rec + mig; total < 400 || 4*rec < 3*total-8 || 4*rec > 3*total+8 {
			t.Errorf("reconcile %d, migrate %d: want 3:1 of about 400", rec, mig)
		}
	})
}

// TestLaneWaiterLeaves: a waiter whose context ends leaves its lane, and
// the one behind it is served.
func TestLaneWaiterLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := laneLimiter(1, 1, 1, DefaultLaneWeights)
		_ = l.Wait(t.Context())
		ctx, cancel := context.WithCancel(t.Context())
		first := make(chan error, 1)
		go func() { first <- l.Wait(WithLane(ctx, LaneMigrate)) }()
		synctest.Wait()
		second := make(chan error, 1)
		go func() { second <- l.Wait(WithLane(t.Context(), LaneMigrate)) }()
		synctest.Wait()
		if st := l.laneStates("retrieval")[3]; st.Waiting != 2 {
			t.Fatalf("waiting %d, want 2", st.Waiting)
		}
		cancel()
		if err := <-first; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled waiter: %v, want context.Canceled", err)
		}
		if err := <-second; err != nil {
			t.Errorf("second waiter: %v", err)
		}
		if st := l.laneStates("retrieval")[3]; st.Waiting != 0 || st.Granted != 1 {
			t.Errorf("after: %+v, want nobody waiting and one granted", st)
		}
	})
}

// TestLaneStatesReportWaiting: the metrics' view of a lane: how many wait
// and for how long the oldest has.
func TestLaneStatesReportWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := laneLimiter(1, 1, 1, DefaultLaneWeights)
		_ = l.Wait(t.Context())
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		for range 3 {
			go func() { _ = l.Wait(WithLane(ctx, LaneReplay)) }()
		}
		time.Sleep(300 * time.Millisecond)
		synctest.Wait()
		st := l.laneStates("retrieval")[2]
		if st.Waiting != 3 || st.OldestWait != 300*time.Millisecond {
			t.Errorf("replay lane %+v, want 3 waiting, the oldest for 300ms", st)
		}
	})
}

// TestThrottledPausesEveryLane: a 429 pauses bulk and live callers alike.
func TestThrottledPausesEveryLane(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := laneLimiter(100, 10, 1, DefaultLaneWeights)
		start := time.Now()
		l.Throttled(3 * time.Second)
		for _, lane := range Lanes {
			if err := l.Wait(WithLane(t.Context(), lane)); err != nil {
				t.Fatal(err)
			}
			if waited := time.Since(start); waited < 3*time.Second {
				t.Errorf("lane %s went after %v, want the 3s Retry-After", lane, waited)
			}
		}
	})
}

func TestParseLaneWeights(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[Lane]int
		ok   bool
	}{
		{"", DefaultLaneWeights, true},
		{"migrate=5, replay=1", map[Lane]int{LaneReconcile: 4, LaneReplay: 1, LaneMigrate: 5}, true},
		{"live=2", nil, false},
		{"migrate=0", nil, false},
		{"export=1", nil, false},
		{"migrate", nil, false},
	} {
		got, err := ParseLaneWeights(tc.in)
		if (err == nil) != tc.ok || tc.ok && !cmp.Equal(got, tc.want) {
			t.Errorf("ParseLaneWeights(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidLaneWeights) {
			t.Errorf("ParseLaneWeights(%q): %v does not match ErrInvalidLaneWeights", tc.in, err)
		}
	}
}
