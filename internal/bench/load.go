package bench

import (
	"bytes"
	"context"
	"io"
	"math"
	"math/bits"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Target is an HTTP server under test: its base URL and the path for
// each API.
type Target struct {
	Name string
	Base string
	// Path returns the path a callback is posted to.
	Path func(cb Callback) string
}

// Measurement is the outcome of one load run.
type Measurement struct {
	Requests int
	Errors   int
	Elapsed  time.Duration
	// CPU is the processor time the whole process (load generator,
	// server under test and JetStream alike) used during the run; per
	// request it is steadier than throughput on a machine that others
	// share.
	CPU time.Duration
	// Latencies are sorted.
	Latencies []time.Duration
}

// Throughput is successful requests per second.
func (m Measurement) Throughput() float64 {
	if m.Elapsed <= 0 {
		return 0
	}
	return float64(m.Requests-m.Errors) / m.Elapsed.Seconds()
}

// CPUPerRequest is CPU over successful requests.
func (m Measurement) CPUPerRequest() time.Duration {
	if n := m.Requests - m.Errors; n > 0 {
		return m.CPU / time.Duration(n)
	}
	return 0
}

// Quantile returns the q-quantile (0..1) of the latencies.
func (m Measurement) Quantile(q float64) time.Duration {
	if len(m.Latencies) == 0 {
		return 0
	}
	i := int(q * float64(len(m.Latencies)-1))
	return m.Latencies[i]
}

// Merge adds the requests, errors, time and latencies of o to m.
func (m Measurement) Merge(o Measurement) Measurement {
	lats := append(slices.Clone(m.Latencies), o.Latencies...)
	slices.Sort(lats)
	return Measurement{Requests: m.Requests + o.Requests, Errors: m.Errors + o.Errors, Elapsed: m.Elapsed + o.Elapsed, CPU: m.CPU + o.CPU, Latencies: lats}
}

// newClient returns an HTTP client that keeps up to conns connections.
func newClient(conns int) *http.Client { return newClientIdle(conns, conns) }

// newClientIdle returns an HTTP client with up to conns connections, of
// which it keeps idle for later requests up to idle: the others are
// closed once their request is answered.
func newClientIdle(conns, idle int) *http.Client {
	tr := &http.Transport{
		MaxIdleConns:        idle,
		MaxIdleConnsPerHost: idle,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// send posts one callback and reports whether it was answered 200.
func send(ctx context.Context, client *http.Client, t Target, cb Callback) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.Base+t.Path(cb), bytes.NewReader(cb.Body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", cb.ContentType)
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// recorder collects latencies from many goroutines.
type recorder struct {
	mu   sync.Mutex
	lats []time.Duration
	errs int
	n    int
}

func (r *recorder) add(d time.Duration, ok bool) {
	r.mu.Lock()
	r.n++
	if ok {
		r.lats = append(r.lats, d)
	} else {
		r.errs++
	}
	r.mu.Unlock()
}

func (r *recorder) result(elapsed time.Duration) Measurement {
	r.mu.Lock()
	defer r.mu.Unlock()
	lats := slices.Clone(r.lats)
	slices.Sort(lats)
	return Measurement{Requests: r.n, Errors: r.errs, Elapsed: elapsed, Latencies: lats}
}

// Saturate sends callbacks from conc closed-loop clients for warmup plus
// d and measures the last d. next gives the n-th callback.
func Saturate(ctx context.Context, t Target, conc int, warmup, d time.Duration, next func(n int) Callback) Measurement {
	client := newClient(conc)
	defer client.CloseIdleConnections()
	var (
		measuring atomic.Bool
		rec       recorder
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		closedLoop(ctx, conc, -1, func(n int) {
			cb := next(n + 1)
			start := time.Now()
			ok := send(ctx, client, t, cb)
			if measuring.Load() && ctx.Err() == nil {
				rec.add(time.Since(start), ok)
			}
		})
	}()
	sleep(ctx, warmup)
	measuring.Store(true)
	start, cpu0 := time.Now(), processCPU()
	sleep(ctx, d)
	measuring.Store(false)
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	cancel()
	<-done
	m := rec.result(elapsed)
	m.CPU = cpu
	return m
}

// FixedRate sends callbacks at rate per second (open loop: a request is
// sent at its scheduled time whether or not earlier ones have been
// answered, up to maxInFlight) for warmup plus d, rate × (warmup+d)
// requests in all (rounded; see schedule), and measures the last d.
// Latency is measured from each request's scheduled send time, so a
// server that falls behind is charged for the queueing it causes.
func FixedRate(ctx context.Context, t Target, rate float64, maxInFlight int, warmup, d time.Duration, next func(n int) Callback) Measurement {
	client := newClient(maxInFlight)
	defer client.CloseIdleConnections()
	var rec recorder
	begin := time.Now()
	measureFrom := begin.Add(warmup)
	openLoop(ctx, maxInFlight, rateSchedule(begin, rate, warmup+d), func(n int, at time.Time) {
		ok := send(context.WithoutCancel(ctx), client, t, next(n))
		if !at.Before(measureFrom) {
			rec.add(time.Since(at), ok)
		}
	})
	return rec.result(d)
}

// closedLoop runs fire(n) for n = 0, 1, … from conc goroutines, each
// calling it again as soon as its call returns, until limit calls were
// made (limit < 0: no limit) or ctx ends; it returns when every call has.
func closedLoop(ctx context.Context, conc, limit int, fire func(n int)) {
	var (
		counter atomic.Int64
		wg      sync.WaitGroup
	)
	for range conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				n := int(counter.Add(1)) - 1
				if limit >= 0 && n >= limit {
					return
				}
				fire(n)
			}
		})
	}
	wg.Wait()
}

