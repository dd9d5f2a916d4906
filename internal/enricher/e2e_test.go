package enricher_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/ingest"
	"github.com/kycflow/kycflow/internal/telemetry"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestIngestToEnriched: the simulator posts its Platform and Netverify
// callbacks to a real ingest, each repeated unchanged (Jumio's retries)
// and followed by an out-of-order repeat with an older time; the enricher
// turns every distinct callback into one result and drops the older
// repeats as stale.
func TestIngestToEnriched(t *testing.T) {
	h := newHarness(t, jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 7, Executions: 12, NetverifyScans: 8}})
	icfg := ingest.LoadConfig(config.FromMap(nil))
	icfg.AllowedSources = []string{"127.0.0.1"}
	icfg.RateLimit = 0
	svc, err := ingest.New(icfg, h.nc, telemetry.Discard())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Serve(ctx, ln) }()
	client := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		cancel()
		<-done
	})

	// One worker keeps the stream's order: every out-of-order repeat is
	// handled after the callback it repeats.
	cfg := h.config()
	cfg.Concurrency = 1
	h.start(cfg, nil)
	base := "http://" + ln.Addr().String()
	sent, err := h.jumio.SendCallbacks(t.Context(), jumiotest.CallbackOptions{
		Client: client, URL: base + "/callbacks/platform", NetverifyURL: base + "/callbacks/netverify",
		Duplicates: 1, OutOfOrder: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	originals, stale := map[string]bool{}, 0
	for _, s := range sent {
		switch {
		case s.Status != http.StatusOK:
			t.Fatalf("%s %s: ingest answered %d %v", s.API, s.Reference, s.Status, s.Err)
		case s.Stale:
			stale++
		case !s.Duplicate:
			originals[s.Reference] = true
		}
	}
	l := h.settle(len(originals) + stale)
	if l.Results != int64(len(originals)) || l.Stale != int64(stale) || l.DeadLetters != 0 {
		t.Errorf("ledger %+v: want %d results and %d stale", l, len(originals), stale)
	}
	for _, m := range h.enriched() {
		ref := m.Header.Get(events.HeaderCESubject)
		if !originals[ref] {
			t.Errorf("unexpected result for %s", ref)
		}
		delete(originals, ref)
	}
	if len(originals) != 0 {
		t.Errorf("no result for %d callbacks", len(originals))
	}
}
