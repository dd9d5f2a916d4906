package bench

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/broker/embedded"
)

// benchServers runs the reference and the real ingest on one embedded
// JetStream server with JetStream's default sync.
func benchServers(b *testing.B) (ref, ing *server) {
	b.Helper()
	emb, err := embedded.Run(embedded.Config{StoreDir: b.TempDir(), Port: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(emb.Stop)
	ctx := context.Background()
	if ref, err = startReference(ctx, emb.URL()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ref.stop)
	if ing, err = startIngest(ctx, emb.URL()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ing.stop)
	return ref, ing
}

// benchmarkTarget posts b.N distinct callbacks from 32 clients and reports
// requests per second.
func benchmarkTarget(b *testing.B, pick func(ref, ing *server) *server) {
	ref, ing := benchServers(b)
	t := pick(ref, ing).target
	client := newClient(32)
	seed := b.Name() + strconv.Itoa(b.N)
	b.SetParallelism(16)
	b.ResetTimer()
	start := time.Now()
	var n atomicCounter
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !send(context.Background(), client, t, MixedCallback(seed, n.next())) {
				b.Error("request failed")
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
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

// TestRunIngestSmoke runs the whole comparison briefly: it must complete
// without errors (figures are not asserted).
func TestRunIngestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs load for a few seconds")
	}
	res, err := RunIngest(t.Context(), IngestOptions{Duration: 300 * time.Millisecond, Warmup: 100 * time.Millisecond, Concurrency: 4, Rate: 100, Syncs: []string{SyncDefault}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Errors() != 0 || res[0].Ingest.Requests == 0 || res[0].IngestAt.Requests == 0 {
		t.Fatalf("got %+v", res)
	}
}

// TestP99Ratio: the rounds' median decides, one stalled round does not;
// without rounds the pooled ratio does.
func TestP99Ratio(t *testing.T) {
	ms := func(d ...int) Measurement {
		var m Measurement
		for _, v := range d {
			m.Latencies = append(m.Latencies, time.Duration(v)*time.Millisecond)
		}
		return m
	}
	for _, tc := range []struct {
		name string
		r    IngestResult
		want float64
	}{
		{"odd rounds", IngestResult{RoundP99Ratios: []float64{1.1, 9, 0.9}}, 1.1},
		{"even rounds", IngestResult{RoundP99Ratios: []float64{1, 9, 0.5, 2}}, 1.5},
		{"pooled", IngestResult{ReferenceAt: ms(4), IngestAt: ms(8)}, 2},
		{"no reference", IngestResult{IngestAt: ms(1)}, 0},
	} {
		if got := tc.r.P99Ratio(); got != tc.want {
			t.Errorf("%s: P99Ratio %v, want %v", tc.name, got, tc.want)
		}
	}
}
