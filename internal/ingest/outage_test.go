package ingest_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/bench"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/httpserver"
	"github.com/kycflow/kycflow/internal/ingest"
	"github.com/kycflow/kycflow/internal/ingest/ingesttest"
	"github.com/kycflow/kycflow/pkg/events"
)

// TestBrokerOutage: requests keep arriving while the broker stops and
// comes back. While it is down they get 503 with Retry-After; nothing that
// is not in the stream gets 200; once it is back ingest stores again
// without a restart.
func TestBrokerOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("broker restart takes a few seconds")
	}
	broker := brokertest.Start(t)
	h := startIngest(t, broker, nil)

	var (
		mu       sync.Mutex
		accepted []string // event ids answered 200
		ok503    atomic.Int64
		okCount  atomic.Int64
		other    []string
		next     atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				cb := bench.MixedCallback(t.Name(), int(next.Add(1)))
				r := h.send(t, cb)
				switch r.status {
				case http.StatusOK:
					mu.Lock()
					accepted = append(accepted, r.header.Get(events.HeaderEventID))
					mu.Unlock()
					okCount.Add(1)
				case http.StatusServiceUnavailable:
					if r.header.Get("Retry-After") != "2" || r.problem.Type != httpserver.ProblemTypeBase+ingest.ReasonBrokerUnavailable {
						mu.Lock()
						other = append(other, "503 without Retry-After 2 or with type "+r.problem.Type)
						mu.Unlock()
					}
					ok503.Add(1)
				default:
					mu.Lock()
					other = append(other, http.StatusText(r.status)+" "+r.problem.Type)
					mu.Unlock()
				}
			}
		})
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("gave up waiting for %s", what)
			}
		}
	}
	waitFor("20 callbacks stored", func() bool { return okCount.Load() >= 20 })
	broker.Stop()
	okBefore := okCount.Load()
	waitFor("20 answers 503", func() bool { return ok503.Load() >= 20 })
	if r, err := h.client.Get(h.url + "/readyz"); err == nil {
		if r.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("/readyz while the broker is down: got %d, want 503", r.StatusCode)
		}
		r.Body.Close()
	}
	broker.Restart()
	waitFor("20 callbacks stored after the restart", func() bool { return okCount.Load() >= okBefore+20 })
	close(stop)
	wg.Wait()
	ingesttest.WaitReady(t, h.url)

	if len(other) > 0 {
		t.Errorf("%d unexpected answers, the first: %v", len(other), other[:min(len(other), 3)])
	}
	stored := h.storedIDs(t)
	for _, id := range accepted {
		if !stored[id] {
			t.Errorf("event %s was answered 200 but is not in the stream", id)
		}
	}
	t.Logf("%d answered 200 (all stored), %d answered 503", len(accepted), ok503.Load())
	if got := h.metric(t, "kycflow_ingest_callbacks_total", map[string]string{"outcome": ingest.OutcomeUnavailable}); got < 20 {
		t.Errorf("unavailable counted: got %v, want >= 20", got)
	}
}
