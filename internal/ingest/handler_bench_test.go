package ingest_test

import (
	"bytes"
	"net/http"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/bench"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/ingest"
	"github.com/kycflow/kycflow/internal/telemetry"
)

// BenchmarkServeHTTP measures the handler path of one callback, JetStream
// publish and ack included, without the network between client and
// ingest: the cost that is ingest's own. The callbacks (distinct, so that
// none is a duplicate) and the requests are built before the timer starts,
// so allocs/op are ingest's, nats.go's and the JetStream server's (it runs
// in the process). cpu-ns/op is the processor time of the whole process
// per callback, JetStream included: steadier than ns/op on a shared
// machine.
func BenchmarkServeHTTP(b *testing.B) {
	for _, api := range []string{"platform", "netverify"} {
		b.Run(api, func(b *testing.B) {
			srv := brokertest.Start(b)
			nc, _ := srv.JetStream(b)
			tel, err := telemetry.Setup(b.Context(), telemetry.Config{ServiceName: "ingest", LogFormat: "json", LogLevel: "info"}, discard{})
			if err != nil {
				b.Fatal(err)
			}
			cfg := ingest.LoadConfig(config.FromMap(map[string]string{"KYCFLOW_INGEST_ALLOWED_SOURCES": "127.0.0.1", "KYCFLOW_INGEST_RATE_LIMIT": "0"}))
			svc, err := ingest.New(cfg, nc, tel)
			if err != nil {
				b.Fatal(err)
			}
			seed := b.Name() + strconv.Itoa(b.N)
			reqs := make([]*http.Request, b.N)
			for i := range reqs {
				cb := bench.PlatformCallback(seed, i)
				if api == "netverify" {
					cb = bench.NetverifyCallback(seed, i)
				}
				req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, "/callbacks/"+api, bytes.NewReader(cb.Body))
				if err != nil {
					b.Fatal(err)
				}
				req.RemoteAddr = "127.0.0.1:5000"
				req.Header.Set("Content-Type", cb.ContentType)
				reqs[i] = req
			}
			var n atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(8)
			b.ResetTimer()
			cpu0 := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				w := &responseWriter{header: http.Header{}}
				for pb.Next() {
					clear(w.header)
					w.code = 0
					svc.ServeHTTP(w, reqs[n.Add(1)-1])
					if w.code != http.StatusOK {
						b.Errorf("status %d", w.code)
					}
				}
			})
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the user and system time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// responseWriter is a reusable http.ResponseWriter that keeps the status
// and drops the body (httptest.ResponseRecorder allocates per request).
type responseWriter struct {
	header http.Header
	code   int
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(p), nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
