package notifier_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/internal/notifier/notifiertest"
	"github.com/kycflow/kycflow/pkg/events"
)

// TestRoutesFilterProjectAndDeliver sends three results through three
// routes: a full webhook, a decision_only webhook for PASSED only, and a
// no_pii NATS route.
func TestRoutesFilterProjectAndDeliver(t *testing.T) {
	h := newHarness(t)
	full := notifiertest.NewReceiver(t, notifiertest.Secret)
	passed := notifiertest.NewReceiver(t, notifiertest.Secret)
	passedRoute := passed.Route("passed-only", events.PolicyDecisionOnly)
	passedRoute.Filter = notifier.Filter{Decision: []events.DecisionType{events.DecisionPassed}}
	h.start(testConfig(),
		full.Route("everything", events.PolicyFull),
		passedRoute,
		natsRoute("bus", events.PolicyNoPII, ""),
	)
	results := []events.Result{result(1), result(2, decided(events.DecisionRejected)), result(3, decided(events.DecisionPassed))}
	for _, r := range results {
		h.publish(r, nil)
	}
	waitFor(t, "deliveries", func() bool {
		return len(full.Accepted()) == 3 && len(passed.Accepted()) == 2 && len(h.messages(events.StreamResults)) == 3
	})

	for _, req := range full.Accepted() {
		if req.Envelope.Data.Person == nil || req.Envelope.Data.Policy != events.PolicyFull {
			t.Errorf("full route: %s lacks the person or the policy", req.ID())
		}
	}
	for _, req := range passed.Accepted() {
		if req.Envelope.Data.Decision.Type != events.DecisionPassed {
			t.Errorf("passed-only route delivered %s", req.Envelope.Data.Decision.Type)
		}
		noPersonalData(t, "decision_only webhook", req.Body)
	}
	for _, m := range h.messages(events.StreamResults) {
		noPersonalData(t, "no_pii subject "+m.Subject, m.Data)
		var r events.Result
		if err := json.Unmarshal(m.Data, &r); err != nil || r.Policy != events.PolicyNoPII || len(r.Capabilities) == 0 {
			t.Errorf("no_pii result: policy %q, %d capabilities, error %v", r.Policy, len(r.Capabilities), err)
		}
	}
	if got := h.metric("kycflow_notifier_filtered_total", "passed-only"); got != 1 {
		t.Errorf("filtered: got %v, want 1", got)
	}
	if got := h.metric("kycflow_notifier_delivered_total", "bus"); got != 3 {
		t.Errorf("delivered: got %v, want 3", got)
	}
	if got := h.metric("kycflow_notifier_delivery_latency_seconds", "everything"); got != 3 {
		t.Errorf("latency observations: got %v, want 3", got)
	}
}

// noPersonalData fails when body holds a name, date of birth, document
// number, address or image reference.
func noPersonalData(t *testing.T, where string, body []byte) {
	t.Helper()
	for _, pd := range notifiertest.PersonalData {
		if strings.Contains(string(body), pd) {
			t.Errorf("%s carries personal data %q", where, pd)
		}
	}
	for _, field := range []string{`"person"`, `"images"`, `"number"`} {
		if strings.Contains(string(body), field) && !strings.Contains(where, "no_pii") {
			t.Errorf("%s carries %s", where, field)
		}
	}
}

func TestFailingReceiverGetsExactlyOneDelivery(t *testing.T) {
	h := newHarness(t)
	rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
	rcv.Fail(2, http.StatusServiceUnavailable, nil)
	rcv.Fail(1, http.StatusTooManyRequests, http.Header{"Retry-After": {"0"}})
	rcv.Fail(1, http.StatusRequestTimeout, nil)
	h.start(testConfig(), rcv.Route("crm", events.PolicyNoPII))
	h.publish(result(1), nil)
	waitFor(t, "the delivery", func() bool { return len(rcv.Accepted()) == 1 })
	if got := rcv.Attempts(); got != 5 {
		t.Errorf("attempts: got %d, want 5", got)
	}
	ids := map[string]bool{}
	// Every attempt carried the same webhook-id: the accepted one.
	for range 5 {
		ids[<-rcv.Arrived()] = true
	}
	if len(ids) != 1 || !ids[rcv.Accepted()[0].ID()] {
		t.Errorf("webhook-ids of the attempts: %v, want only %s", ids, rcv.Accepted()[0].ID())
	}
	waitFor(t, "metrics", func() bool { return h.metric("kycflow_notifier_delivered_total", "crm") == 1 })
	if got := h.metric("kycflow_notifier_retries_total", "crm"); got != 4 {
		t.Errorf("retried: got %v, want 4", got)
	}
}

