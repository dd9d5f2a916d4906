package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// BenchmarkBacklog drives a backlog of Platform callbacks through an
// enricher process (this binary re-executed as cmd/enricher) against the
// simulator enforcing a request budget R with latency L, and reports:
//
//   - rate/R: the sustained retrieval rate (from the 10th percentile of
//     the results to the last, by their enriched times) as a fraction of
//     the budget (target ≥ 0.95);
//   - 429s: rate-limit answers from the simulator (target 0);
//   - tokens and lifetimes: token requests, and how many token lifetimes
//     the run lasted (target: one request per lifetime);
//   - peak-RSS-MiB and peak-heap-MiB of the enricher process (VmHWM, and
//     the largest go_memstats_heap_inuse_bytes seen on /metrics).
//
// Run it once per configuration, on an otherwise idle machine:
//
//	go test -run '^$' -bench Backlog -benchtime 1x ./cmd/enricher
func BenchmarkBacklog(b *testing.B) {
	for _, bc := range []struct {
		name     string
		budget   float64
		latency  time.Duration
		n        int
		lifetime time.Duration
		ahead    time.Duration
	}{
		{name: "R=15/L=50ms", budget: 15, latency: 50 * time.Millisecond, n: 450, lifetime: time.Hour},
		{name: "R=15/L=50ms/token=10s", budget: 15, latency: 50 * time.Millisecond, n: 450, lifetime: 10 * time.Second, ahead: time.Second},
		{name: "R=50/L=200ms", budget: 50, latency: 200 * time.Millisecond, n: 1500, lifetime: time.Hour},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				backlog(b, bc.budget, bc.latency, bc.n, bc.lifetime, bc.ahead)
			}
		})
	}
}

func backlog(b *testing.B, budget float64, latency time.Duration, n int, lifetime, ahead time.Duration) {
	b.StopTimer()
	w := newWorld(b, jumiotest.Config{Budget: budget, TokenBudget: 10, Latency: latency, TokenLifetime: lifetime})
	evs := w.callbacks(b, n, 42)
	env := map[string]string{}
	for k, v := range w.env {
		env[k] = v
	}
	env["KYCFLOW_JUMIO_RATE_LIMIT"] = strconv.FormatFloat(budget, 'f', -1, 64)
	delete(env, "KYCFLOW_JUMIO_RATE_BURST")
	if ahead > 0 {
		env["KYCFLOW_JUMIO_TOKEN_REFRESH_AHEAD"] = ahead.String()
	}
	b.StartTimer()
	start := time.Now()
	c := startChild(b, env)
	var peakHeap float64
	eventually(b, "the backlog enriched", func() bool {
		if h := metricValue(c, b, "go_memstats_heap_inuse_bytes"); h > peakHeap {
			peakHeap = h
		}
		if w.count(b, events.StreamEnriched) >= len(evs) {
			return true
		}
		time.Sleep(200 * time.Millisecond)
		return false
	})
	elapsed := time.Since(start)
	b.StopTimer()
	rss := peakRSS(c.cmd.Process.Pid)
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-c.done; err != nil {
		b.Errorf("enricher after SIGTERM: %v", err)
	}

	var times []time.Time
	for _, m := range brokertest.Messages(b, w.js, events.StreamEnriched) {
		var ev events.EnrichedEvent
		if err := json.Unmarshal(m.Data, &ev); err == nil && ev.Result.Timestamps.Enriched != nil {
			times = append(times, *ev.Result.Timestamps.Enriched)
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	from := len(times) / 10
	rate := float64(len(times)-1-from) / times[len(times)-1].Sub(times[from]).Seconds()
	b.ReportMetric(rate/budget, "rate/R")
	b.ReportMetric(rate, "req/s")
	b.ReportMetric(float64(w.jumio.Count(jumio.EndpointWorkflowDetails, 429)), "429s")
	b.ReportMetric(float64(w.jumio.Requests(jumio.EndpointToken)), "tokens")
	b.ReportMetric(elapsed.Seconds()/lifetime.Seconds(), "lifetimes")
	b.ReportMetric(rss/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(peakHeap/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(runtime.NumCPU()), "cpus")
}

// metricValue reads one unlabelled gauge from the process's /metrics.
func metricValue(c *child, tb testing.TB, name string) float64 {
	_, body := c.fetch(tb, "/metrics")
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// peakRSS is the process's peak resident set size in bytes (VmHWM).
func peakRSS(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb * 1024
		}
	}
	return 0
}
