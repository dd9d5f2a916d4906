package bench

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/internal/bench/rig"
)

// TestSlopePerMinute: the least-squares slope of samples taken in
// seconds, per minute.
func TestSlopePerMinute(t *testing.T) {
	line := func(a, b float64, ts ...float64) []SoakPoint {
		var out []SoakPoint
		for _, x := range ts {
			out = append(out, SoakPoint{x, a + b*x/60})
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		points []SoakPoint
		want   float64
		ok     bool
	}{
		{"a line, 3 per minute", line(2, 3, 0, 10, 20, 30, 45, 60, 120), 3, true},
		{"a line, falling", line(100, -0.5, 60, 62, 64, 66), -0.5, true},
		{"flat", line(25, 0, 0, 2, 4, 6, 8), 0, true},
		// x 0, 1, 2 minutes; mean (1, 2); Σdx·dy = 1, Σdx² = 2.
		{"by hand", []SoakPoint{{0, 1}, {60, 3}, {120, 2}}, 0.5, true},
		// A spike in the middle does not tilt the fit.
		{"a spike in the middle", []SoakPoint{{0, 10}, {30, 10}, {60, 40}, {90, 10}, {120, 10}}, 0, true},
		// Uneven spacing: the fit weighs by time, not by index.
		{"uneven spacing", []SoakPoint{{0, 0}, {1, 0}, {2, 0}, {120, 4}}, 2.016427, true},
		{"one sample", []SoakPoint{{10, 1}}, 0, false},
		{"none", nil, 0, false},
		{"all at one time", []SoakPoint{{5, 1}, {5, 2}}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := slopePerMinute(tc.points)
			if ok != tc.ok {
				t.Fatalf("ok: got %v, want %v", ok, tc.ok)
			}
			if math.Abs(got-tc.want) > 1e-4 {
				t.Errorf("slope: got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSummarize: first, last and highest over every sample; growth and
// slope from the samples at or after the warm-up only, and no slope from
// fewer than three.
func TestSummarize(t *testing.T) {
	// Growing fast during the warm-up (60 s), then 1 MiB per minute.
	pts := []SoakPoint{{0, 10}, {30, 20}, {60, 30}, {90, 30.5}, {120, 31}, {150, 31.5}}
	got := summarize(pts, time.Minute)
	want := SoakSeries{First: 10, Last: 31.5, Max: 31.5, AfterWarmup: 30, Growth: 1.5, Fitted: 4, SlopePerMinute: 1, Sloped: true, Points: pts}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summarize (-want +got):\n%s", diff)
	}

	short := summarize(pts[:5], 90*time.Second)
	want = SoakSeries{First: 10, Last: 31, Max: 31, AfterWarmup: 30.5, Growth: 0.5, Fitted: 2, Points: pts[:5]}
	if diff := cmp.Diff(want, short); diff != "" {
		t.Errorf("two samples after the warm-up: no slope (-want +got):\n%s", diff)
	}
	if empty := summarize(nil, time.Minute); empty.Sloped {
		t.Errorf("no samples: got a slope")
	}
}

// flatSeries is n samples 2 s apart from t0 at v.
func flatSeries(t0 float64, n int, v float64) SoakSeries {
	var pts []SoakPoint
	for i := range n {
		pts = append(pts, SoakPoint{t0 + float64(2*i), v})
	}
	return summarize(pts, 0)
}

// risingSeries is n samples 2 s apart rising by perMinute.
func risingSeries(n int, v, perMinute float64) SoakSeries {
	var pts []SoakPoint
	for i := range n {
		pts = append(pts, SoakPoint{float64(2 * i), v + perMinute*float64(2*i)/60})
	}
	return summarize(pts, 0)
}

// metSoak is a soak that meets every target: flat services, nats-server
// growing exactly with its stored data.
func metSoak() SoakResult {
	r := SoakResult{Targets: soakTargets, Ledger: &rig.Ledger{}}
	for _, name := range []string{"ingest", "enricher", "notifier"} {
		r.Processes = append(r.Processes, SoakProcess{Name: name, RSS: flatSeries(0, 60, 25), Goroutines: flatSeries(0, 60, 40), FDs: flatSeries(0, 60, 20)})
	}
	beyond := flatSeries(0, 60, 40)
	r.Processes = append(r.Processes, SoakProcess{Name: natsServerName, RSS: risingSeries(60, 80, 30), Goroutines: risingSeries(60, 100, 50), FDs: flatSeries(0, 60, 60), BeyondStored: &beyond})
	r.Stored = risingSeries(60, 40, 30)
	return r
}

// TestSoakJudge: each target misses when its figure reaches the
// threshold, and missing samples miss too; nats-server may grow with its
// stored data, not beyond it.
func TestSoakJudge(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(r *SoakResult)
		want   string // "" when met; else a part of the one miss
	}{
		{"flat services, nats-server growing with its data", func(*SoakResult) {}, ""},
		{"just under every threshold", func(r *SoakResult) {
			r.Processes[0].RSS = risingSeries(60, 25, 0.99) // 1.95 MiB over the two minutes
			r.Processes[1].Goroutines = risingSeries(60, 40, 19.9)
			r.Processes[2].FDs = risingSeries(60, 20, 9.9)
			b := risingSeries(60, 40, 0.99)
			r.Processes[3].BeyondStored = &b
		}, ""},
		{"enricher memory just over 1 MiB/min", func(r *SoakResult) { r.Processes[1].RSS = risingSeries(60, 25, 1.01) }, "enricher: resident memory grows"},
		{"ingest grew 5 MiB at the end, slope under 1", func(r *SoakResult) {
			s := flatSeries(0, 60, 25)
			s.Points[59].V = 30
			r.Processes[0].RSS = summarize(s.Points, 0)
		}, "ingest: resident memory grew 5.0 MiB"},
		{"notifier goroutines just over 20/min", func(r *SoakResult) { r.Processes[2].Goroutines = risingSeries(60, 40, 20.1) }, "notifier: goroutines grows"},
		{"ingest descriptors just over 10/min", func(r *SoakResult) { r.Processes[0].FDs = risingSeries(60, 20, 10.1) }, "ingest: open descriptors grows"},
		{"nats-server beyond its data just over 1 MiB/min", func(r *SoakResult) {
			b := risingSeries(60, 40, 1.01)
			r.Processes[3].BeyondStored = &b
		}, "nats-server: resident memory beyond the stored data grows"},
		{"a service with too few samples", func(r *SoakResult) { r.Processes[1].FDs = flatSeries(0, 2, 20) }, "enricher: open descriptors: 2 samples after the warm-up"},
		{"readings failed", func(r *SoakResult) { r.Processes[0].SampleErrors, r.Processes[0].LastError = 3, "gone" }, "ingest: 3 readings failed"},
		{"stored data unreadable", func(r *SoakResult) { r.StoredErrors = 1 }, "stored data: 1 readings failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := metSoak()
			tc.change(&r)
			missed := r.judge()
			switch {
			case tc.want == "" && len(missed) > 0:
				t.Errorf("missed %q, want met", missed)
			case tc.want != "" && (len(missed) != 1 || !strings.Contains(missed[0], tc.want)):
				t.Errorf("missed %q, want one miss with %q", missed, tc.want)
			}
		})
	}
}

// TestSoakSamplerReadsProcesses samples real processes: this test's own
// (whose descriptors it opens) and a child it starts, whose exit the
// sampler counts as failed readings instead of figures.
func TestSoakSamplerReadsProcesses(t *testing.T) {
	child := exec.CommandContext(t.Context(), "sleep", "600")
	if err := child.Start(); err != nil {
		t.Skipf("no sleep to sample: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = child.Wait(); close(exited) }()
	t.Cleanup(func() { _ = child.Process.Kill(); <-exited })
	childPID := func() (int, error) {
		select {
		case <-exited:
			return 0, errors.New("sleep has exited")
		default:
			return child.Process.Pid, nil
		}
	}
	// Loaded and asleep: its memory and descriptors hold still.
	for !strings.Contains(procStatus(t, child.Process.Pid), "\nState:\tS") {
		time.Sleep(time.Millisecond)
	}
	errScrape := errors.New("no metrics")
	scrapeFails := false
	probes := []soakProbe{
		{name: "self", pid: func() (int, error) { return os.Getpid(), nil }, goroutines: func(context.Context) (int, error) {
			if scrapeFails {
				return 0, errScrape
			}
			return 7, nil
		}},
		{name: "sleep", pid: childPID},
	}
	stored := func(context.Context) (int64, error) { return 3 << 20, nil }
	s := newSoakSampler(probes, stored, "sleep", nil)
	s.start = time.Now()

	s.sample(t.Context())
	var files []*os.File
	for range 10 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	s.sample(t.Context())
	for _, f := range files {
		f.Close()
	}
	self := s.samples("self")
	if len(self.fds) != 2 || self.fds[1].V-self.fds[0].V != 10 {
		t.Errorf("own descriptors: got %v, want two samples 10 apart (10 files opened between them)", self.fds)
	}
	if len(self.rss) != 2 || self.rss[0].V <= 0 || self.rss[1].V <= 0 {
		t.Errorf("own resident memory: got %v, want two positive samples", self.rss)
	}
	if diff := cmp.Diff([]float64{7, 7}, values(self.goroutines)); diff != "" {
		t.Errorf("own goroutines (-want +got):\n%s", diff)
	}
	sleep := s.samples("sleep")
	if len(sleep.rss) != 2 || len(sleep.fds) != 2 {
		t.Errorf("child: resident %v, descriptors %v; want two samples each", sleep.rss, sleep.fds)
	} else {
		if want := vmRSSKiB(t, child.Process.Pid); sleep.rss[1].V*1024 != want {
			t.Errorf("child: resident %v MiB, want its VmRSS, %v kB", sleep.rss[1].V, want)
		}
		fds, err := os.ReadDir("/proc/" + strconv.Itoa(child.Process.Pid) + "/fd")
		if err != nil || sleep.fds[1].V != float64(len(fds)) || len(fds) < 3 {
			t.Errorf("child: %v descriptors, want the %d of its /proc/PID/fd (%v), stdin, stdout and stderr at least", sleep.fds[1].V, len(fds), err)
		}
	}
	if len(sleep.goroutines) != 0 || sleep.errors != 0 {
		t.Errorf("child: goroutines %v, %d errors; want none of either (it has no way to tell)", sleep.goroutines, sleep.errors)
	}
	st, storeErrors, beyond := s.storedSamples()
	if diff := cmp.Diff([]float64{3, 3}, values(st)); diff != "" || storeErrors != 0 {
		t.Errorf("stored MiB (-want +got):\n%s, %d errors", diff, storeErrors)
	}
	if len(beyond) != 2 || beyond[0].V != sleep.rss[0].V-3 || beyond[1].V != sleep.rss[1].V-3 {
		t.Errorf("child beyond the stored data: got %v, want its resident memory %v less 3 MiB", beyond, sleep.rss)
	}

	// The child gone and a scrape failing: readings fail, no figure is
	// made up.
	_ = child.Process.Kill()
	<-exited
	scrapeFails = true
	s.sample(t.Context())
	sleep, self = s.samples("sleep"), s.samples("self")
	if len(sleep.rss) != 2 || len(sleep.fds) != 2 || sleep.errors != 1 || sleep.lastError == "" {
		t.Errorf("after the child's exit: %d memory and %d descriptor samples, %d errors (%q); want 2, 2 and 1", len(sleep.rss), len(sleep.fds), sleep.errors, sleep.lastError)
	}
	if len(self.goroutines) != 2 || self.errors != 1 || len(self.rss) != 3 {
		t.Errorf("after a failed scrape: %d goroutine samples, %d errors, %d memory samples; want 2, 1 and 3", len(self.goroutines), self.errors, len(self.rss))
	}
	if _, _, beyond := s.storedSamples(); len(beyond) != 2 {
		t.Errorf("beyond the stored data: %d samples, want 2 (none without the child's memory)", len(beyond))
	}
}

// TestSoakSamplerRuns: the sampler samples on its own until stopped, in
// time order.
func TestSoakSamplerRuns(t *testing.T) {
	s := newSoakSampler([]soakProbe{{name: "self", pid: func() (int, error) { return os.Getpid(), nil }}}, nil, "", nil)
	s.run(t.Context(), time.Millisecond)
	for len(s.samples("self").rss) < 3 && t.Context().Err() == nil {
		time.Sleep(time.Millisecond)
	}
	s.stop()
	got := s.samples("self").rss
	n := len(got)
	for i := 1; i < n; i++ {
		if got[i].T < got[i-1].T {
			t.Errorf("sample %d at %v, before sample %d at %v", i, got[i].T, i-1, got[i-1].T)
		}
	}
	if again := s.samples("self").rss; len(again) != n || n < 3 {
		t.Errorf("got %d samples then %d after stop; want at least 3, and none after stop", n, len(again))
	}
}

func procStatus(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// vmRSSKiB reads VmRSS of pid as a reader of /proc would.
func vmRSSKiB(t *testing.T, pid int) float64 {
	t.Helper()
	for line := range strings.Lines(procStatus(t, pid)) {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" && f[2] == "kB" {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

func values(ps []SoakPoint) []float64 {
	var out []float64
	for _, p := range ps {
		out = append(out, p.V)
	}
	return out
}

// TestRunSoakSmoke runs a short soak: every process sampled without a
// failed reading (nats-server's goroutines from its profile, the
// services' from their metrics), the stored data growing, the ledger
// balanced, and the report rendered. Whether the targets are met is not
// asserted: slopes over seconds say nothing.
func TestRunSoakSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and runs load for several seconds")
	}
	dir := t.TempDir()
	bins := testBinaries(t)
	opts := SoakOptions{Rate: 50, Duration: 6 * time.Second, Warmup: 2 * time.Second, Interval: 500 * time.Millisecond, Dir: dir, Binaries: &bins, Progress: testWriter{t}}
	if os.Getenv("KYCFLOW_TEST_LOG") != "" {
		opts.Log = os.Stderr
	}
	r, err := RunSoak(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if r.LedgerError != "" || r.Ledger == nil {
		t.Errorf("ledger: %q", r.LedgerError)
	}
	if r.Phase.Posted != 300 || r.Phase.Accepted != 300 {
		t.Errorf("posted %d, accepted %d; want 300 (50/s for 6 s)", r.Phase.Posted, r.Phase.Accepted)
	}
	var names []string
	for _, p := range r.Processes {
		names = append(names, p.Name)
		if p.SampleErrors > 0 || !p.RSS.Sloped || !p.Goroutines.Sloped || !p.FDs.Sloped || p.Goroutines.First <= 0 {
			t.Errorf("%s: %d readings failed (%s); memory %d, goroutines %d, descriptors %d samples after the warm-up",
				p.Name, p.SampleErrors, p.LastError, p.RSS.Fitted, p.Goroutines.Fitted, p.FDs.Fitted)
		}
		if (p.Name == natsServerName) != (p.BeyondStored != nil) {
			t.Errorf("%s: memory beyond the stored data %v, want it for nats-server only", p.Name, p.BeyondStored)
		}
	}
	if diff := cmp.Diff([]string{"ingest", "enricher", "notifier", natsServerName}, names); diff != "" {
		t.Errorf("processes (-want +got):\n%s", diff)
	}
	if r.StoredErrors > 0 || r.Stored.Last <= r.Stored.First {
		t.Errorf("stored: %v MiB to %v MiB, %d failed readings; want growth", r.Stored.First, r.Stored.Last, r.StoredErrors)
	}
	var b strings.Builder
	r.Write(&b, ThisMachine())
	t.Log("\n" + b.String())
	for _, want := range []string{"resident − stored MiB", "slope/min", "targets after the warm-up", "result: "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the report does not mention %q", want)
		}
	}
}