func TestHangingEndpointDoesNotDelayAnotherRoute(t *testing.T) {
	h := newHarness(t)
	slow := notifiertest.NewReceiver(t, notifiertest.Secret)
	fast := notifiertest.NewReceiver(t, notifiertest.Secret)
	slow.Hang(1000)
	slowRoute := slow.Route("slow", events.PolicyFull)
	slowRoute.Concurrency = 1
	h.start(testConfig(), slowRoute, fast.Route("fast", events.PolicyFull))
	for i := range 3 {
		h.publish(result(i), nil)
	}
	<-slow.Arrived() // the slow route is stuck on its first result
	waitFor(t, "the fast route's deliveries", func() bool { return len(fast.Accepted()) == 3 })
	if n := len(slow.Accepted()); n != 0 {
		t.Errorf("slow route delivered %d", n)
	}
}

func TestGoneDisablesTheRouteUntilRestart(t *testing.T) {
	defer notifier.SetDisabledDelay(100 * time.Millisecond)()
	h := newHarness(t)
	gone := notifiertest.NewReceiver(t, notifiertest.Secret)
	other := notifiertest.NewReceiver(t, notifiertest.Secret)
	gone.Fail(1, http.StatusGone, nil)
	goneRoute := gone.Route("gone", events.PolicyFull)
	goneRoute.Concurrency = 1
	stop := h.start(testConfig(), goneRoute, other.Route("other", events.PolicyFull))
	h.publish(result(1), nil)
	waitFor(t, "the route disabled", func() bool { return h.metric("kycflow_notifier_route_disabled", "gone") == 1 })
	for i := 2; i <= 4; i++ {
		h.publish(result(i), nil)
	}
	waitFor(t, "the other route's deliveries", func() bool { return len(other.Accepted()) == 4 })
	if n := gone.Attempts(); n != 1 {
		t.Errorf("disabled route: %d attempts, want 1", n)
	}
	if !strings.Contains(h.log.String(), "route disabled") {
		t.Error("no log line says the route is disabled")
	}
	if got := h.metric("kycflow_notifier_dead_letters_total", "gone"); got != 0 {
		t.Errorf("dead-lettered: got %v, want 0", got)
	}
	stop()

	// The endpoint is back: a restart delivers everything it missed.
	h.start(testConfig(), goneRoute, other.Route("other", events.PolicyFull))
	waitFor(t, "the missed deliveries", func() bool { return len(gone.Accepted()) == 4 })
	if n := len(other.Accepted()); n != 4 {
		t.Errorf("other route after restart: %d deliveries, want 4", n)
	}
}

func TestDeadLetters(t *testing.T) {
	h := newHarness(t)
	permanent := notifiertest.NewReceiver(t, notifiertest.Secret)
	permanent.Fail(1, http.StatusUnprocessableEntity, nil)
	budget := notifiertest.NewReceiver(t, notifiertest.Secret)
	budget.Fail(100, http.StatusInternalServerError, nil)
	budgetRoute := budget.Route("budget", events.PolicyFull)
	budgetRoute.Retry.MaxAttempts = 3
	private := notifiertest.NewTLSReceiver(t, notifiertest.Secret)
	u, err := notifier.ParseWebhookURL(strings.Replace(private.URL(), "127.0.0.1", "localhost", 1), false)
	if err != nil {
		t.Fatal(err)
	}
	privateRoute := private.Route("private", events.PolicyFull)
	privateRoute.Webhook.URL, privateRoute.Webhook.AllowPrivate = u, false
	cfg := testConfig()
	cfg.RootCAs = private.CertPool()
	h.start(cfg, permanent.Route("permanent", events.PolicyFull), budgetRoute, privateRoute)
	r := result(7)
	h.publish(r, nil)
	h.publishRaw(events.EnrichedSubject(notifiertest.AccountID(8), notifiertest.ExecutionID(8)), "event-8", []byte("{not json"), nil)

	dlq := func(route string, i int) string {
		return events.DLQSubject(events.StageNotify, route, notifiertest.AccountID(i), notifiertest.ExecutionID(i))
	}
	want := map[string]string{ // subject → class
		dlq("permanent", 7): notifier.ClassPermanent,
		dlq("budget", 7):    notifier.ClassRetryBudget,
		dlq("private", 7):   notifier.ClassPermanent,
		dlq("permanent", 8): notifier.ClassMalformed,
		dlq("budget", 8):    notifier.ClassMalformed,
		dlq("private", 8):   notifier.ClassMalformed,
	}
	waitFor(t, "dead letters", func() bool { return len(h.messages(events.StreamDLQ)) == len(want) })
	enriched := h.messages(events.StreamEnriched)
	for _, m := range h.messages(events.StreamDLQ) {
		class, ok := want[m.Subject]
		if !ok {
			t.Errorf("unexpected dead letter %s", m.Subject)
			continue
		}
		if got := m.Header.Get(events.HeaderErrorClass); got != class {
			t.Errorf("%s: class %q, want %q", m.Subject, got, class)
		}
		if got := m.Header.Get(events.HeaderStage); got != string(events.StageNotify) {
			t.Errorf("%s: stage %q", m.Subject, got)
		}
		// Every route here is full: the payload is the message without
		// its raw document (TestDeadLettersKeepWhatThePolicyAllows), or
		// as it came when it is not an enriched event.
		if !slices.ContainsFunc(enriched, func(e *jetstream.RawStreamMsg) bool {
			return string(e.Data) == string(m.Data) && class == notifier.ClassMalformed || sameButRaw(e.Data, m.Data)
		}) {
			t.Errorf("%s: payload is not the enriched message", m.Subject)
		}
		for _, pd := range notifiertest.PersonalData {
			if strings.Contains(m.Header.Get(events.HeaderError), pd) {
				t.Errorf("%s: error header holds personal data", m.Subject)
			}
		}
	}
	if got, _ := strconv.Atoi(headerOf(h.messages(events.StreamDLQ), dlq("budget", 7), events.HeaderAttempts)); got != 3 {
		t.Errorf("budget dead letter attempts: got %d, want 3", got)
	}
	if n := private.Attempts(); n != 0 {
		t.Errorf("private target got %d requests, want 0", n)
	}
	if got := h.metric("kycflow_notifier_dead_letters_total", "budget"); got != 2 {
		t.Errorf("dead-lettered: got %v, want 2", got)
	}
}

