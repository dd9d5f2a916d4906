package notifier_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/internal/notifier/notifiertest"
	"github.com/kycflow/kycflow/pkg/events"
)

// TestMigratedResults: each route decides what becomes of the result of a
// migrated transaction whose Netverify original it delivered: delivered,
// marked or suppressed. A migrated result whose original the route never
// delivered is delivered by all of them, unmarked.
func TestMigratedResults(t *testing.T) {
	h := newHarness(t)
	deliver := natsRoute("deliver", events.PolicyNoPII, "jumio.results.deliver")
	mark := natsRoute("mark", events.PolicyNoPII, "jumio.results.mark")
	mark.Migrated = notifier.MigratedMark
	suppress := natsRoute("suppress", events.PolicyNoPII, "jumio.results.suppress")
	suppress.Migrated = notifier.MigratedSuppress
	deliver.Migrated = notifier.MigratedDeliver
	// A route that never takes Netverify results: the originals are not
	// its consumer's, so it suppresses no copy.
	platform := natsRoute("platform", events.PolicyNoPII, "jumio.results.platform")
	platform.Filter.API, platform.Migrated = []events.API{events.APIPlatform}, notifier.MigratedSuppress
	h.start(testConfig(), deliver, mark, suppress, platform)

	known, unknown := notifiertest.ExecutionID(1), notifiertest.ExecutionID(2)
	// The Netverify original of "known", delivered to every route.
	h.publish(result(1, func(r *events.Result) {
		r.IDs.AccountID, r.IDs.ScanReference = "", known
		r.Source = events.Source{API: events.APINetverify, Kind: events.KindIDVerification}
	}), nil)
	waitFor(t, "the Netverify result delivered", func() bool { return len(h.messages(events.StreamResults)) == 3 })
	// Their migrated copies.
	for i, id := range map[int]string{3: known, 4: unknown} {
		h.publish(result(i, func(r *events.Result) {
			r.IDs.WorkflowExecutionID, r.IDs.ScanReference = id, id
			r.Migration = &events.Migration{ScanReference: id}
		}), nil)
	}
	// 3 originals, then 2 + 2 + 1 + 2 copies.
	waitFor(t, "the migrated results handled", func() bool {
		return len(h.messages(events.StreamResults)) == 10 && h.metric("kycflow_notifier_suppressed_total", "suppress") == 1
	})
	type got struct {
		migrated, marked int
	}
	per := map[string]*got{"deliver": {}, "mark": {}, "suppress": {}, "platform": {}}
	for _, m := range h.messages(events.StreamResults) {
		var r events.Result
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		g := per[strings.Split(m.Subject, ".")[2]]
		if r.Migration == nil {
			continue
		}
		g.migrated++
		if r.Migration.NetverifyDelivered {
			g.marked++
			if r.Migration.ScanReference != known {
				t.Errorf("the copy of %s is marked, but its original was never delivered", r.Migration.ScanReference)
			}
		}
	}
	want := map[string]got{"deliver": {2, 0}, "mark": {2, 1}, "suppress": {1, 0}, "platform": {2, 0}}
	for route, w := range want {
		if *per[route] != w {
			t.Errorf("route %s: %+v migrated results (marked), want %+v", route, *per[route], w)
		}
	}
}

// TestMarkedRetryKeepsItsID: on a "mark" route, the migrated result's
// first attempt fails; the route delivers the Netverify original before
// the retry, which now goes out marked. It is the same delivery retried:
// it keeps its webhook-id (a receiver that processed the first attempt
// drops it), and one delivery is recorded.
func TestMarkedRetryKeepsItsID(t *testing.T) {
	h := newHarness(t)
	rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
	rcv.Fail(1, http.StatusServiceUnavailable, http.Header{"Retry-After": {"2"}})
	rt := rcv.Route("mark", events.PolicyNoPII)
	rt.Migrated = notifier.MigratedMark
	h.start(testConfig(), rt)
	scan := notifiertest.ExecutionID(7)
	h.publish(result(3, func(r *events.Result) {
		r.IDs.WorkflowExecutionID, r.IDs.ScanReference = scan, scan
		r.Migration = &events.Migration{ScanReference: scan}
	}), nil)
	waitFor(t, "the copy's first attempt to fail", func() bool { return h.metric("kycflow_notifier_retries_total", "mark") == 1 })
	h.publish(result(1, func(r *events.Result) {
		r.IDs.AccountID, r.IDs.WorkflowExecutionID, r.IDs.ScanReference = "", scan, scan
		r.Source = events.Source{API: events.APINetverify, Kind: events.KindIDVerification}
	}), nil)
	waitFor(t, "the original and the retried copy delivered", func() bool { return len(rcv.Accepted()) == 2 })
	var first, retried string
	for _, id := range rcv.IDs() {
		if first == "" {
			first = id // the copy's failed attempt
			continue
		}
		if id != rcv.Accepted()[0].ID() {
			retried = id
		}
	}
	copyReq := rcv.Accepted()[1]
	if copyReq.Envelope.Data.Migration == nil || !copyReq.Envelope.Data.Migration.NetverifyDelivered {
		t.Fatalf("the retried copy: migration %+v, want marked", copyReq.Envelope.Data.Migration)
	}
	if retried != first || copyReq.ID() != first {
		t.Errorf("webhook-ids: first attempt %s, retry %s; want one id", first, retried)
	}
}
