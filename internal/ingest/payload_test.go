package ingest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/bench"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/httpserver"
	"github.com/kycflow/kycflow/internal/ingest"
	"github.com/kycflow/kycflow/internal/telemetry"
)

// TestBodyLimitMustFitPayload: a body limit whose callbacks could take
// more than the server's max_payload once stored (JSON escaping makes a
// control character six bytes) is refused at start, naming the variable
// and the largest limit that fits.
func TestBodyLimitMustFitPayload(t *testing.T) {
	broker := brokertest.Start(t, brokertest.WithMaxPayload(1<<20))
	nc := broker.Conn(t)
	for _, tc := range []struct {
		limit int64
		ok    bool
	}{
		{ingest.DefaultMaxBodyBytes, true},
		{(1<<20 - 4<<10) / 6, true},
		{(1<<20-4<<10)/6 + 1, false},
		{2 << 20, false},
	} {
		cfg := testConfig()
		cfg.MaxBodyBytes = tc.limit
		_, err := ingest.New(cfg, nc, telemetry.Discard())
		switch {
		case tc.ok && err != nil:
			t.Errorf("limit %d: %v", tc.limit, err)
		case !tc.ok && err == nil:
			t.Errorf("limit %d: accepted, though a callback could not be stored", tc.limit)
		case !tc.ok && !strings.Contains(err.Error(), "KYCFLOW_INGEST_MAX_BODY_BYTES") || !tc.ok && !strings.Contains(err.Error(), "at most 174080"):
			t.Errorf("limit %d: %v; want the variable and the largest limit that fits", tc.limit, err)
		}
	}
}

// TestCallbackTooLargeToStore: when the server's max_payload shrinks
// under a running ingest (a server reconfigured and restarted), a callback
// that can no longer be stored is answered 413, not 503 (Jumio would send
// it again in vain), and nothing is stored; smaller ones still are.
func TestCallbackTooLargeToStore(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts the broker")
	}
	broker := brokertest.Start(t)
	h := startIngest(t, broker, nil)
	broker.RestartWith(brokertest.WithMaxPayload(32 << 10))
	small := bench.MixedCallback(t.Name(), 1)
	for deadline := time.Now().Add(30 * time.Second); h.send(t, small).status != http.StatusOK; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("ingest does not store again after the restart")
		}
	}
	before := len(h.stored(t))
	big := bench.MixedCallback(t.Name(), 2)
	if big.API != "netverify" {
		big = bench.MixedCallback(t.Name(), 3)
	}
	big.Body = append(big.Body, "&note="+strings.Repeat("x", 40<<10)...)
	r := h.send(t, big)
	if r.status != http.StatusRequestEntityTooLarge || r.problem.Type != httpserver.ProblemTypeBase+ingest.ReasonBodyTooLarge {
		t.Errorf("a callback too large to store: %d %q, want 413 %s", r.status, r.problem.Type, ingest.ReasonBodyTooLarge)
	}
	if n := len(h.stored(t)); n != before {
		t.Errorf("%d callbacks stored after the refusal, want %d", n, before)
	}
	if r := h.send(t, bench.MixedCallback(t.Name(), 4)); r.status != http.StatusOK {
		t.Errorf("a small callback after it: %d, want 200", r.status)
	}
}