// TestResultOverMaxPayloadIsDeadLettered: a result the server can never
// take is dead-lettered as permanent on its first attempt, not retried
// until its budget runs out, and the route goes on with the next result.
// The result grows past the server's max_payload only when the notifier
// encodes it: JSON encoders escape each U+2028 to six bytes, and the
// enriched message carries them raw, so it still fits.
func TestResultOverMaxPayloadIsDeadLettered(t *testing.T) {
	if testing.Short() {
		t.Skip("moves a 5 MB message through the notifier: seconds under the race detector")
	}
	h := newHarness(t)
	// A 5 MB message takes a while under the race detector: the default
	// pulls, long enough for it to arrive before the pull runs out (it
	// would come back only after AckWait), and an AckWait it never meets.
	cfg := testConfig()
	cfg.PullExpiry, cfg.AckWait = 2*time.Second, time.Minute
	h.start(cfg, natsRoute("bus", events.PolicyFull, ""))
	limit := int(h.nc.MaxPayload())
	big := result(1, func(r *events.Result) { r.Decision.Label = strings.Repeat("\u2028", limit/5) })
	body := bytes.ReplaceAll(mustEnriched(t, big), []byte(`\u2028`), []byte("\u2028"))
	if encoded, err := json.Marshal(big); err != nil || len(body) >= limit || len(encoded) <= limit {
		t.Fatalf("enriched message %d bytes, encoded result %d bytes (%v); want one under and one over %d", len(body), len(encoded), err, limit)
	}
	h.publishRaw(events.EnrichedSubject(big.IDs.AccountID, big.IDs.WorkflowExecutionID), big.IDs.EventID, body, nil)
	h.publish(result(2), nil)

	waitFor(t, "the dead letter and the next result", func() bool {
		return len(h.messages(events.StreamDLQ)) == 1 && len(h.messages(events.StreamResults)) == 1
	})
	dl := h.messages(events.StreamDLQ)[0]
	if want := events.DLQSubject(events.StageNotify, "bus", notifiertest.AccountID(1), notifiertest.ExecutionID(1)); dl.Subject != want {
		t.Errorf("dead letter subject: got %s, want %s", dl.Subject, want)
	}
	for k, want := range map[string]string{events.HeaderErrorClass: notifier.ClassPermanent, events.HeaderAttempts: "1", events.HeaderRoute: "bus"} {
		if got := dl.Header.Get(k); got != want {
			t.Errorf("dead letter %s: got %q, want %q", k, got, want)
		}
	}
	if !bytes.Equal(dl.Data, body) {
		t.Errorf("dead letter payload is not the enriched message")
	}
	if got := h.messages(events.StreamResults)[0].Subject; !strings.HasSuffix(got, notifiertest.ExecutionID(2)) {
		t.Errorf("stored result %s, want execution 2's", got)
	}
	if got := h.metric("kycflow_notifier_retries_total", "bus"); got != 0 {
		t.Errorf("retried: got %v, want 0", got)
	}
	waitFor(t, "the metrics", func() bool { return h.metric("kycflow_notifier_delivered_total", "bus") == 1 })
	if got := h.metric("kycflow_notifier_dead_letters_total", "bus"); got != 1 {
		t.Errorf("dead-lettered: got %v, want 1", got)
	}
}

