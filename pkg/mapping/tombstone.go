package mapping

import (
	"time"

	"github.com/kycflow/kycflow/pkg/events"
)

// LabelWipedOut is the decision label of a tombstone made without Jumio's
// details (Tombstone).
const LabelWipedOut = "WIPED_OUT"

// Tombstone is the result of a callback whose transaction was deleted
// before it could be enriched (kycflow erased it, and Jumio no longer has
// it): the ids and source of the callback event, WipedOut at wipedOut, and
// nothing the callback says about the verification, since that is
// personal data (Netverify) or cannot be confirmed (Platform). Status is
// the Platform callback's status (Netverify's verification statuses are
// not workflow statuses: "UNKNOWN"); the decision is NOT_EXECUTED with
// label WIPED_OUT, never a verdict; reasons and capabilities are empty.
func Tombstone(ev events.CallbackEvent, wipedOut time.Time, t *Tables) events.Result {
	b := newBuilder(ev, ev.API, t)
	r := &b.r
	r.IDs.AccountID = firstID(ev.AccountID)
	r.IDs.WorkflowExecutionID = word(ev.WorkflowExecutionID)
	r.Source.Kind = ev.Kind
	switch ev.API {
	case events.APIPlatform:
		r.Source.Kind = events.KindWorkflow
		r.Source.WorkflowDefinitionKey = word(ev.WorkflowDefinitionKey)
		r.Source.Product = b.t.Product(r.Source.WorkflowDefinitionKey)
		r.Status = events.Status(word(ev.Status))
	default:
		r.IDs.AccountID = ""
		r.IDs.ScanReference = r.IDs.WorkflowExecutionID
		r.Source.Product = b.t.Product("netverify." + string(ev.Kind))
	}
	r.Decision = events.Decision{Type: events.DecisionNotExecuted, Label: LabelWipedOut}
	r.Timestamps.WipedOut = utc(wipedOut)
	out := b.finish()
	if out.Status.Expired() { // finish relabels expired results
		out.Decision.Label = LabelWipedOut
	}
	return out
}
