package jumio

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Lane names the kind of work a request to Jumio does. Every request of a
// Client draws from one request budget per limiter (the tenant's budget);
// lanes decide who gets the next request when several wait:
//
//   - LaneLive (callbacks as they arrive) is always served first, and only
//     live requests may use the whole burst: the bulk lanes leave
//     Config.RateBurst − Config.BulkBurst requests of it untouched, so that
//     a live request finds one ready even while bulk work keeps the budget
//     busy;
//   - the bulk lanes (LaneReconcile, LaneReplay, LaneMigrate) share what
//     live work leaves, in proportion to Config.LaneWeights (smooth
//     weighted round robin), so a long replay does not starve a migration
//     and the other way round.
//
// A 429 pauses and slows every lane alike. A request's lane comes from its
// context (WithLane); requests without one are live.
type Lane string

// Lanes.
const (
	// LaneLive is the work of callbacks as Jumio sends them.
	LaneLive Lane = "live"
	// LaneReconcile is the lookup of executions whose callback is overdue.
	LaneReconcile Lane = "reconcile"
	// LaneReplay is callbacks re-fed by "kycflow replay" and redrives.
	LaneReplay Lane = "replay"
	// LaneMigrate is the Netverify → Platform data migration: the
	// migration requests and the retrieval of the migrated executions.
	LaneMigrate Lane = "migrate"
)

// Lanes lists every lane, live first. Metric attributes use these names;
// renaming one changes metric series.
var Lanes = []Lane{LaneLive, LaneReconcile, LaneReplay, LaneMigrate}

// BulkLanes are the lanes that share what live work leaves.
var BulkLanes = Lanes[1:]

func laneIndex(l Lane) (int, bool) {
	i := slices.Index(Lanes, l)
	return i, i >= 0
}

type laneKey struct{}

// WithLane returns a context whose Jumio requests wait in lane l. An
// unknown lane is taken as LaneLive.
func WithLane(ctx context.Context, l Lane) context.Context {
	return context.WithValue(ctx, laneKey{}, l)
}

// LaneFrom returns the lane of ctx: the one WithLane set, else LaneLive.
func LaneFrom(ctx context.Context) Lane {
	if l, ok := ctx.Value(laneKey{}).(Lane); ok {
		if _, known := laneIndex(l); known {
			return l
		}
	}
	return LaneLive
}

// DefaultLaneWeights share what live work leaves: reconciliation (results
// people wait for) four parts, replays two, the migration one. A lane
// alone gets everything left, whatever its weight.
var DefaultLaneWeights = map[Lane]int{LaneReconcile: 4, LaneReplay: 2, LaneMigrate: 1}

// DefaultBulkBurst is how many requests of the burst the bulk lanes may
// use: one, so that they only ever take a request from a bucket that is
// otherwise full, and live requests find the rest of the burst ready.
const DefaultBulkBurst = 1

// ErrInvalidLaneWeights is matched by ParseLaneWeights' errors.
var ErrInvalidLaneWeights = errors.New("jumio: invalid lane weights")

// ParseLaneWeights reads bulk lane weights, "reconcile=4,replay=2,migrate=1"
// (lanes left out keep their default). The live lane has no weight: it is
// always served first.
func ParseLaneWeights(s string) (map[Lane]int, error) {
	out := map[Lane]int{}
	for k, v := range DefaultLaneWeights {
		out[k] = v
	}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		lane := Lane(strings.ToLower(strings.TrimSpace(k)))
		n, err := strconv.Atoi(strings.TrimSpace(v))
		switch {
		case !ok || err != nil:
			return nil, fmt.Errorf("%w: %q is not lane=weight", ErrInvalidLaneWeights, item)
		case lane == LaneLive:
			return nil, fmt.Errorf("%w: the live lane has no weight, it is always served first", ErrInvalidLaneWeights)
		case !slices.Contains(BulkLanes, lane):
			return nil, fmt.Errorf("%w: unknown lane %q (want reconcile, replay or migrate)", ErrInvalidLaneWeights, k)
		case n < 1 || n > 1000:
			return nil, fmt.Errorf("%w: weight of %s must be 1 to 1000", ErrInvalidLaneWeights, lane)
		}
		out[lane] = n
	}
	return out, nil
}

// FormatLaneWeights is the inverse of ParseLaneWeights, in lane order.
func FormatLaneWeights(w map[Lane]int) string {
	var parts []string
	for _, l := range BulkLanes {
		if n, ok := w[l]; ok {
			parts = append(parts, string(l)+"="+strconv.Itoa(n))
		}
	}
	return strings.Join(parts, ",")
}

// LaneState is a snapshot of one lane of a limiter, for metrics and
// tests.
type LaneState struct {
	// Limiter is "retrieval", "account", "api", "status" or "token".
	Limiter string
	Lane    Lane
	// Granted counts the requests the lane was let through.
	Granted uint64
	// Waiting is how many requests wait in the lane now.
	Waiting int
	// OldestWait is how long the longest-waiting request has waited; 0
	// when none waits.
	OldestWait time.Duration
}

// laneSched orders the callers of one limiter by lane: the next request
// goes to the oldest live waiter, else to the oldest waiter of the bulk
// lane whose turn it is. A bulk waiter takes a request only when the
// bucket keeps reserve requests after it.
type laneSched struct {
	mu      sync.Mutex
	reserve float64
	weights [4]int
	queues  [4][]*laneWaiter
	current [4]int // smooth weighted round robin
	turn    int    // bulk lane whose head is next; -1: choose again
	granted [4]uint64
}