// TestOneDeadLetterPerRoutePerStatus: a repeat of a dead-lettered result
// (a second callback for the same state) is suppressed rather than
// dead-lettered again, and a redrive (a replay asking for redelivery)
// still goes through once the endpoint is fixed.
func TestOneDeadLetterPerRoutePerStatus(t *testing.T) {
	h := newHarness(t)
	rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
	rcv.Fail(1, http.StatusUnprocessableEntity, nil)
	h.start(testConfig(), rcv.Route("hook", events.PolicyFull))
	h.publish(result(3), nil)
	waitFor(t, "the dead letter", func() bool { return len(h.messages(events.StreamDLQ)) == 1 })
	h.publish(result(3, repeated(1)), nil)
	waitFor(t, "the repeat suppressed", func() bool { return h.metric("kycflow_notifier_suppressed_total", "hook") == 1 })
	if n := len(h.messages(events.StreamDLQ)); n != 1 {
		t.Fatalf("dead letters: got %d, want 1", n)
	}
	h.publish(result(3), &events.ReplayMarker{ID: "redrive", Redeliver: true, Routes: []string{"hook"}})
	waitFor(t, "the redriven delivery", func() bool { return len(rcv.Accepted()) == 1 })
	if n := len(h.messages(events.StreamDLQ)); n != 1 {
		t.Errorf("dead letters after the redrive: got %d, want 1", n)
	}
}

func headerOf(msgs []*jetstream.RawStreamMsg, subject, key string) string {
	for _, m := range msgs {
		if m.Subject == subject {
			return m.Header.Get(key)
		}
	}
	return ""
}

// TestOneDeliveryPerRoutePerStatus: duplicate enriched events for the same
// state (published together, so they race), a redelivered copy, and a
// restart that reads the whole stream again are all suppressed; a changed
// result for the same status and a new status are delivered.
func TestOneDeliveryPerRoutePerStatus(t *testing.T) {
	h := newHarness(t)
	rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
	routes := []notifier.Route{rcv.Route("hook", events.PolicyNoPII), natsRoute("bus", events.PolicyFull, "")}
	stop := h.start(testConfig(), routes...)

	// Three callbacks for one state, and two copies of the first.
	base := result(1)
	for i := range 3 {
		h.publish(result(1, repeated(i)), nil)
	}
	h.publish(base, nil)
	resent := base
	resent.IDs.EventID = base.IDs.EventID // same event, a new message id
	h.publishRaw(events.EnrichedSubject(notifiertest.AccountID(1), notifiertest.ExecutionID(1)), "event-1-again", mustEnriched(t, resent), nil)
	waitFor(t, "suppressions", func() bool {
		return h.metric("kycflow_notifier_suppressed_total", "hook") == 4 && h.metric("kycflow_notifier_suppressed_total", "bus") == 4
	})
	if n := len(rcv.Accepted()); n != 1 {
		t.Fatalf("webhook deliveries: got %d, want 1", n)
	}
	if n := len(h.messages(events.StreamResults)); n != 1 {
		t.Fatalf("NATS deliveries: got %d, want 1", n)
	}

	// A new fact for the same status, and a new status.
	h.publish(result(1, repeated(7), func(r *events.Result) { r.Decision.Label = "PASSED_AFTER_REVIEW" }), nil)
	h.publish(result(1, func(r *events.Result) { r.IDs.EventID = "event-1-expired"; r.Status = events.StatusSessionExpired }), nil)
	waitFor(t, "new deliveries", func() bool { return len(rcv.Accepted()) == 3 && len(h.messages(events.StreamResults)) == 3 })
	stop()

	// A restart that reads the stream from the start delivers nothing.
	for _, r := range routes {
		if err := h.js.DeleteConsumer(t.Context(), events.StreamEnriched, r.Durable()); err != nil {
			t.Fatal(err)
		}
	}
	before := h.metric("kycflow_notifier_suppressed_total", "hook")
	h.start(testConfig(), routes...)
	waitFor(t, "the stream read again", func() bool {
		return h.metric("kycflow_notifier_suppressed_total", "hook") == before+7
	})
	if n := len(rcv.Accepted()); n != 3 {
		t.Errorf("webhook deliveries after the restart: got %d, want 3", n)
	}
	if n := len(h.messages(events.StreamResults)); n != 3 {
		t.Errorf("NATS deliveries after the restart: got %d, want 3", n)
	}
	checkLineIDs(t, h.log.String(), "result delivered", 6)
	checkLineIDs(t, h.log.String(), "result suppressed", 16)
}

// checkLineIDs: the notifier wrote at least want lines whose message
// starts with msg, each naming
// its route, event, execution, attempt and delivery.
func checkLineIDs(t *testing.T, logs, msg string, want int) {
	t.Helper()
	n := 0
	for line := range strings.SplitSeq(logs, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || !strings.HasPrefix(fmt.Sprint(rec["msg"]), msg) {
			continue
		}
		n++
		for _, k := range []string{"route", "event_id", "account_id", "workflow_execution_id", "attempt", "delivery_id"} {
			if v, ok := rec[k]; !ok || v == "" {
				t.Errorf("%q line without %s: %s", msg, k, line)
			}
		}
	}
	if n < want {
		t.Errorf("%d %q lines, want at least %d", n, msg, want)
	}
}

