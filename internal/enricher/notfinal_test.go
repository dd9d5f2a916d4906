package enricher_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// withWorkflowStatus returns details with workflow.status replaced.
func withWorkflowStatus(t *testing.T, details []byte, status string) []byte {
	t.Helper()
	var d map[string]json.RawMessage
	if err := json.Unmarshal(details, &d); err != nil {
		t.Fatal(err)
	}
	var w map[string]any
	if err := json.Unmarshal(d["workflow"], &w); err != nil {
		t.Fatal(err)
	}
	w["status"] = status
	d["workflow"], _ = json.Marshal(w)
	out, _ := json.Marshal(d)
	return out
}

// TestDetailsNotFinalYet: details still ACQUIRED after a PROCESSED
// callback are Jumio lagging behind its callback: fetched again on the
// not-ready schedule until they are final, then enriched.
func TestDetailsNotFinalYet(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	x := h.executions(1, 41)[0]
	final := x.Details
	x.Details = withWorkflowStatus(t, final, "ACQUIRED")
	if err := h.jumio.AddExecution(x); err != nil {
		t.Fatal(err)
	}
	h.start(h.config(), nil)
	h.publish(h.platformEvent(x, time.Now()), nil)
	h.eventually("a not-ready redelivery", func() bool {
		return h.counter(enricher.MetricRetries, attribute.String("reason", "not_ready")) >= 1
	})
	x.Details = final
	if err := h.jumio.AddExecution(x); err != nil {
		t.Fatal(err)
	}
	if l := h.settle(1); l.Results != 1 {
		t.Fatalf("ledger %+v: want a result", l)
	}
	if got := h.enriched()[0].Event.Result.Status; got != events.StatusProcessed {
		t.Errorf("status %s, want the final details' PROCESSED", got)
	}
}

// TestNetverifyConfirm: with confirmation on, an ID-verification callback
// waits while its scan is PENDING, then is enriched from the scan's data;
// an authentication callback is mapped from its fields.
func TestNetverifyConfirm(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	_, scans := jumiotest.Generate(jumiotest.Scenario{Seed: 43, NetverifyScans: 12})
	var id, auth *jumiotest.NetverifyScan
	for i := range scans {
		switch {
		case scans[i].Kind == events.KindIDVerification && scans[i].Data != nil && id == nil:
			id = &scans[i]
		case scans[i].Kind == events.KindAuthentication && auth == nil:
			auth = &scans[i]
		}
	}
	if id == nil || auth == nil {
		t.Fatal("the scenario has no ID-verification scan with data or no authentication")
	}
	pending := *id
	pending.Status = "PENDING"
	for _, sc := range []jumiotest.NetverifyScan{pending, *auth} {
		if err := h.jumio.AddNetverifyScan(sc); err != nil {
			t.Fatal(err)
		}
	}
	cfg := h.config()
	cfg.NetverifyConfirm = enricher.ConfirmOn
	h.start(cfg, nil)
	for _, sc := range []jumiotest.NetverifyScan{*id, *auth} {
		body := string(h.jumio.NetverifyCallback(sc, time.Now()))
		m, err := wire.ParseNetverifyCallback(mustParseQuery(t, body))
		if err != nil {
			t.Fatal(err)
		}
		h.publish(m.Event(wire.RegionAMER, time.Now(), body), nil)
	}
	h.eventually("the pending scan redelivered", func() bool {
		return h.counter(enricher.MetricRetries, attribute.String("reason", "not_ready")) >= 1
	})
	if err := h.jumio.AddNetverifyScan(*id); err != nil {
		t.Fatal(err)
	}
	if l := h.settle(2); l.Results != 2 {
		t.Fatalf("ledger %+v: want 2 results", l)
	}
	raw := map[string]string{}
	for _, m := range h.enriched() {
		raw[m.Header.Get(events.HeaderCESubject)] = m.Event.RawType
	}
	if raw[id.Reference] != events.RawNetverifyData || raw[auth.Reference] != events.RawNetverifyCallback {
		t.Errorf("raw types %v: want retrieval data for the ID verification, the callback for the authentication", raw)
	}
	// The first delivery asks for the data, finds it PENDING and polls the
	// status; later ones poll the status first and ask for the data once
	// the scan has ended.
	if n := h.jumio.Requests(jumio.EndpointNetverifyData); n != 2 {
		t.Errorf("%d /data requests, want 2 (the first delivery's, PENDING, and one after the scan ended)", n)
	}
	if n := h.jumio.Requests(jumio.EndpointNetverifyScan); n < 2 {
		t.Errorf("%d /scans requests, want one per delivery (at least 2)", n)
	}
}

