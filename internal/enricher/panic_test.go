package enricher_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestPanicRedeliveredThenDeadLettered: a callback whose handling panics
// (a hook injected before the retrieval panics for it, with personal data
// in the panic's value) is redelivered after a back-off, never at once,
// once per delivery of the retry budget, and then stored in JUMIO_DLQ
// with class panic, the stage and the stack, without the value; the other
// callbacks are enriched meanwhile.
func TestPanicRedeliveredThenDeadLettered(t *testing.T) {
	h := newHarness(t, jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 11, Executions: 3}})
	cfg := h.config()
	cfg.RetryMaxAttempts = 3
	// Only the back-off redelivers here: a loaded machine must not see the
	// ack wait run out too, which would count one more attempt.
	cfg.AckWait = time.Minute
	xs := h.jumio.Executions()
	now := time.Now()
	bad := h.platformEvent(xs[0], now)
	var (
		mu    sync.Mutex
		calls = map[string]int{}
	)
	h.startWith(cfg, nil, func(e *enricher.Enricher) {
		enricher.SetHook(e, func(eventID string) {
			mu.Lock()
			calls[eventID]++
			mu.Unlock()
			if eventID == bad.EventID {
				panic("mapping failed for JANE DOE, born 1990-01-01")
			}
		})
	})
	h.publish(bad, nil)
	for _, x := range xs[1:] {
		h.publish(h.platformEvent(x, now), nil)
	}
	l := h.settle(len(xs))
	if l.Results != 2 || l.DeadLetters != 1 {
		t.Errorf("ledger %+v: want 2 results and 1 dead letter", l)
	}
	mu.Lock()
	if got := calls[bad.EventID]; got != cfg.RetryMaxAttempts {
		t.Errorf("the panicking callback was handled %d times, want %d (the budget)", got, cfg.RetryMaxAttempts)
	}
	mu.Unlock()
	if nak := h.counter("kycflow_broker_settled_messages", attribute.String("outcome", "nak")); nak != 0 {
		t.Errorf("%d immediate redeliveries, want none: a panic waits for its back-off", nak)
	}
	if got := h.counter("kycflow_broker_settled_messages", attribute.String("outcome", "nak_delay")); got != int64(cfg.RetryMaxAttempts-1) {
		t.Errorf("%d delayed redeliveries, want %d", got, cfg.RetryMaxAttempts-1)
	}
	if got := h.counter(enricher.MetricRetries, attribute.String("reason", "panic")); got != int64(cfg.RetryMaxAttempts-1) {
		t.Errorf("%s{reason=panic} = %d, want %d", enricher.MetricRetries, got, cfg.RetryMaxAttempts-1)
	}
	if got := h.counter(enricher.MetricDeadLetters, attribute.String("class", broker.ClassPanic)); got != 1 {
		t.Errorf("%s{class=panic} = %d, want 1", enricher.MetricDeadLetters, got)
	}

	dls := h.deadLetters()
	if len(dls) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dls))
	}
	dl := dls[0]
	if want := events.DLQSubject(events.StageEnrich, "", bad.AccountID, bad.WorkflowExecutionID); dl.Subject != want {
		t.Errorf("dead letter subject %s, want %s", dl.Subject, want)
	}
	for k, want := range map[string]string{
		events.HeaderErrorClass: broker.ClassPanic,
		events.HeaderStage:      string(events.StageEnrich),
		events.HeaderAttempts:   "3",
		events.HeaderEventID:    bad.EventID,
	} {
		if got := dl.Header.Get(k); got != want {
			t.Errorf("dead letter %s = %q, want %q", k, got, want)
		}
	}
	stack := dl.Header.Get(events.HeaderErrorStack)
	if !strings.Contains(stack, "panic_test.go:") || !strings.Contains(stack, "enricher.(*Enricher).enrich") {
		t.Errorf("stack %q does not name where it panicked", stack)
	}
	for _, pii := range []string{"JANE", "1990-01-01"} { // not "1990": a goroutine id in the stack may hold it
		if text := dl.Header.Get(events.HeaderError) + stack; strings.Contains(text, pii) {
			t.Errorf("dead letter headers hold the panic's value: %s", text)
		}
	}
}
