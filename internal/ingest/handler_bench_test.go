package ingest_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/kycflow/kycflow/internal/bench"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/ingest"
	"github.com/kycflow/kycflow/internal/telemetry"
)

// BenchmarkServeHTTP measures the handler path of one callback, JetStream
// publish and ack included, without the network between client and
// ingest: the cost that is ingest's own.
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
			var n atomic.Int64
			seed := b.Name() + strconv.Itoa(b.N)
			b.ReportAllocs()
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(n.Add(1))
					cb := bench.PlatformCallback(seed, i)
					if api == "netverify" {
						cb = bench.NetverifyCallback(seed, i)
					}
					req := httptest.NewRequest(http.MethodPost, "/callbacks/"+api, bytes.NewReader(cb.Body))
					req.RemoteAddr = "127.0.0.1:5000"
					req.Header.Set("Content-Type", cb.ContentType)
					w := httptest.NewRecorder()
					svc.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Errorf("status %d", w.Code)
					}
				}
			})
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
