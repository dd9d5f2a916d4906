package enricher_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

var detailsEndpoint = []jumio.Endpoint{jumio.EndpointWorkflowDetails}

// TestFaults drives callbacks through faults of the simulator and checks
// that each ends right (enriched, or dead-lettered with its payload and
// reason) and that the ledger holds: callbacks = results + duplicates +
// stale + dead letters, nothing in flight.
func TestFaults(t *testing.T) {
	tests := []struct {
		name string
		// n callbacks, one per generated execution, sent now.
		n int
		// cfg adjusts the enricher's configuration.
		cfg func(*enricher.Config)
		// setup runs before the enricher starts, with the callbacks.
		setup func(h *harness, evs []events.CallbackEvent)
		// garbage is stored besides the callbacks: bodies that are not
		// callback events.
		garbage []string
		// wantResults and wantDead are the expected outcomes; wantClass
		// and wantError describe every dead letter.
		wantResults, wantDead int
		wantClass, wantError  string
		// check looks at the counters afterwards.
		check func(t *testing.T, h *harness)
	}{
		{
			name: "429 storm",
			n:    20,
			setup: func(h *harness, _ []events.CallbackEvent) {
				h.jumio.Inject(jumiotest.Fault{Endpoints: detailsEndpoint, Status: http.StatusTooManyRequests, Count: 15})
			},
			wantResults: 20,
			check: func(t *testing.T, h *harness) {
				if n := h.counter(enricher.MetricRetries, attribute.String("reason", "rate_limited")); n == 0 {
					t.Error("no redelivery for rate_limited")
				}
				if s := h.jumio.Count(jumio.EndpointWorkflowDetails, http.StatusTooManyRequests); s != 15 {
					t.Errorf("%d 429s served, want the 15 injected", s)
				}
			},
		},
		{
			name: "429 with Retry-After",
			n:    5,
			setup: func(h *harness, _ []events.CallbackEvent) {
				h.jumio.Inject(jumiotest.Fault{Endpoints: detailsEndpoint, Status: http.StatusTooManyRequests, RetryAfter: time.Second, Count: 3})
			},
			wantResults: 5,
		},
		{
			name: "run of 5xx",
			n:    20,
			setup: func(h *harness, _ []events.CallbackEvent) {
				h.jumio.Inject(jumiotest.Fault{Endpoints: detailsEndpoint, Status: http.StatusServiceUnavailable, Count: 25})
			},
			wantResults: 20,
			check: func(t *testing.T, h *harness) {
				if n := h.counter(enricher.MetricRetries, attribute.String("reason", "jumio")); n == 0 {
					t.Error("no redelivery for a Jumio 5xx (the client's in-call retries took all)")
				}
			},
		},
		{
			name: "dropped connections and malformed bodies",
			n:    10,
			setup: func(h *harness, _ []events.CallbackEvent) {
				h.jumio.Inject(jumiotest.Fault{Endpoints: detailsEndpoint, Drop: true, Count: 6})
				h.jumio.Inject(jumiotest.Fault{Endpoints: detailsEndpoint, Malformed: true, Count: 6})
			},
			wantResults: 10,
		},
		{
			name: "not ready then ready",
			n:    10,
			setup: func(h *harness, evs []events.CallbackEvent) {
				for _, ev := range evs[:5] {
					h.jumio.NotReady(ev.WorkflowExecutionID, 3, time.Time{})
				}
			},
			wantResults: 10,
			check: func(t *testing.T, h *harness) {
				if n := h.counter(enricher.MetricRetries, attribute.String("reason", "not_ready")); n < 5 {
					t.Errorf("%d not_ready redeliveries, want at least 5", n)
				}
				if n := h.counter(enricher.MetricFetches, attribute.String("outcome", "not_ready")); n != 15 {
					t.Errorf("%d not_ready fetches, want 15", n)
				}
			},
		},
		{
			name: "permanent 403",
			n:    10,
			setup: func(h *harness, _ []events.CallbackEvent) {
				h.jumio.Inject(jumiotest.Fault{Endpoints: detailsEndpoint, Status: http.StatusForbidden})
			},
			wantResults: 9, wantDead: 1, wantClass: enricher.ClassPermanent, wantError: "403",
		},
		{
			name: "400",
			n:    3,
			setup: func(h *harness, _ []events.CallbackEvent) {
				h.jumio.Inject(jumiotest.Fault{Endpoints: detailsEndpoint, Status: http.StatusBadRequest})
			},
			wantResults: 2, wantDead: 1, wantClass: enricher.ClassPermanent, wantError: "400",
		},
		{
			name:        "unparseable messages",
			n:           5,
			garbage:     []string{`not json`, `{"schemaVersion":1}`, `{"schemaVersion":1,"eventId":"x","api":"platform","workflowExecutionId":"../x","accountId":"y"}`},
			wantResults: 5, wantDead: 3, wantClass: enricher.ClassPermanent, wantError: "invalid callback event",
		},
		{
			name: "credentials refused past the retry budget",
			n:    1,
			cfg:  func(c *enricher.Config) { c.RetryMaxAttempts = 3 },
			setup: func(h *harness, _ []events.CallbackEvent) {
				h.jumio.Inject(jumiotest.Fault{Endpoints: detailsEndpoint, Status: http.StatusUnauthorized, Count: -1})
			},
			wantDead: 1, wantClass: enricher.ClassRetryBudget, wantError: "401",
			check: func(t *testing.T, h *harness) {
				if n := h.counter(enricher.MetricRetries, attribute.String("reason", "unauthorized")); n != 2 {
					t.Errorf("%d unauthorized redeliveries, want 2 (3 attempts)", n)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, jumiotest.Config{})
			execs := h.executions(tt.n, 21)
			now := time.Now()
			evs := make([]events.CallbackEvent, len(execs))
			payloads := map[string][]byte{}
			for i, x := range execs {
				evs[i] = h.platformEvent(x, now)
				payloads[evs[i].EventID], _ = json.Marshal(evs[i])
			}
			if tt.setup != nil {
				tt.setup(h, evs)
			}
			cfg := h.config()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			h.start(cfg, nil)
			for _, ev := range evs {
				h.publish(ev, nil)
			}
			for i, g := range tt.garbage {
				id := "garbage-" + strconv.Itoa(i)
				payloads[id] = []byte(g)
				h.publishRaw(events.CallbackSubject(events.APIPlatform, "acct", "exec-"+strconv.Itoa(i)), []byte(g), id, nil)
			}
			l := h.settle(tt.n + len(tt.garbage))
			if l.Results != int64(tt.wantResults) || l.DeadLetters != int64(tt.wantDead) {
				t.Errorf("ledger %+v: want %d results and %d dead letters", l, tt.wantResults, tt.wantDead)
			}
			for _, m := range h.deadLetters() {
				checkDeadLetter(t, m.Subject, m.Header, m.Data, payloads, tt.wantClass, tt.wantError)
			}
			if tt.check != nil {
				tt.check(t, h)
			}
		})
	}
}

