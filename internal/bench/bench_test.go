package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker/embedded"
	"github.com/kycflow/kycflow/pkg/events"
)

// benchServers runs the reference and the real ingest on one embedded
// JetStream server with JetStream's default sync, and returns its URL.
func benchServers(tb testing.TB) (url string, ref, ing *server) {
	tb.Helper()
	emb, err := embedded.Run(embedded.Config{StoreDir: tb.TempDir(), Port: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(emb.Stop)
	ctx := context.Background()
	streams := streamsConfig(SyncDefault)
	if ref, err = startReference(ctx, emb.URL(), streams); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(ref.stop)
	if ing, err = startIngest(ctx, emb.URL(), streams); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(ing.stop)
	return emb.URL(), ref, ing
}

// benchmarkTarget posts b.N distinct callbacks from 32 clients and reports
// requests per second and the processor time of the whole process
// (clients, server, JetStream) per request, cpu-ns/op, which is steadier
// than ns/op on a shared machine: it is the CPU/req of "kycflow bench
// ingest".
func benchmarkTarget(b *testing.B, pick func(ref, ing *server) *server) {
	_, ref, ing := benchServers(b)
	t := pick(ref, ing).target
	client := newClient(32)
	seed := b.Name() + strconv.Itoa(b.N)
	b.SetParallelism(16)
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	var n atomicCounter
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !send(context.Background(), client, t, MixedCallback(seed, n.next())) {
				b.Error("request failed")
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkIngest is ingest at saturation (default sync): compare with
// BenchmarkReference; "kycflow bench ingest" does both, with latencies.
func BenchmarkIngest(b *testing.B) {
	benchmarkTarget(b, func(_, ing *server) *server { return ing })
}

// BenchmarkReference is the minimal reference server at saturation.
func BenchmarkReference(b *testing.B) {
	benchmarkTarget(b, func(ref, _ *server) *server { return ref })
}

// TestRunIngestSmoke runs the whole comparison briefly on each store: it
// must complete without errors (figures are not asserted), with the
// memory setting's streams in memory.
func TestRunIngestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs load for a few seconds")
	}
	res, err := RunIngest(t.Context(), IngestOptions{Duration: 300 * time.Millisecond, Warmup: 100 * time.Millisecond, Rounds: 2, Concurrency: 4, Rate: 100, Syncs: []string{SyncDefault, SyncMemory}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("got %d results, want 2", len(res))
	}
	for _, r := range res {
		if r.Errors() != 0 || r.Ingest.Requests == 0 || r.IngestAt.Requests == 0 || r.Reference.Requests == 0 || r.ReferenceAt.Requests == 0 {
			t.Errorf("%s: got %+v", r.Sync, r)
		}
	}
}

// TestReferenceStoresUnderIngestsSubjects: the reference stores each body
// under the subject ingest stores the same callback under, one per
// execution, so that the comparison leaves JetStream's per-subject index
// out of ingest's overhead; and it stores nothing for a path that is no
// callback subject.
func TestReferenceStoresUnderIngestsSubjects(t *testing.T) {
	url, ref, ing := benchServers(t)
	ctx := t.Context()
	nc, js, err := ensureStreams(ctx, url, streamsConfig(SyncDefault))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	stream, err := js.Stream(ctx, events.StreamCallbacks)
	if err != nil {
		t.Fatal(err)
	}
	client := newClient(1)
	var want []string
	for n := range 4 {
		cb := MixedCallback(t.Name(), n)
		for _, srv := range []*server{ing, ref} {
			if !send(ctx, client, srv.target, cb) {
				t.Fatalf("%s: callback %d not accepted", srv.target.Name, n)
			}
			want = append(want, cb.Subject)
		}
	}
	bad := Target{Name: "reference", Base: ref.target.Base, Path: func(Callback) string { return "/other.subject" }}
	if send(ctx, client, bad, MixedCallback(t.Name(), 9)) {
		t.Error("reference: a path that is no callback subject was accepted")
	}
	var got []string
	for seq := uint64(1); seq <= uint64(len(want))+1; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.Subject)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored subjects, ingest and reference in turn (-want +got):\n%s", diff)
	}
}

// TestStreamsConfig: the memory setting puts the streams in memory, the
// sync settings keep them on file.
func TestStreamsConfig(t *testing.T) {
	for sync, want := range map[string]jetstream.StorageType{
		SyncDefault: jetstream.FileStorage,
		SyncAlways:  jetstream.FileStorage,
		SyncMemory:  jetstream.MemoryStorage,
	} {
		for _, sc := range streamsConfig(sync).StreamConfigs() {
			if sc.Storage != want {
				t.Errorf("%s: stream %s storage %v, want %v", sync, sc.Name, sc.Storage, want)
			}
		}
	}
}

// TestAlternate: the reference goes first in even rounds and ingest in
// odd ones, and an ended context stops the rounds.
func TestAlternate(t *testing.T) {
	var got []string
	ref, ing := func() { got = append(got, "ref") }, func() { got = append(got, "ing") }
	alternate(t.Context(), 4, func(i int) { inTurn(i, ref, ing); got = append(got, "|") })
	want := []string{"ref", "ing", "|", "ing", "ref", "|", "ref", "ing", "|", "ing", "ref", "|"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}

	ctx, cancel := context.WithCancel(t.Context())
	got = nil
	alternate(ctx, 4, func(i int) { inTurn(i, func() { ref(); cancel() }, ing) })
	if diff := cmp.Diff([]string{"ref", "ing"}, got); diff != "" {
		t.Errorf("after cancel (-want +got):\n%s", diff)
	}
}

// TestInTurns: interleaved stores each run once per round, the first one
// rotating from round to round, and an ended context stops the rounds.
func TestInTurns(t *testing.T) {
	var got []string
	inTurns(t.Context(), 4, 3, func(k, i int) { got = append(got, fmt.Sprintf("%d:%d", i, k)) })
	want := []string{"0:0", "0:1", "0:2", "1:1", "1:2", "1:0", "2:2", "2:0", "2:1", "3:0", "3:1", "3:2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	ctx, cancel := context.WithCancel(t.Context())
	got = nil
	inTurns(ctx, 4, 2, func(k, i int) { got = append(got, fmt.Sprintf("%d:%d", i, k)); cancel() })
	if diff := cmp.Diff([]string{"0:0", "0:1"}, got); diff != "" {
		t.Errorf("after cancel (-want +got):\n%s", diff)
	}
}

// TestP99Ratio: the target's ratio pools the latencies of all rounds, so
// that many slow rounds are not hidden behind their median; the median is
// reported apart.
func TestP99Ratio(t *testing.T) {
	ms := func(d ...int) Measurement {
		var m Measurement
		for _, v := range d {
			m.Latencies = append(m.Latencies, time.Duration(v)*time.Millisecond)
		}
		return m
	}
	for _, tc := range []struct {
		name       string
		r          IngestResult
		want       float64
		wantMedian float64
	}{
		{"pooled, not median", IngestResult{RoundP99Ratios: []float64{1.1, 9, 0.9}, ReferenceAt: ms(4), IngestAt: ms(8)}, 2, 1.1},
		{"even rounds", IngestResult{RoundP99Ratios: []float64{1, 9, 0.5, 2}, ReferenceAt: ms(2), IngestAt: ms(2)}, 1, 1.5},
		{"no reference", IngestResult{IngestAt: ms(1)}, 0, 0},
	} {
		if got := tc.r.P99Ratio(); got != tc.want {
			t.Errorf("%s: P99Ratio %v, want %v", tc.name, got, tc.want)
		}
		if got := tc.r.RoundMedianP99Ratio(); got != tc.wantMedian {
			t.Errorf("%s: RoundMedianP99Ratio %v, want %v", tc.name, got, tc.wantMedian)
		}
	}
}

// TestMet: the targets are 85% of the reference's throughput and a pooled
// p99 at most 1.5x, with no errors; a median of rounds under the target
// does not save a pooled p99 over it.
func TestMet(t *testing.T) {
	lat := func(d time.Duration) []time.Duration { return []time.Duration{d} }
	base := func() IngestResult {
		return IngestResult{
			Reference:   Measurement{Requests: 1000, Elapsed: time.Second},
			Ingest:      Measurement{Requests: 850, Elapsed: time.Second},
			ReferenceAt: Measurement{Latencies: lat(10 * time.Millisecond)},
			IngestAt:    Measurement{Latencies: lat(15 * time.Millisecond)},
		}
	}
	for _, tc := range []struct {
		name   string
		change func(*IngestResult)
		want   bool
	}{
		{"at the targets", func(*IngestResult) {}, true},
		{"throughput 84%", func(r *IngestResult) { r.Ingest.Requests = 840 }, false},
		{"pooled p99 1.6x, round median 1x", func(r *IngestResult) {
			r.IngestAt.Latencies = lat(16 * time.Millisecond)
			r.RoundP99Ratios = []float64{1, 1, 1}
		}, false},
		{"an error", func(r *IngestResult) { r.IngestAt.Errors = 1 }, false},
	} {
		r := base()
		tc.change(&r)
		if got := r.Met(); got != tc.want {
			t.Errorf("%s: Met %v, want %v", tc.name, got, tc.want)
		}
	}
}