func mustEnriched(t *testing.T, r events.Result) []byte {
	t.Helper()
	b, err := json.Marshal(events.EnrichedEvent{SchemaVersion: 1, Result: r, RawType: events.RawPlatformDetails})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReplays(t *testing.T) {
	h := newHarness(t)
	rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
	other := notifiertest.NewReceiver(t, notifiertest.Secret)
	h.start(testConfig(), rcv.Route("hook", events.PolicyFull), other.Route("other", events.PolicyFull), natsRoute("bus", events.PolicyFull, "jumio.results.replays"))
	r := result(1)
	h.publish(r, nil)
	waitFor(t, "first deliveries", func() bool { return len(rcv.Accepted()) == 1 && len(other.Accepted()) == 1 })
	first := rcv.Accepted()[0]

	// A replay that reproduces results: suppressed everywhere.
	h.publish(r, &events.ReplayMarker{ID: "reproduce"})
	// A replay asking for redelivery to two routes, run twice (the second
	// run's messages are duplicates JetStream drops; a redelivered one is
	// suppressed by the record).
	redeliver := &events.ReplayMarker{ID: "again", Redeliver: true, Routes: []string{"hook", "bus"}}
	h.publish(r, redeliver)
	h.publishRaw(events.EnrichedSubject(notifiertest.AccountID(1), notifiertest.ExecutionID(1)), r.IDs.EventID+"-copy", mustEnriched(t, r), redeliver)
	waitFor(t, "the replayed deliveries", func() bool {
		return len(rcv.Accepted()) == 2 && len(h.messages(events.StreamResults)) == 2 &&
			h.metric("kycflow_notifier_suppressed_total", "other") == 3
	})
	waitFor(t, "the copy suppressed", func() bool { return h.metric("kycflow_notifier_suppressed_total", "hook") == 2 })
	replayed := rcv.Accepted()[1]
	if replayed.ID() == first.ID() {
		t.Error("the replayed webhook has the first delivery's webhook-id")
	}
	// The webhook receiver learns the replay, not the other routes' names.
	outside := events.ReplayMarker{ID: redeliver.ID, Redeliver: true}
	if !replayed.Envelope.Replay || replayed.Header.Get(events.HeaderReplay) != outside.String() {
		t.Errorf("replayed webhook: replay %v, header %q, want %q", replayed.Envelope.Replay, replayed.Header.Get(events.HeaderReplay), outside.String())
	}
	if n := len(other.Accepted()); n != 1 {
		t.Errorf("route outside the replay: %d deliveries, want 1", n)
	}
	msgs := h.messages(events.StreamResults)
	if got := msgs[1].Header.Get(events.HeaderReplay); got != redeliver.String() {
		t.Errorf("replayed NATS result: Kycflow-Replay %q", got)
	}
	if got := h.metric("kycflow_notifier_delivery_latency_seconds", "hook"); got != 1 {
		t.Errorf("latency observations: got %v, want 1 (replays excluded)", got)
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	h := newHarness(t)
	good := natsRoute("bus", events.PolicyFull, "")
	for _, tc := range []struct {
		name   string
		cfg    notifier.Config
		routes []notifier.Route
		want   error
	}{
		{"no routes", notifier.Config{}, nil, notifier.ErrNoRoutes},
		{"duplicate", notifier.Config{}, []notifier.Route{good, good}, notifier.ErrInvalidConfig},
		{"no sink", notifier.Config{}, []notifier.Route{{Name: "x", Policy: events.PolicyFull, Retry: good.Retry}}, notifier.ErrInvalidConfig},
		{"bad policy", notifier.Config{}, []notifier.Route{{Name: "x", Policy: "all", NATS: good.NATS, Retry: good.Retry}}, notifier.ErrInvalidConfig},
		{"bad concurrency", notifier.Config{Concurrency: -1}, []notifier.Route{good}, notifier.ErrInvalidConfig},
	} {
		if _, err := notifier.New(tc.cfg, tc.routes, h.js, h.tel); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestRunTwiceFails(t *testing.T) {
	h := newHarness(t)
	n, err := notifier.New(testConfig(), notifier.DefaultRoutes(), h.js, h.tel)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	waitFor(t, "ready", func() bool { return n.Ready(ctx) == nil })
	if err := n.Run(ctx); !errors.Is(err, notifier.ErrRunning) {
		t.Errorf("second Run: got %v, want ErrRunning", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := n.Ready(t.Context()); !errors.Is(err, notifier.ErrNotReady) {
		t.Errorf("Ready after Run: got %v, want ErrNotReady", err)
	}
}

// sentAt sets the callback time of a result to t0 plus d.
func sentAt(d time.Duration) func(*events.Result) {
	return func(r *events.Result) {
		at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC).Add(d)
		r.Timestamps.CallbackSent = &at
		r.IDs.EventID += "-" + d.String()
	}
}

// TestOlderResultNeverFollowsANewerOne: a result that waits for a retry
// (503 with Retry-After) while a newer result for the same execution
// status is delivered is suppressed as stale when its retry comes, so the
// receiver ends on the newer decision.
func TestOlderResultNeverFollowsANewerOne(t *testing.T) {
	// Without callbackSentAt (Jumio sent none) results are ordered by
	// when ingest received them, as the enricher orders them.
	receivedAt := func(d time.Duration) func(*events.Result) {
		return func(r *events.Result) {
			at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC).Add(d)
			r.Timestamps.CallbackSent, r.Timestamps.Received = nil, &at
			r.IDs.EventID += "-" + d.String()
		}
	}
	for name, at := range map[string]func(time.Duration) func(*events.Result){"sent": sentAt, "received": receivedAt} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
			rcv.Fail(1, http.StatusServiceUnavailable, http.Header{"Retry-After": {"2"}})
			h.start(testConfig(), rcv.Route("hook", events.PolicyFull))
			h.publish(result(1, decided(events.DecisionRejected), at(0)), nil)
			waitFor(t, "the older result to fail", func() bool { return h.metric("kycflow_notifier_retries_total", "hook") == 1 })
			h.publish(result(1, decided(events.DecisionPassed), at(time.Minute)), nil)
			waitFor(t, "the older result suppressed", func() bool { return h.metric("kycflow_notifier_suppressed_total", "hook") == 1 })
			if got := decisions(rcv); !slices.Equal(got, []events.DecisionType{events.DecisionPassed}) {
				t.Errorf("delivered decisions: got %v, want [PASSED]", got)
			}
			if !strings.Contains(h.log.String(), "result suppressed: a newer one was delivered") {
				t.Error("no log line says why the older result was suppressed")
			}
		})
	}
}

// decisions are the decisions the receiver accepted, in order.
func decisions(rcv *notifiertest.Receiver) []events.DecisionType {
	var ds []events.DecisionType
	for _, r := range rcv.Accepted() {
		ds = append(ds, r.Envelope.Data.Decision.Type)
	}
	return ds
}

// TestDeliveryNotRecordedIsNotAcked: the newer result is delivered while
// the delivery records are unavailable. Acked unrecorded, it left its key
// with a claim and no delivery, and the older result, retrying meanwhile,
// was delivered after it once the claim ran out. Now the newer result is
// redelivered: it goes out once more with the same webhook-id and is
// recorded, and the older one is suppressed as stale.
func TestDeliveryNotRecordedIsNotAcked(t *testing.T) {
	h := newHarness(t)
	rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
	rcv.Fail(1, http.StatusServiceUnavailable, http.Header{"Retry-After": {"3"}})
	release := make(chan struct{})
	rcv.Hold(release)
	route := rcv.Route("hook", events.PolicyFull)
	route.Webhook.Timeout = 2 * time.Second // a claim holds 32 s
	h.start(testConfig(), route)
	h.publish(result(1, decided(events.DecisionRejected), sentAt(0)), nil)
	<-rcv.Arrived()
	waitFor(t, "the older result to fail", func() bool { return h.metric("kycflow_notifier_retries_total", "hook") == 1 })
	h.publish(result(1, decided(events.DecisionPassed), sentAt(time.Minute)), nil)
	<-rcv.Arrived() // the newer one in flight
	h.recordsAvailable(false)
	close(release)
	waitFor(t, "the delivery not recorded", func() bool { return strings.Contains(h.log.String(), "result delivered but not recorded") })
	h.recordsAvailable(true)
	waitFor(t, "the older result suppressed", func() bool { return h.metric("kycflow_notifier_suppressed_total", "hook") >= 1 })
	// The receiver keeps one request per webhook-id: a repeat with the
	// same id is one.
	if got := decisions(rcv); !slices.Equal(got, []events.DecisionType{events.DecisionPassed}) {
		t.Errorf("delivered decisions: got %v, want [PASSED] (the older REJECTED must not follow it)", got)
	}
}

// TestUnfinishedResultNeverFollowsTheNextOne: the delivery records are
// kept per status, so an ACQUIRED result that waits for a retry while the
// execution's PROCESSED result goes through is suppressed as stale on its
// retry, not delivered after it; an unfinished result nothing followed is
// delivered.
func TestUnfinishedResultNeverFollowsTheNextOne(t *testing.T) {
	acquired := func(r *events.Result) { r.Status = events.StatusAcquired }
	h := newHarness(t)
	rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
	rcv.Fail(1, http.StatusServiceUnavailable, http.Header{"Retry-After": {"2"}})
	h.start(testConfig(), rcv.Route("hook", events.PolicyFull))
	h.publish(result(1, acquired, decided(events.DecisionNotExecuted), sentAt(0)), nil)
	waitFor(t, "the unfinished result to fail", func() bool { return h.metric("kycflow_notifier_retries_total", "hook") == 1 })
	h.publish(result(1, decided(events.DecisionPassed), sentAt(time.Minute)), nil)
	waitFor(t, "the unfinished result suppressed", func() bool { return h.metric("kycflow_notifier_suppressed_total", "hook") == 1 })
	var got []events.Status
	for _, r := range rcv.Accepted() {
		got = append(got, r.Envelope.Data.Status)
	}
	if !slices.Equal(got, []events.Status{events.StatusProcessed}) {
		t.Errorf("delivered statuses: got %v, want [PROCESSED]", got)
	}
	h.publish(result(2, acquired, decided(events.DecisionNotExecuted), sentAt(0)), nil)
	waitFor(t, "an unfinished result nothing followed delivered", func() bool { return len(rcv.Accepted()) == 2 })
}

// TestOneRedriveOfTwoDeadLetters: a result the route dead-lettered, re-fed
// twice under one redrive marker (its two dead letters, say the result's
// and a replay copy's, redriven together), reaches the receiver once; the
// other copy is suppressed.
func TestOneRedriveOfTwoDeadLetters(t *testing.T) {
	h := newHarness(t)
	rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
	rcv.Fail(1, http.StatusBadRequest, nil)
	h.start(testConfig(), rcv.Route("hook", events.PolicyFull))
	r := result(1)
	h.publish(r, nil)
	waitFor(t, "the result dead-lettered", func() bool { return h.metric("kycflow_notifier_dead_letters_total", "hook") == 1 })
	redrive := &events.ReplayMarker{ID: "redrive-hook-1", Redeliver: true, Routes: []string{"hook"}}
	subject := events.EnrichedSubject(notifiertest.AccountID(1), notifiertest.ExecutionID(1))
	h.publishRaw(subject, r.IDs.EventID+"@1", mustEnriched(t, r), redrive)
	waitFor(t, "the first copy delivered", func() bool { return len(rcv.Accepted()) == 1 })
	h.publishRaw(subject, r.IDs.EventID+"@2", mustEnriched(t, r), redrive)
	waitFor(t, "the second copy settled", func() bool {
		return len(rcv.Accepted()) > 1 || h.metric("kycflow_notifier_suppressed_total", "hook") >= 1
	})
	if n := len(rcv.Accepted()); n != 1 {
		t.Errorf("%d deliveries, want 1", n)
	}
}

// TestFirstDeliveryThroughAReplay: a result the route never delivered is a
// normal delivery even when it comes through a replay asking for
// redelivery (a redrive): no replay flag, no Kycflow-Replay header, and it
// counts in the latency; a later redelivery of it is a replay.
func TestFirstDeliveryThroughAReplay(t *testing.T) {
	h := newHarness(t)
	rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
	h.start(testConfig(), rcv.Route("hook", events.PolicyFull), natsRoute("bus", events.PolicyFull, ""))
	h.publish(result(1), &events.ReplayMarker{ID: "redrive", Redeliver: true})
	waitFor(t, "the first delivery", func() bool { return len(rcv.Accepted()) == 1 && len(h.messages(events.StreamResults)) == 1 })
	first := rcv.Accepted()[0]
	if first.Envelope.Replay || first.Header.Get(events.HeaderReplay) != "" {
		t.Errorf("first delivery marked as a replay: replay %v, header %q", first.Envelope.Replay, first.Header.Get(events.HeaderReplay))
	}
	if got := h.messages(events.StreamResults)[0].Header.Get(events.HeaderReplay); got != "" {
		t.Errorf("first NATS delivery carries Kycflow-Replay %q", got)
	}
	if got := h.metric("kycflow_notifier_delivery_latency_seconds", "hook"); got != 1 {
		t.Errorf("latency observations: got %v, want 1", got)
	}
	again := &events.ReplayMarker{ID: "again", Redeliver: true}
	h.publish(result(1), again)
	waitFor(t, "the redelivery", func() bool { return len(rcv.Accepted()) == 2 })
	if r := rcv.Accepted()[1]; !r.Envelope.Replay || r.Header.Get(events.HeaderReplay) != again.String() {
		t.Errorf("redelivery: replay %v, header %q", r.Envelope.Replay, r.Header.Get(events.HeaderReplay))
	}
	if got := h.metric("kycflow_notifier_delivery_latency_seconds", "hook"); got != 1 {
		t.Errorf("latency observations after the redelivery: got %v, want 1", got)
	}
}

// TestWaitingIsNotChargedToTheBudget: a result that waited for another
// result of its execution status to be delivered (busy) still has its
// whole retry budget for its own failures.
func TestWaitingIsNotChargedToTheBudget(t *testing.T) {
	h := newHarness(t)
	rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
	release := make(chan struct{})
	rcv.Hold(release)                               // the first result, until released
	rcv.Fail(1, http.StatusServiceUnavailable, nil) // then the second one's first call
	route := rcv.Route("hook", events.PolicyFull)
	route.Retry.MaxAttempts = 2
	route.Concurrency = 2
	h.start(testConfig(), route)
	h.publish(result(1, decided(events.DecisionRejected), sentAt(0)), nil)
	<-rcv.Arrived()
	h.publish(result(1, decided(events.DecisionPassed), sentAt(time.Minute)), nil)
	// The second result waits for the first more often than its budget.
	waitFor(t, "the second result to wait", func() bool { return h.metric("kycflow_notifier_retries_total", "hook") >= 2 })
	close(release)
	waitFor(t, "both deliveries", func() bool { return len(rcv.Accepted()) == 2 })
	if n := len(h.messages(events.StreamDLQ)); n != 0 {
		t.Errorf("dead letters: got %d, want 0", n)
	}
	if got := rcv.Accepted()[1].Envelope.Data.Decision.Type; got != events.DecisionPassed {
		t.Errorf("last delivered decision: got %s, want PASSED", got)
	}
}

// TestDecisionChangedBackWhileDeliveriesOverlap: three results of one
// status, in callback order PASSED, REJECTED, PASSED (a decision that
// changed and changed back), the next arriving while one is in flight.
// The receiver must end on PASSED. It ended on REJECTED: the last PASSED
// was suppressed as identical to the first delivered while REJECTED was
// in flight, or acked as "the same result in flight" while the first
// PASSED was.
func TestDecisionChangedBackWhileDeliveriesOverlap(t *testing.T) {
	for name, held := range map[string]int{"the second in flight": 1, "the first in flight": 0} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
			h.start(testConfig(), rcv.Route("hook", events.PolicyFull))
			release := make(chan struct{})
			for i, d := range []events.DecisionType{events.DecisionPassed, events.DecisionRejected, events.DecisionPassed} {
				if i == held {
					rcv.Hold(release)
				}
				h.publish(result(1, decided(d), sentAt(time.Duration(i)*time.Minute)), nil)
				if i <= held {
					<-rcv.Arrived()
				}
			}
			time.Sleep(500 * time.Millisecond) // the third is handled while one is held
			close(release)
			waitFor(t, "all three settled", func() bool {
				return h.metric("kycflow_notifier_delivered_total", "hook")+h.metric("kycflow_notifier_suppressed_total", "hook") >= 3
			})
			if got := decisions(rcv); got[len(got)-1] != events.DecisionPassed {
				t.Errorf("delivered decisions %v: the receiver ends on the outdated one", got)
			}
		})
	}
}