// checkDeadLetter: a dead letter carries the original payload unchanged,
// the stage, attempts, class and a reason, and places it under
// jumio.dlq.enrich.
func checkDeadLetter(t *testing.T, subject string, h map[string][]string, data []byte, payloads map[string][]byte, class, reason string) {
	t.Helper()
	get := func(k string) string {
		if v := h[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	id := get(events.HeaderEventID)
	want, ok := payloads[id]
	switch {
	case !ok:
		t.Errorf("dead letter for unknown event %q", id)
	case string(data) != string(want):
		t.Errorf("dead letter %s: payload changed", id)
	}
	if !strings.HasPrefix(subject, events.SubjectDLQ+"."+string(events.StageEnrich)+".") {
		t.Errorf("dead letter subject %q", subject)
	}
	if get(events.HeaderStage) != string(events.StageEnrich) || get(events.HeaderErrorClass) != class {
		t.Errorf("dead letter %s: stage %q class %q, want enrich and %s", id, get(events.HeaderStage), get(events.HeaderErrorClass), class)
	}
	if n, err := strconv.Atoi(get(events.HeaderAttempts)); err != nil || n < 1 {
		t.Errorf("dead letter %s: attempts %q", id, get(events.HeaderAttempts))
	}
	if e := get(events.HeaderError); !strings.Contains(e, reason) {
		t.Errorf("dead letter %s: error %q does not say %q", id, e, reason)
	}
	if e := get(events.HeaderError); strings.Contains(e, "http") || strings.Contains(e, "{") {
		t.Errorf("dead letter %s: error %q quotes a URL or the payload", id, e)
	}
	if get(events.HeaderOriginalSubject) == "" || get(events.HeaderOriginalStream) != events.StreamCallbacks {
		t.Errorf("dead letter %s: original subject %q stream %q", id, get(events.HeaderOriginalSubject), get(events.HeaderOriginalStream))
	}
}

// TestTokenRevokedMidRun: Jumio revokes the token while callbacks are
// being enriched; the shared client fetches one new token and every
// callback is enriched.
func TestTokenRevokedMidRun(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	execs := h.executions(20, 5)
	h.start(h.config(), nil)
	now := time.Now()
	for _, x := range execs[:10] {
		h.publish(h.platformEvent(x, now), nil)
	}
	h.eventually("some callbacks enriched", func() bool { return h.ledger().Results >= 1 })
	h.jumio.RevokeTokens()
	for _, x := range execs[10:] {
		h.publish(h.platformEvent(x, now), nil)
	}
	l := h.settle(20)
	if l.Results != 20 {
		t.Errorf("ledger %+v: want 20 results", l)
	}
	if n := h.jumio.Requests(jumio.EndpointToken); n != 2 {
		t.Errorf("%d token requests, want 2 (the first token and one after the revocation)", n)
	}
}

// TestNotFoundPastSchedule: a 404 that lasts past the not-ready schedule,
// or that comes long after the callback, is dead-lettered as permanent.
func TestNotFoundPastSchedule(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	execs := h.executions(2, 9)
	for _, x := range execs {
		h.jumio.NotReady(x.ID, 1<<30, time.Time{})
	}
	cfg := h.config()
	cfg.NotReadySchedule = jumio.Schedule{100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond}
	h.start(cfg, nil)
	payloads := map[string][]byte{}
	for i, sent := range []time.Time{time.Now(), time.Now().Add(-time.Hour)} {
		ev := h.platformEvent(execs[i], sent)
		payloads[ev.EventID], _ = json.Marshal(ev)
		h.publish(ev, nil)
	}
	l := h.settle(2)
	if l.DeadLetters != 2 {
		t.Fatalf("ledger %+v: want 2 dead letters", l)
	}
	for _, m := range h.deadLetters() {
		checkDeadLetter(t, m.Subject, m.Header, m.Data, payloads, enricher.ClassPermanent, "404")
	}
	if n := h.counter(enricher.MetricRetries, attribute.String("reason", "not_ready")); n < 1 {
		t.Error("the recent callback was not retried before it was dead-lettered")
	}
}

// TestRegionMismatch: a callback from another region than the client's is
// dead-lettered at once, without a request to Jumio.
func TestRegionMismatch(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	x := h.executions(1, 4)[0]
	ev := h.platformEvent(x, time.Now())
	ev.Region = string(wire.RegionEMEA)
	h.start(h.config(), nil)
	h.publish(ev, nil)
	l := h.settle(1)
	if l.DeadLetters != 1 {
		t.Fatalf("ledger %+v: want a dead letter", l)
	}
	payload, _ := json.Marshal(ev)
	m := h.deadLetters()[0]
	checkDeadLetter(t, m.Subject, m.Header, m.Data, map[string][]byte{ev.EventID: payload}, enricher.ClassPermanent, "region")
	if n := h.jumio.Requests(jumio.EndpointWorkflowDetails); n != 0 {
		t.Errorf("%d details requests, want none", n)
	}
}

// TestRetryHoldsNoWorker: with one worker, a callback whose data is not
// ready waits for its redelivery on the server while every other callback
// is enriched.
func TestRetryHoldsNoWorker(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	execs := h.executions(11, 13)
	h.jumio.NotReady(execs[0].ID, 1<<30, time.Time{})
	cfg := h.config()
	cfg.Concurrency = 1
	cfg.NotReadySchedule = jumio.Schedule{time.Hour}
	h.start(cfg, nil)
	h.publishAll(execs)
	h.eventually("the other callbacks enriched and the first one retried", func() bool {
		return h.ledger().Results == 10 && h.counter(enricher.MetricRetries, attribute.String("reason", "not_ready")) >= 1
	})
	for _, m := range h.enriched() {
		if m.Header.Get(events.HeaderCESubject) == execs[0].ID {
			t.Fatal("the callback that is not ready was enriched")
		}
	}
	h.eventually("the waiting callback is pending on the server", func() bool {
		info := h.consumer()
		return info.NumAckPending == 1 && info.NumPending == 0
	})
}

// TestBrokerHiccups: when JUMIO_ENRICHED or JUMIO_DLQ cannot store a
// message, nothing is acked: the callbacks are redelivered until the
// streams are back, then enriched and dead-lettered.
func TestBrokerHiccups(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	x := h.executions(1, 47)[0]
	h.start(h.config(), nil)
	for _, s := range []string{events.StreamEnriched, events.StreamDLQ} {
		if err := h.js.DeleteStream(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	h.publish(h.platformEvent(x, time.Now()), nil)
	h.publishRaw(events.CallbackSubject(events.APIPlatform, "acct", "exec"), []byte("garbage"), "garbage", nil)
	h.eventually("both redelivered for the broker", func() bool {
		return h.counter(enricher.MetricRetries, attribute.String("reason", "broker")) >= 2
	})
	if l := h.ledger(); l.settled() != 0 {
		t.Fatalf("ledger %+v: something was settled while the streams were gone", l)
	}
	if err := broker.EnsureStreams(t.Context(), h.js, broker.DefaultStreamsConfig()); err != nil {
		t.Fatal(err)
	}
	if l := h.settle(2); l.Results != 1 || l.DeadLetters != 1 {
		t.Errorf("ledger %+v: want a result and a dead letter", l)
	}
}

// TestNetverifyFormReadsAsStored: a stored Netverify callback whose form
// does not read as the event ingest stored it under (its kind, reference
// or status) is dead-lettered as permanent, without a request to Jumio
// and without a result: the enricher never maps fields ingest did not
// check.
func TestNetverifyFormReadsAsStored(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	_, scans := jumiotest.Generate(jumiotest.Scenario{Seed: 5, NetverifyScans: 4})
	cfg := h.config()
	cfg.NetverifyConfirm = enricher.ConfirmOff
	h.start(cfg, nil)
	other := scans[3].Reference
	payloads := map[string][]byte{}
	for i, change := range []func(ev *events.CallbackEvent){
		func(ev *events.CallbackEvent) { ev.WorkflowExecutionID = other },
		func(ev *events.CallbackEvent) { ev.Status = "DENIED_FRAUD" },
		func(ev *events.CallbackEvent) { ev.Kind = events.KindAuthentication },
	} {
		body := h.jumio.NetverifyCallback(scans[i], time.Now())
		m, err := wire.ParseNetverifyCallback(mustParseQuery(t, string(body)))
		if err != nil {
			t.Fatal(err)
		}
		ev := m.Event(wire.RegionAMER, time.Now(), string(body))
		if ev.Status == "DENIED_FRAUD" {
			ev.Status = "APPROVED_VERIFIED"
		}
		change(&ev)
		h.publish(ev, nil)
		payloads[ev.EventID], _ = json.Marshal(ev)
	}
	l := h.settle(3)
	if l.DeadLetters != 3 || l.Results != 0 {
		t.Fatalf("ledger %+v: want 3 dead letters and no result", l)
	}
	for _, m := range h.deadLetters() {
		checkDeadLetter(t, m.Subject, m.Header, m.Data, payloads, enricher.ClassPermanent, "invalid")
	}
}