// schedule is n sends spread evenly over span from begin: the i-th is due
// at begin + i·span/n. Each time is computed from i in integers, not by
// adding up an interval: an interval of 1s/rate rounded to whole
// nanoseconds (1s/150 is 6666666.67 ns) would drift, and a loop that
// stops at begin+span would send one request too many or too few.
type schedule struct {
	begin time.Time
	span  time.Duration
	n     int
}

// sendCount is how many requests rate per second sends in d: rate × d
// rounded to the nearest whole number (so that 0.29/s for 100 s is 29,
// not the 28 a truncation of 28.999999999999996 gives).
func sendCount(rate float64, d time.Duration) int {
	if rate <= 0 || d <= 0 {
		return 0
	}
	return int(math.Round(rate * d.Seconds()))
}

// rateSchedule sends at rate per second for d: sendCount(rate, d)
// requests over d.
func rateSchedule(begin time.Time, rate float64, d time.Duration) schedule {
	return schedule{begin: begin, span: d, n: sendCount(rate, d)}
}

// countSchedule sends n requests at rate per second: over n/rate seconds.
func countSchedule(begin time.Time, rate float64, n int) schedule {
	return schedule{begin: begin, span: time.Duration(math.Round(float64(n) / rate * float64(time.Second))), n: n}
}

// at is when the i-th send (0 <= i < n) is due: begin + i·span/n, with the
// product in 128 bits so that no span and count overflow it.
func (s schedule) at(i int) time.Time {
	if s.n <= 0 || i <= 0 || s.span <= 0 {
		return s.begin
	}
	hi, lo := bits.Mul64(uint64(s.span), uint64(i))
	q, _ := bits.Div64(hi, lo, uint64(s.n)) // i < n: the quotient fits
	return s.begin.Add(time.Duration(q))
}

// openLoop calls fire(i, at) for each send i of s, at its due time at,
// whether or not earlier calls have returned, until all s.n were made or
// ctx ends; up to workers calls run at once (a call that waits for a
// worker is late, and at says by how much). It returns when every call
// has.
func openLoop(ctx context.Context, workers int, s schedule, fire func(n int, at time.Time)) {
	type job struct {
		n  int
		at time.Time
	}
	jobs := make(chan job, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				fire(j.n, j.at)
			}
		})
	}
	for n := 0; n < s.n; n++ {
		at := s.at(n)
		if wait := time.Until(at); wait > 0 {
			sleep(ctx, wait)
		}
		if ctx.Err() != nil {
			break
		}
		jobs <- job{n: n, at: at}
	}
	close(jobs)
	wg.Wait()
}

// processCPU is the user and system time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) next() int { return int(c.n.Add(1)) }
