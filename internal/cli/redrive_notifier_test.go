package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/internal/notifier/notifiertest"
	"github.com/kycflow/kycflow/internal/telemetry"
	"github.com/kycflow/kycflow/pkg/events"
)

// These tests re-drive dead letters into a real notifier whose webhook
// receiver fails as told, and look at what the receiver got and what
// JUMIO_DLQ holds: each execution status ends as one delivery or one dead
// letter per route, however often an operator re-drives.

// startNotifier runs a notifier with routes until the test ends.
func (s *server) startNotifier(routes ...notifier.Route) {
	t := s.t
	t.Helper()
	tel, err := telemetry.Setup(t.Context(), telemetry.Config{ServiceName: "notifier", LogFormat: "json", LogLevel: "error"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	n, err := notifier.New(notifier.Config{PullExpiry: 200 * time.Millisecond, DrainTimeout: 2 * time.Second, AckWait: 5 * time.Second}, routes, s.js, tel)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	waitUntil(t, "notifier ready", func() bool { return n.Ready(ctx) == nil })
	t.Cleanup(func() { cancel(); <-done })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// publishResult stores r in JUMIO_ENRICHED as the enricher would, with
// the extra headers hdr.
func (s *server) publishResult(r events.Result, hdr nats.Header) {
	t := s.t
	t.Helper()
	b, err := json.Marshal(events.EnrichedEvent{SchemaVersion: events.ResultSchemaVersion, Result: r, RawType: events.RawPlatformDetails, Raw: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(events.EnrichedSubject(r.IDs.AccountID, r.IDs.WorkflowExecutionID))
	m.Data = b
	for k, v := range hdr {
		m.Header[k] = v
	}
	m.Header.Set(events.HeaderEventID, r.IDs.EventID)
	m.Header.Set(events.HeaderCEID, r.IDs.EventID)
	m.Header.Set(events.HeaderCEType, events.TypeEnriched)
	if m.Header.Get(events.HeaderMsgID) == "" {
		m.Header.Set(events.HeaderMsgID, r.IDs.EventID)
	}
	if _, err := s.js.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}
}

func (s *server) deadLetters() int { return len(brokertest.Messages(s.t, s.js, events.StreamDLQ)) }

// hookFailing runs a notifier with the webhook route "hook" whose
// receiver answers the first fails requests with 400, publishes r and
// waits for its dead letter.
func (s *server) hookFailing(fails int, r events.Result) *notifiertest.Receiver {
	s.t.Helper()
	rcv := notifiertest.NewReceiver(s.t, notifiertest.Secret)
	rcv.Fail(fails, http.StatusBadRequest, nil)
	s.startNotifier(rcv.Route("hook", events.PolicyFull))
	s.publishResult(r, nil)
	waitUntil(s.t, "the dead letter", func() bool { return s.deadLetters() == 1 })
	return rcv
}

// settled waits until cond holds and stays so for a while: what a
// notifier does with a copy takes a moment, and a copy that is wrongly
// delivered must have the time to show.
func settled(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitUntil(t, what, cond)
	time.Sleep(time.Second)
	if !cond() {
		t.Fatalf("%s did not hold", what)
	}
}

// TestRedriveAgainAfterItFailedAgain: a result re-driven while its
// receiver still fails is dead-lettered again, each time: the redrives of
// one result to one route share a marker, and JetStream's duplicate
// window once dropped the second failure's dead letter (the result was
// then neither delivered nor dead-lettered). Once the receiver works, the
// next redrive delivers it, once.
func TestRedriveAgainAfterItFailedAgain(t *testing.T) {
	s := newServer(t)
	rcv := s.hookFailing(3, notifiertest.Result(1))
	for n := 2; n <= 3; n++ {
		if out := s.kycflow(0, "dlq", "redrive", "--route", "hook"); !strings.Contains(out, "1 dead letter re-driven") {
			t.Fatalf("redrive %d:\n%s", n-1, out)
		}
		settled(t, "the failed copy dead-lettered again", func() bool { return rcv.Attempts() == n && s.deadLetters() == 1 })
	}
	s.kycflow(0, "dlq", "redrive", "--route", "hook")
	settled(t, "the delivery", func() bool { return len(rcv.Accepted()) == 1 && s.deadLetters() == 0 })
}

// TestRedriveKeepsTheWebhookID: a redrive retries the delivery that
// failed, so it carries the webhook-id the failed attempts carried
// (Standard Webhooks: the id stays the same however often a failed
// message is retried): a receiver that processed a failed attempt (its
// answer lost, say) de-duplicates the redrive.
func TestRedriveKeepsTheWebhookID(t *testing.T) {
	s := newServer(t)
	rcv := s.hookFailing(2, notifiertest.Result(1))
	s.kycflow(0, "dlq", "redrive", "--route", "hook")
	settled(t, "the failed copy dead-lettered again", func() bool { return rcv.Attempts() == 2 && s.deadLetters() == 1 })
	s.kycflow(0, "dlq", "redrive", "--route", "hook")
	settled(t, "the delivery", func() bool { return len(rcv.Accepted()) == 1 && s.deadLetters() == 0 })
	ids := rcv.IDs()
	if len(ids) != 3 || ids[1] != ids[0] || ids[2] != ids[0] {
		t.Errorf("webhook-ids of the first attempt and the two redrives: %q, want one id", ids)
	}
}

// TestRedriveOfAResultDeliveredSince: a dead letter whose result the
// route delivered since (an operator replayed it first) is not delivered
// again by its redrive.
func TestRedriveOfAResultDeliveredSince(t *testing.T) {
	defer func(d time.Duration) { routeReadWait = d }(routeReadWait)
	routeReadWait = time.Second
	s := newServer(t)
	rcv := s.hookFailing(1, notifiertest.Result(1))
	s.kycflow(0, "replay", "notify", "--redeliver", "--route", "hook")
	waitUntil(t, "the replay's delivery", func() bool { return len(rcv.Accepted()) == 1 })
	s.kycflow(0, "dlq", "redrive", "--route", "hook")
	settled(t, "the redrive settled", func() bool { return s.deadLetters() == 0 && rcv.Attempts() == 2 })
	if n := len(rcv.Accepted()); n != 1 {
		t.Errorf("the route got the result %d times, want 1", n)
	}
}

// TestRedriveOfAResultMappedAgainSince: the dead letter holds REJECTED;
// after a mapping fix an enrich replay gave PASSED for the same callback,
// which the route delivered. Re-driving the old dead letter must not leave
// the receiver on REJECTED.
func TestRedriveOfAResultMappedAgainSince(t *testing.T) {
	s := newServer(t)
	old := notifiertest.Result(1)
	old.Decision.Type, old.Decision.Label = events.DecisionRejected, "REJECTED"
	rcv := s.hookFailing(1, old)
	fixed := notifiertest.Result(1)
	fixed.Decision.Type, fixed.Decision.Label = events.DecisionPassed, "PASSED"
	hdr := nats.Header{}
	hdr.Set(events.HeaderReplay, events.ReplayMarker{ID: "mappingfix"}.String())
	hdr.Set(events.HeaderMsgID, "fixed-1")
	s.publishResult(fixed, hdr)
	waitUntil(t, "the corrected result", func() bool { return len(rcv.Accepted()) == 1 })
	s.kycflow(0, "dlq", "redrive", "--route", "hook")
	settled(t, "the redrive settled", func() bool { return s.deadLetters() == 0 && rcv.Attempts() == 2 })
	acc := rcv.Accepted()
	if got := acc[len(acc)-1].Envelope.Data.Decision.Type; len(acc) != 1 || got != events.DecisionPassed {
		t.Errorf("the receiver got %d results and ends on %s, want 1 ending on PASSED", len(acc), got)
	}
}
