package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/kycflow/kycflow/internal/bench/rig"
)

// soakProbe is a process the soak samples.
type soakProbe struct {
	name string
	// pid is the process's id, or an error when it is not running.
	pid func() (int, error)
	// goroutines reads its goroutine count (nil: it has no way to tell).
	goroutines func(ctx context.Context) (int, error)
}

// SoakPoint is one sample of one figure: T seconds after the sampling
// began, value V.
type SoakPoint struct {
	T float64 `json:"t"`
	V float64 `json:"v"`
}

// procSamples are one process's samples.
type procSamples struct {
	rss, goroutines, fds []SoakPoint
	// errors counts the readings that failed; lastError is the last one's
	// error.
	errors    int
	lastError string
}

// soakSampler reads each probe's resident memory (VmRSS, MiB), open file
// descriptors and goroutines, and what the streams store (MiB), every
// interval from its start until stop. A reading that fails is counted,
// not replaced: the figures are drawn from the readings that succeeded.
type soakSampler struct {
	probes []soakProbe
	// stored is what the streams store, in bytes (nil: not sampled).
	stored func(ctx context.Context) (int64, error)
	// storeOf names the probe whose memory the stored data explains
	// (nats-server): each round in which both were read adds their
	// difference to beyond.
	storeOf string
	// progress gets a line a minute (nil: none).
	progress io.Writer

	start time.Time
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup

	mu          sync.Mutex
	procs       map[string]*procSamples
	store       []SoakPoint
	storeErrors int
	beyond      []SoakPoint
	reported    int // minutes reported to progress
}

// probeTimeout bounds one goroutine or stored-bytes reading.
const probeTimeout = 5 * time.Second

func newSoakSampler(probes []soakProbe, stored func(context.Context) (int64, error), storeOf string, progress io.Writer) *soakSampler {
	s := &soakSampler{probes: probes, stored: stored, storeOf: storeOf, progress: progress, done: make(chan struct{}), procs: map[string]*procSamples{}}
	for _, p := range probes {
		s.procs[p.name] = &procSamples{}
	}
	return s
}

