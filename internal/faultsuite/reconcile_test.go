package faultsuite

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kycflow/kycflow/internal/bench/rig"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/internal/reconcile"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestMissedCallbacksReconciled: every execution is announced on
// JUMIO_EXECUTIONS, half of the callbacks are posted and the other half
// withheld (Jumio gave up on them). The reconciler finds the withheld ones
// overdue, asks Jumio's status API and feeds reconciled callbacks; then
// the withheld callbacks are posted after all. The strict ledger must
// balance with exact counters: the reconciled callbacks are enriched and
// delivered once per route, and each late callback is collapsed on the
// enricher's word, never delivered again.
func TestMissedCallbacksReconciled(t *testing.T) {
	w := newWorld(t, worldConfig{scenario: jumiotest.Scenario{Seed: 19, Executions: 40}, env: map[string]string{
		// Overdue 4 s after the announcement: the posted half has long
		// had its final callback by then.
		"KYCFLOW_RECONCILE_TOKEN_LIFETIME": "3s",
		"KYCFLOW_RECONCILE_SLACK":          "1s",
		"KYCFLOW_RECONCILE_INTERVAL":       "250ms",
		"KYCFLOW_RECONCILE_RECHECK":        "1s",
	}})
	ctx := t.Context()
	var posted, withheld []string
	for i, e := range w.sim.Executions() {
		if !reconcile.Final(e.Status) {
			continue
		}
		if i%2 == 0 {
			posted = append(posted, e.ID)
		} else {
			withheld = append(withheld, e.ID)
		}
	}
	if len(withheld) == 0 || len(posted) == 0 {
		t.Fatalf("the scenario gives %d executions to post and %d to withhold", len(posted), len(withheld))
	}
	sent := w.send(ctx, jumiotest.CallbackOptions{IDs: posted, SkipNetverify: true, Concurrency: 4})
	announced := time.Now()
	js := w.p.JetStream()
	for _, e := range w.sim.Executions() {
		subject, header, body, err := events.InitiatedEvent{SchemaVersion: 1, AccountID: e.AccountID, WorkflowExecutionID: e.ID,
			WorkflowDefinitionKey: e.DefinitionKey, InitiatedAt: announced, Source: "faultsuite"}.Message("faultsuite")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: subject, Header: nats.Header(header), Data: body}); err != nil {
			t.Fatal(err)
		}
	}

	// Every withheld execution reconciled.
	reconciled := func() map[string]int {
		msgs, err := rig.ReadStream(ctx, js, events.StreamCallbacks)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, m := range msgs {
			var ev events.CallbackEvent
			if err := json.Unmarshal(m.Data, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Reconciled {
				out[ev.WorkflowExecutionID]++
			}
		}
		return out
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got := reconciled()
		n := 0
		for _, id := range withheld {
			if got[id] > 0 {
				n++
			}
		}
		if n == len(withheld) {
			break
		}
		if time.Now().After(deadline) {
			w.dump()
			t.Fatalf("%d of %d withheld executions reconciled", n, len(withheld))
		}
		sleep(ctx, 250*time.Millisecond)
	}
	reconciledAfter := time.Since(announced)
	statusRequests := w.sim.Requests(jumio.EndpointWorkflowStatus)
	w.settle()

	// Jumio delivers the withheld callbacks after all.
	late := w.send(ctx, jumiotest.CallbackOptions{IDs: withheld, SkipNetverify: true, Concurrency: 4})
	w.settle()
	all := append(sent, late...)
	w.figure("%d executions: %d callbacks posted, %d withheld; all withheld reconciled %s after the announcements (deadline 4 s, passes every 250 ms), %d status requests",
		len(posted)+len(withheld), len(posted), len(withheld), reconciledAfter.Round(time.Millisecond), statusRequests)
	w.figure("enricher: collapsed drops %.0f, stale drops %.0f, duplicates %.0f",
		w.metric(w.p.Enricher(), enricher.MetricCollapsed+"_total", nil), w.metric(w.p.Enricher(), enricher.MetricStaleDrops+"_total", nil),
		w.metric(w.p.Enricher(), enricher.MetricDuplicates+"_total", nil))
	w.only200(all)
	l := w.ledger(rig.AuditInput{Sent: all, ExactCounters: true})
	if l == nil {
		return
	}
	// Counts, not timing: what was withheld decides them. A posted
	// execution may be reconciled too when its callback is slower than
	// the deadline; it then collapses the same way.
	if l.Reconciled < len(withheld) || l.Collapsed < len(withheld) || l.Collapsed != l.Reconciled {
		t.Errorf("ledger: %d reconciled callbacks stored, %d collapsed; want at least %d each, and one collapse per reconciliation",
			l.Reconciled, l.Collapsed, len(withheld))
	}
	for id, n := range reconciled() {
		if n != 1 {
			t.Errorf("%s reconciled %d times", id, n)
		}
	}
}