// withTransactionStatus returns Netverify retrieval data with
// transaction.status replaced, or removed when status is empty.
func withTransactionStatus(t *testing.T, data []byte, status string) []byte {
	t.Helper()
	var d map[string]json.RawMessage
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	var tx map[string]any
	if err := json.Unmarshal(d["transaction"], &tx); err != nil {
		t.Fatal(err)
	}
	delete(tx, "status")
	if status != "" {
		tx["status"] = status
	}
	d["transaction"], _ = json.Marshal(tx)
	out, _ := json.Marshal(d)
	return out
}

// TestNetverifyConfirmEndedScan: the callback of a scan that has ended
// costs one retrieval request, its data, when the data's transaction
// status says so (DONE, FAILED); data without a status that reads is not
// taken for an end: the status is polled, then the data fetched again.
func TestNetverifyConfirmEndedScan(t *testing.T) {
	_, scans := jumiotest.Generate(jumiotest.Scenario{Seed: 44, NetverifyScans: 16})
	var id []jumiotest.NetverifyScan
	for _, sc := range scans {
		if sc.Kind == events.KindIDVerification && sc.Data != nil {
			id = append(id, sc)
		}
	}
	if len(id) < 3 {
		t.Fatalf("the scenario has %d ID-verification scans with data, want 3", len(id))
	}
	tests := []struct {
		name, status       string
		wantScan, wantData int
	}{
		{"DONE", "DONE", 0, 1},
		{"FAILED", "FAILED", 0, 1},
		{"no status", "", 1, 2},
		{"status not a word", `{"nested":true}`, 1, 2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, jumiotest.Config{})
			sc := id[i%len(id)]
			var data []byte
			if tt.status == `{"nested":true}` {
				data = withTransactionStatus(t, sc.Data, "")
				data = []byte(strings.Replace(string(data), `"transaction":{`, `"transaction":{"status":{"nested":true},`, 1))
			} else {
				data = withTransactionStatus(t, sc.Data, tt.status)
			}
			sc.Data, sc.Status = data, ""
			if err := h.jumio.AddNetverifyScan(sc); err != nil {
				t.Fatal(err)
			}
			cfg := h.config()
			cfg.NetverifyConfirm = enricher.ConfirmOn
			h.start(cfg, nil)
			body := string(h.jumio.NetverifyCallback(sc, time.Now()))
			m, err := wire.ParseNetverifyCallback(mustParseQuery(t, body))
			if err != nil {
				t.Fatal(err)
			}
			h.publish(m.Event(wire.RegionAMER, time.Now(), body), nil)
			if l := h.settle(1); l.Results != 1 {
				t.Fatalf("ledger %+v: want a result", l)
			}
			if got := h.enriched()[0].Event.RawType; got != events.RawNetverifyData {
				t.Errorf("raw type %s, want the retrieval data", got)
			}
			if got := h.jumio.Requests(jumio.EndpointNetverifyScan); got != tt.wantScan {
				t.Errorf("%d /scans requests, want %d", got, tt.wantScan)
			}
			if got := h.jumio.Requests(jumio.EndpointNetverifyData); got != tt.wantData {
				t.Errorf("%d /data requests, want %d", got, tt.wantData)
			}
		})
	}
}