// run samples at once and then every interval until stop; it returns at
// once.
func (s *soakSampler) run(ctx context.Context, interval time.Duration) {
	s.start = time.Now()
	s.wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			s.sample(ctx)
			select {
			case <-s.done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// stop ends the sampling and waits for a sample under way.
func (s *soakSampler) stop() {
	s.once.Do(func() { close(s.done) })
	s.wg.Wait()
}

// sample reads the stored bytes and every probe once.
func (s *soakSampler) sample(ctx context.Context) {
	var stored *SoakPoint
	if s.stored != nil {
		sctx, cancel := context.WithTimeout(ctx, probeTimeout)
		b, err := s.stored(sctx)
		cancel()
		t := s.since()
		s.mu.Lock()
		if err != nil {
			s.storeErrors++
		} else {
			stored = &SoakPoint{t, mib(b)}
			s.store = append(s.store, *stored)
		}
		s.mu.Unlock()
	}
	for _, p := range s.probes {
		rss := s.sampleProbe(ctx, p)
		if p.name == s.storeOf && rss != nil && stored != nil {
			s.mu.Lock()
			s.beyond = append(s.beyond, SoakPoint{rss.T, rss.V - stored.V})
			s.mu.Unlock()
		}
	}
	s.report()
}

// sampleProbe reads one probe, and returns its resident memory (nil when
// unreadable).
func (s *soakSampler) sampleProbe(ctx context.Context, p soakProbe) *SoakPoint {
	t := s.since()
	var errs []error
	var rss, fds, gs *SoakPoint
	if pid, err := p.pid(); err != nil {
		errs = append(errs, err)
	} else {
		if b, err := rig.ResidentBytes(pid); err != nil {
			errs = append(errs, err)
		} else {
			rss = &SoakPoint{t, mib(b)}
		}
		if n, err := rig.OpenFDs(pid); err != nil {
			errs = append(errs, err)
		} else {
			fds = &SoakPoint{t, float64(n)}
		}
	}
	if p.goroutines != nil {
		gctx, cancel := context.WithTimeout(ctx, probeTimeout)
		n, err := p.goroutines(gctx)
		cancel()
		if err != nil {
			errs = append(errs, err)
		} else {
			gs = &SoakPoint{t, float64(n)}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.procs[p.name]
	if rss != nil {
		ps.rss = append(ps.rss, *rss)
	}
	if fds != nil {
		ps.fds = append(ps.fds, *fds)
	}
	if gs != nil {
		ps.goroutines = append(ps.goroutines, *gs)
	}
	ps.errors += len(errs)
	if len(errs) > 0 {
		ps.lastError = errs[len(errs)-1].Error()
	}
	return rss
}

func (s *soakSampler) since() float64 { return time.Since(s.start).Seconds() }

// report writes a line for each minute passed since the last: every
// process's resident memory and the stored data.
func (s *soakSampler) report() {
	if s.progress == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	minute := int(s.since() / 60)
	if minute <= s.reported {
		return
	}
	s.reported = minute
	line := fmt.Sprintf("  %dm:", minute)
	for _, p := range s.probes {
		if rss := s.procs[p.name].rss; len(rss) > 0 {
			line += fmt.Sprintf(" %s %.1f MiB,", p.name, rss[len(rss)-1].V)
		}
	}
	if len(s.store) > 0 {
		line += fmt.Sprintf(" stored %.1f MiB", s.store[len(s.store)-1].V)
	}
	fmt.Fprintln(s.progress, line)
}

// samples returns a copy of a process's samples.
func (s *soakSampler) samples(name string) procSamples {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.procs[name]
	if ps == nil {
		return procSamples{}
	}
	return procSamples{rss: clonePoints(ps.rss), goroutines: clonePoints(ps.goroutines), fds: clonePoints(ps.fds), errors: ps.errors, lastError: ps.lastError}
}

// storedSamples returns a copy of the stored-bytes samples (MiB), the
// readings that failed, and the storeOf probe's memory beyond the stored
// data (MiB).
func (s *soakSampler) storedSamples() (stored []SoakPoint, errors int, beyond []SoakPoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return clonePoints(s.store), s.storeErrors, clonePoints(s.beyond)
}

func clonePoints(ps []SoakPoint) []SoakPoint { return append([]SoakPoint(nil), ps...) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// SoakSeries sums up one figure of one process over the soak.
type SoakSeries struct {
	// First, Last and Max are over every sample.
	First float64 `json:"first"`
	Last  float64 `json:"last"`
	Max   float64 `json:"max"`
	// AfterWarmup is the first of the Fitted samples taken from the end
	// of the warm-up on, and Growth the last sample minus it.
	AfterWarmup float64 `json:"afterWarmup"`
	Growth      float64 `json:"growthAfterWarmup"`
	Fitted      int     `json:"samplesAfterWarmup"`
	// SlopePerMinute is the least-squares slope of those samples, per
	// minute; Sloped says whether there is one (at least minFitted
	// samples after the warm-up).
	SlopePerMinute float64 `json:"slopePerMinute"`
	Sloped         bool    `json:"sloped"`
	// Points are the samples.
	Points []SoakPoint `json:"points"`
}

// minFitted is the fewest samples a slope is drawn from.
const minFitted = 3

// summarize draws a series' figures from its points (in time order), the
// judged ones from those at or after warmup.
func summarize(points []SoakPoint, warmup time.Duration) SoakSeries {
	s := SoakSeries{Points: points}
	if len(points) == 0 {
		return s
	}
	s.First, s.Last, s.Max = points[0].V, points[len(points)-1].V, points[0].V
	var after []SoakPoint
	for _, p := range points {
		s.Max = max(s.Max, p.V)
		if p.T >= warmup.Seconds() {
			after = append(after, p)
		}
	}
	s.Fitted = len(after)
	if len(after) == 0 {
		return s
	}
	s.AfterWarmup = after[0].V
	s.Growth = s.Last - s.AfterWarmup
	if len(after) >= minFitted {
		s.SlopePerMinute, s.Sloped = slopePerMinute(after)
	}
	return s
}

// slopePerMinute is the least-squares slope of V over T, per minute
// (T in seconds); ok is false with fewer than two points or all at one
// time.
func slopePerMinute(points []SoakPoint) (slope float64, ok bool) {
	if len(points) < 2 {
		return 0, false
	}
	var mx, my float64
	for _, p := range points {
		mx += p.T
		my += p.V
	}
	n := float64(len(points))
	mx, my = mx/n, my/n
	var sxy, sxx float64
	for _, p := range points {
		dx := p.T - mx
		sxy += dx * (p.V - my)
		sxx += dx * dx
	}
	if sxx == 0 || math.IsNaN(sxx) {
		return 0, false
	}
	return sxy / sxx * 60, true
}