type laneWaiter struct {
	lane  int
	since time.Time
	wake  chan struct{}
}

// newLaneSched returns a scheduler for a bucket of burst requests of
// which the bulk lanes may use bulkBurst.
func newLaneSched(burst, bulkBurst int, weights map[Lane]int) *laneSched {
	s := &laneSched{turn: -1, reserve: float64(max(0, burst-max(1, bulkBurst)))}
	for i, l := range Lanes {
		s.weights[i] = max(1, weights[l])
	}
	return s
}

// configure changes the reserve and weights (at client construction).
func (s *laneSched) configure(burst, bulkBurst int, weights map[Lane]int) {
	n := newLaneSched(burst, bulkBurst, weights)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reserve, s.weights = n.reserve, n.weights
}

// next returns the waiter that may take the next request; s.mu is held.
func (s *laneSched) next() *laneWaiter {
	if q := s.queues[0]; len(q) > 0 {
		return q[0]
	}
	if s.turn > 0 && len(s.queues[s.turn]) > 0 {
		return s.queues[s.turn][0]
	}
	// Smooth weighted round robin over the bulk lanes that have waiters.
	best, total := -1, 0
	for i := 1; i < len(s.queues); i++ {
		if len(s.queues[i]) == 0 {
			continue
		}
		s.current[i] += s.weights[i]
		total += s.weights[i]
		if best < 0 || s.current[i] > s.current[best] {
			best = i
		}
	}
	if best < 0 {
		s.turn = -1
		return nil
	}
	s.current[best] -= total
	s.turn = best
	return s.queues[best][0]
}

// remove takes w out of its queue and wakes whoever is next; s.mu is held.
func (s *laneSched) remove(w *laneWaiter) {
	q := s.queues[w.lane]
	if i := slices.Index(q, w); i >= 0 {
		s.queues[w.lane] = slices.Delete(q, i, i+1)
	}
	if n := s.next(); n != nil {
		select {
		case n.wake <- struct{}{}:
		default:
		}
	}
}

// take waits until the caller, in lane, may send a request, and takes it
// from l's bucket. It fails with ctx's cause when ctx ends, and with an
// error wrapping context.DeadlineExceeded when the wait would outlast
// ctx's deadline.
func (l *limiter) take(ctx context.Context, lane Lane) error {
	s := l.lanes
	li, _ := laneIndex(lane)
	w := &laneWaiter{lane: li, since: time.Now(), wake: make(chan struct{}, 1)}
	s.mu.Lock()
	s.queues[li] = append(s.queues[li], w)
	s.mu.Unlock()
	for {
		s.mu.Lock()
		if s.next() != w {
			s.mu.Unlock()
			select {
			case <-w.wake:
				continue
			case <-ctx.Done():
				s.mu.Lock()
				s.remove(w)
				s.mu.Unlock()
				return context.Cause(ctx)
			}
		}
		now := time.Now()
		need := 1.0
		if li > 0 {
			need += s.reserve
		}
		have := l.lim.TokensAt(now)
		if have >= need-1e-9 {
			r := l.lim.ReserveN(now, 1)
			if r.OK() && r.DelayFrom(now) <= 0 {
				s.granted[li]++
				if li > 0 {
					s.turn = -1
				}
				s.remove(w)
				s.mu.Unlock()
				return nil
			}
			if r.OK() {
				r.CancelAt(now)
			}
		}
		wait := time.Millisecond
		if lim := float64(l.lim.Limit()); lim > 0 {
			wait = max(time.Duration((need-have)/lim*float64(time.Second))+time.Microsecond, time.Microsecond)
		}
		s.mu.Unlock()
		if dl, ok := ctx.Deadline(); ok && dl.Before(now.Add(wait)) {
			s.mu.Lock()
			s.remove(w)
			s.mu.Unlock()
			return fmt.Errorf("jumio: waiting for the request budget: %w", context.DeadlineExceeded)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-w.wake:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			s.mu.Lock()
			s.remove(w)
			s.mu.Unlock()
			return context.Cause(ctx)
		}
	}
}

// laneStates returns a snapshot of every lane of l, named name.
func (l *limiter) laneStates(name string) []LaneState {
	s := l.lanes
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]LaneState, len(Lanes))
	for i, lane := range Lanes {
		st := LaneState{Limiter: name, Lane: lane, Granted: s.granted[i], Waiting: len(s.queues[i])}
		if len(s.queues[i]) > 0 {
			st.OldestWait = now.Sub(s.queues[i][0].since)
		}
		out[i] = st
	}
	return out
}

// Lanes returns the state of every lane of the client's limiters
// (retrieval, account, api, status, token), in that order, live first.
func (c *Client) Lanes() []LaneState {
	var out []LaneState
	for _, n := range c.limiters() {
		out = append(out, n.lim.laneStates(n.name)...)
	}
	return out
}

type namedLimiter struct {
	name string
	lim  *limiter
}

func (c *Client) limiters() []namedLimiter {
	return []namedLimiter{{"retrieval", c.retrieval}, {"account", c.account}, {"api", c.api}, {"status", c.health}, {"token", c.token}}
}
