package enricher_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// reconciledEvent is the callback the reconciler feeds for x, reconciled
// at at.
func reconciledEvent(x jumiotest.Execution, at time.Time) events.CallbackEvent {
	body, _ := json.Marshal(map[string]any{"account": map[string]string{"id": x.AccountID},
		"workflowExecution": map[string]string{"id": x.ID, "status": x.Status, "definitionKey": x.DefinitionKey}})
	return events.CallbackEvent{SchemaVersion: 1, EventID: events.ReconciledEventID(x.ID, x.Status), API: events.APIPlatform,
		Kind: events.KindWorkflow, Region: "amer-1", AccountID: x.AccountID, WorkflowExecutionID: x.ID,
		WorkflowDefinitionKey: x.DefinitionKey, Status: x.Status, ReceivedAt: at.UTC(), JSON: body, Reconciled: true}
}

// TestReconciledAndLateCallbackCollapse: a reconciled callback and Jumio's
// own callback of the same status give one result, whichever comes first
// and whatever Jumio's callbackSentAt says; other statuses are not held
// back.
func TestReconciledAndLateCallbackCollapse(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	xs := h.executions(3, 71)
	h.start(h.config(), nil)
	now := time.Now()

	// 0: reconciled, then Jumio's callback sent later than the
	// reconciliation (a resend, or Jumio's clock ahead).
	h.publish(reconciledEvent(xs[0], now), nil)
	h.settle(1)
	h.publish(h.platformEvent(xs[0], now.Add(time.Minute)), nil)
	// 1: reconciled, then Jumio's callback sent before it (late in
	// transit): stale as well as collapsing.
	h.publish(reconciledEvent(xs[1], now), nil)
	h.publish(h.platformEvent(xs[1], now.Add(-time.Minute)), nil)
	h.settle(4)
	// 2: Jumio's callback first, then a reconciliation that raced it.
	h.publish(h.platformEvent(xs[2], now), nil)
	h.settle(5)
	h.publish(reconciledEvent(xs[2], now.Add(time.Minute)), nil)
	l := h.settle(6)

	// 0 and 2 come one after the other: collapsed. 1's two callbacks race:
	// whichever is claimed second collapses, or, claimed before the first
	// is recorded, is stale (its callbackSentAt is older).
	if l.Results != 3 || l.Collapsed < 2 || l.Collapsed+l.Stale != 3 || l.Duplicates != 0 || l.DeadLetters != 0 {
		t.Errorf("ledger %+v: want 3 results, 3 dropped (at least 2 collapsed, the rest stale)", l)
	}
	per := map[string]int{}
	for _, m := range h.enriched() {
		r := m.Event.Result
		per[r.IDs.WorkflowExecutionID+" "+string(r.Status)]++
	}
	for _, x := range xs {
		if n := per[x.ID+" "+x.Status]; n != 1 {
			t.Errorf("%s %s: %d results, want 1", x.ID, x.Status, n)
		}
	}
}
