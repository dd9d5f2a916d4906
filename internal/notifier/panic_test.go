package notifier_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/pkg/events"
)

// TestPanicRedeliveredThenDeadLettered: a result whose delivery on one
// route panics (a hook injected in the route's handler, with personal data
// in the panic's value) is redelivered on that route after its back-off,
// never at once, until a delivery at its maxAttempts panics; then it is
// stored in JUMIO_DLQ for that route with class panic and the stack,
// without the value. The other route, and the other result, are
// delivered meanwhile.
func TestPanicRedeliveredThenDeadLettered(t *testing.T) {
	h := newHarness(t)
	hooked, other := natsRoute("hooked", events.PolicyFull, "jumio.results"), natsRoute("other", events.PolicyFull, "jumio.results")
	hooked.Retry.MaxAttempts = 3
	bad, good := result(1), result(2)
	var (
		mu    sync.Mutex
		calls int
	)
	// Only the back-off redelivers here: a loaded machine must not see the
	// ack wait run out too, which would count one more attempt.
	cfg := testConfig()
	cfg.AckWait = time.Minute
	h.startWith(cfg, func(n *notifier.Notifier) {
		notifier.SetHook(n, func(route, eventID string) {
			if route != hooked.Name || eventID != bad.IDs.EventID {
				return
			}
			mu.Lock()
			calls++
			mu.Unlock()
			panic("delivery of JANE DOE, born 1990-01-01")
		})
	}, hooked, other)
	h.publish(bad, nil)
	h.publish(good, nil)
	waitFor(t, "the dead letter and the other deliveries", func() bool {
		return len(h.messages(events.StreamDLQ)) == 1 && len(h.messages(events.StreamResults)) == 3
	})
	waitFor(t, "the route's consumer settled", func() bool { return h.settled("notifier-hooked") })

	mu.Lock()
	if calls != hooked.Retry.MaxAttempts {
		t.Errorf("the panicking delivery ran %d times, want %d (the route's maxAttempts)", calls, hooked.Retry.MaxAttempts)
	}
	mu.Unlock()
	if nak := h.settlements("notifier-hooked", "nak"); nak != 0 {
		t.Errorf("%v immediate redeliveries, want none: a panic waits for its back-off", nak)
	}
	if got := h.metric("kycflow_notifier_dead_letters_total", hooked.Name); got != 1 {
		t.Errorf("dead letters of %s: %v, want 1", hooked.Name, got)
	}
	if got := h.metric("kycflow_notifier_retries_total", hooked.Name); got != float64(hooked.Retry.MaxAttempts-1) {
		t.Errorf("retries of %s: %v, want %d", hooked.Name, got, hooked.Retry.MaxAttempts-1)
	}
	dl := h.messages(events.StreamDLQ)[0]
	if want := events.DLQSubject(events.StageNotify, hooked.Name, bad.IDs.AccountID, bad.IDs.WorkflowExecutionID); dl.Subject != want {
		t.Errorf("dead letter subject %s, want %s", dl.Subject, want)
	}
	for k, want := range map[string]string{
		events.HeaderErrorClass: broker.ClassPanic,
		events.HeaderRoute:      hooked.Name,
		events.HeaderAttempts:   "3",
	} {
		if got := dl.Header.Get(k); got != want {
			t.Errorf("dead letter %s = %q, want %q", k, got, want)
		}
	}
	stack := dl.Header.Get(events.HeaderErrorStack)
	if !strings.Contains(stack, "panic_test.go:") || !strings.Contains(stack, "notifier.(*route).handle") {
		t.Errorf("stack %q does not name where it panicked", stack)
	}
	for _, pii := range []string{"JANE", "1990-01-01"} { // not "1990": a goroutine id in the stack may hold it
		if text := dl.Header.Get(events.HeaderError) + stack; strings.Contains(text, pii) {
			t.Errorf("dead letter headers hold the panic's value: %s", text)
		}
	}
}

// settlements sums kycflow_broker_settled_messages_total of a consumer
// for an outcome.
func (h *harness) settlements(consumer, outcome string) float64 {
	h.t.Helper()
	families, err := h.tel.Registry.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != "kycflow_broker_settled_messages_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if label(m, "consumer") == consumer && label(m, "outcome") == outcome {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// settled reports whether a consumer of JUMIO_ENRICHED has nothing
// pending or unacknowledged.
func (h *harness) settled(durable string) bool {
	c, err := h.js.Consumer(h.t.Context(), events.StreamEnriched, durable)
	if err != nil {
		return false
	}
	info, err := c.Info(h.t.Context())
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0
}
