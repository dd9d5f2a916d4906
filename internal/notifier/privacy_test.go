package notifier_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/internal/notifier/notifiertest"
	"github.com/kycflow/kycflow/pkg/events"
)

// TestDeadLettersKeepWhatThePolicyAllows: a dead letter of the notify
// stage keeps no more personal data than its route may deliver. The full
// route keeps the enriched message without the raw Jumio document; the
// no_pii and decision_only routes keep the result projected by their
// policy, and nothing of a message that is not an enriched event (which
// the full route keeps as it came). Re-driven to its route as "kycflow
// dlq redrive" does, a projection is delivered, even through a filter on
// a field the projection dropped.
func TestDeadLettersKeepWhatThePolicyAllows(t *testing.T) {
	h := newHarness(t)
	names := map[events.Policy]string{events.PolicyFull: "full", events.PolicyNoPII: "nopii", events.PolicyDecisionOnly: "decision"}
	receivers := map[string]*notifiertest.Receiver{}
	var routes []notifier.Route
	for _, p := range events.Policies {
		rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
		rcv.Fail(1, http.StatusUnprocessableEntity, nil)
		rt := rcv.Route(names[p], p)
		rt.Filter.IssuingCountry = []string{"USA"} // decision_only drops the document
		receivers[rt.Name] = rcv
		routes = append(routes, rt)
	}
	h.start(testConfig(), routes...)
	r := result(5)
	h.publish(r, nil) // with a raw document
	malformed := []byte(`{"result":{"person":{"firstName":"JANE","lastName":"DOE"}`)
	h.publishRaw(events.EnrichedSubject(notifiertest.AccountID(6), notifiertest.ExecutionID(6)), "event-6", malformed, nil)
	waitFor(t, "the dead letters", func() bool { return len(h.messages(events.StreamDLQ)) == 6 })

	original := h.messages(events.StreamEnriched)[0].Data
	for _, dl := range h.messages(events.StreamDLQ) {
		route := dl.Header.Get(events.HeaderRoute)
		policy := routes[0].Policy
		for _, rt := range routes {
			if rt.Name == route {
				policy = rt.Policy
			}
		}
		isMalformed := dl.Header.Get(events.HeaderErrorClass) == notifier.ClassMalformed
		switch {
		case isMalformed && policy == events.PolicyFull:
			if !bytes.Equal(dl.Data, malformed) {
				t.Errorf("%s: got payload %q, want the message as it came", dl.Subject, dl.Data)
			}
		case isMalformed:
			if len(dl.Data) > 0 {
				t.Errorf("%s: got payload %q, want none", dl.Subject, dl.Data)
			}
		case policy == events.PolicyFull:
			if !sameButRaw(original, dl.Data) {
				t.Errorf("%s: payload is not the enriched message without its raw document:\n%s", dl.Subject, dl.Data)
			}
		default:
			var ev events.EnrichedEvent
			if err := json.Unmarshal(dl.Data, &ev); err != nil {
				t.Fatalf("%s: %v", dl.Subject, err)
			}
			if diff := cmp.Diff(events.Project(r, policy), ev.Result); diff != "" || len(ev.Raw) > 0 {
				t.Errorf("%s: raw document %q, result (-want +got):\n%s", dl.Subject, ev.Raw, diff)
			}
			for _, pd := range notifiertest.PersonalData {
				if bytes.Contains(dl.Data, []byte(pd)) {
					t.Errorf("%s: payload holds %q", dl.Subject, pd)
				}
			}
		}
		if policy == events.PolicyFull || isMalformed {
			continue
		}
		// Re-driven to its route alone, as "kycflow dlq redrive" does.
		h.publishRaw(dl.Header.Get(events.HeaderOriginalSubject), r.IDs.EventID, dl.Data,
			&events.ReplayMarker{ID: "redrive-" + route, Redeliver: true, Routes: []string{route}})
	}
	for _, route := range []string{"nopii", "decision"} {
		rcv := receivers[route]
		waitFor(t, "the re-driven delivery to "+route, func() bool { return len(rcv.Accepted()) == 1 })
		body := rcv.Accepted()[0].Body
		for _, pd := range notifiertest.PersonalData {
			if bytes.Contains(body, []byte(pd)) {
				t.Errorf("route %s delivered %q after the redrive", route, pd)
			}
		}
	}
	if n := len(receivers["full"].Accepted()); n != 0 {
		t.Errorf("route full got %d deliveries of the other routes' redrives, want 0", n)
	}
}

// sameButRaw reports whether dead is the enriched message orig without its
// raw document, every other field's bytes unchanged.
func sameButRaw(orig, dead []byte) bool {
	var o, d map[string]json.RawMessage
	if json.Unmarshal(orig, &o) != nil || json.Unmarshal(dead, &d) != nil {
		return false
	}
	if _, ok := o["raw"]; !ok {
		return false // the test's message must have one to leave out
	}
	delete(o, "raw")
	return cmp.Equal(o, d, cmp.Comparer(func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }))
}