// TestRedriveOfAResultNeverReceivedIsNotAReplay: the route delivered
// WARNING for an execution status; Jumio's later PASSED for the same status
// is answered 400 by the receiver and dead-lettered. Once the receiver is
// fixed, "kycflow dlq redrive --route hook" re-drives it. The receiver never
// had PASSED: a normal delivery, not a replay (it came marked as one, as
// the route had delivered another result of the status, and a receiver
// that skips replays of what it processed stayed on WARNING).
func TestRedriveOfAResultNeverReceivedIsNotAReplay(t *testing.T) {
	h := newHarness(t)
	rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
	h.start(testConfig(), rcv.Route("hook", events.PolicyFull))
	h.publish(result(1, decided(events.DecisionWarning), sentAt(0)), nil)
	waitFor(t, "WARNING delivered", func() bool { return len(rcv.Accepted()) == 1 })

	rcv.Fail(1, http.StatusBadRequest, nil)
	passed := result(1, decided(events.DecisionPassed), sentAt(time.Minute))
	h.publish(passed, nil)
	waitFor(t, "PASSED dead-lettered", func() bool { return h.metric("kycflow_notifier_dead_letters_total", "hook") == 1 })

	// What "kycflow dlq redrive --route hook" stores (internal/cli/dlq.go redriveMarker).
	redrive := &events.ReplayMarker{ID: events.EventID("redrive", "hook", passed.IDs.EventID)[:32], Redeliver: true, Redrive: true, Routes: []string{"hook"}}
	h.publishRaw(events.EnrichedSubject(passed.IDs.AccountID, passed.IDs.WorkflowExecutionID), passed.IDs.EventID+"@2", mustEnriched(t, passed), redrive)
	waitFor(t, "PASSED redriven", func() bool { return len(rcv.Accepted()) == 2 })
	got := rcv.Accepted()[1]
	if got.Envelope.Data.Decision.Type != events.DecisionPassed {
		t.Fatalf("second delivery: %s", got.Envelope.Data.Decision.Type)
	}
	if got.Envelope.Replay || got.Header.Get(events.HeaderReplay) != "" {
		t.Errorf("a result the receiver never received arrives as a replay: envelope replay=%v, Kycflow-Replay %q",
			got.Envelope.Replay, got.Header.Get(events.HeaderReplay))
	}
}
