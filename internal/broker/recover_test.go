package broker_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/pkg/events"
)

// panicky panics on every delivery of its message: with a runtime error
// (an index out of range) or with a value that holds personal data.
func panicky(msg *message.Message) ([]*message.Message, error) {
	switch msg.UUID {
	case "index":
		var s []int
		_ = s[len(msg.Payload)] // index out of range
	case "personal":
		panic("JANE DOE 1990-01-01")
	}
	return nil, nil
}

// runRouter runs a router with one handler on JUMIO_CALLBACKS until the
// test ends; policy, when not nil, is the handler's own Recoverer.
func runRouter(t *testing.T, sub *broker.Subscriber, h message.NoPublishHandlerFunc, policy *broker.PanicPolicy) {
	t.Helper()
	router, err := broker.NewRouter(broker.RouterConfig{CloseTimeout: 10 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	handler := router.AddConsumerHandler("h", "", sub, h)
	if policy != nil {
		handler.AddMiddleware(broker.Recoverer(*policy))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- router.Run(ctx) }()
	<-router.Running()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("router: %v", err)
		}
	})
}

// TestRecovererRedeliversWithBackoffThenDeadLetters: a message whose
// handler panics is redelivered after a delay (never at once), once per
// delivery of its budget, and the delivery that reaches the budget stores
// it in JUMIO_DLQ with class panic and the stack, without the panic's
// value when that is not a runtime error; other messages flow meanwhile.
func TestRecovererRedeliversWithBackoffThenDeadLetters(t *testing.T) {
	_, js := setup(t)
	m := newMetrics()
	sub := newSubscriber(t, js, broker.SubscriberConfig{Durable: "panics", MeterProvider: m})
	rec := newRecorder()
	var (
		mu     sync.Mutex
		panics []bool
	)
	const budget = 3
	runRouter(t, sub, func(msg *message.Message) error {
		rec.record(msg)
		_, err := panicky(msg)
		return err
	}, &broker.PanicPolicy{
		MaxAttempts: budget,
		Backoff:     func(int) time.Duration { return 20 * time.Millisecond },
		DeadLetter: func(ctx context.Context, msg *message.Message, pe *broker.PanicError) error {
			return broker.PublishDeadLetter(ctx, js, broker.DeadLetter{
				Stage: events.StageEnrich, EventID: msg.UUID, Payload: msg.Payload, Headers: broker.Headers(msg),
				Err: pe, Class: broker.ClassPanic, Stack: pe.Stack, Attempts: broker.Attempt(msg),
				OriginalSubject: broker.Subject(msg), OriginalStream: broker.Stream(msg), OriginalSeq: broker.StreamSeq(msg),
			})
		},
		OnPanic: func(_ *message.Message, _ *broker.PanicError, dl bool) {
			mu.Lock()
			defer mu.Unlock()
			panics = append(panics, dl)
		},
	})
	pub := newPublisher(t, js, broker.PublisherConfig{})
	publish(t, pub, "index", "personal", "fine")
	eventually(t, "both panicking messages dead-lettered", func() bool {
		return len(brokertest.Messages(t, js, events.StreamDLQ)) == 2
	})
	waitSettled(t, js, "panics")

	for _, id := range []string{"index", "personal"} {
		if got, want := rec.seen(id), []int{1, 2, 3}; !slices.Equal(got, want) {
			t.Errorf("%s delivered on attempts %v, want %v", id, got, want)
		}
	}
	if got := rec.seen("fine"); len(got) != 1 {
		t.Errorf("a message that does not panic was delivered %d times, want 1", len(got))
	}
	// The server sees an ack before the subscriber counts it: the
	// counts are read until they match or a few seconds pass.
	want := map[string]int64{"ack": 3, "nak": 0, "nak_delay": 2 * (budget - 1), "term": 0}
	outcomes := map[string]int64{}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		for _, o := range []string{"ack", "nak", "nak_delay", "term"} {
			outcomes[o] = m.sum(t, "kycflow_broker_settled_messages", map[string]string{"outcome": o})
		}
		if maps.Equal(outcomes, want) || time.Now().After(deadline) {
			break
		}
	}
	if !maps.Equal(outcomes, want) {
		t.Errorf("settlements %v, want %v: every panic below the budget redelivered after a delay, never at once", outcomes, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if dl := slices.Index(panics, true); dl < 0 || len(panics) != 2*budget {
		t.Errorf("OnPanic calls %v, want %d with two dead letters", panics, 2*budget)
	}

	for _, msg := range brokertest.Messages(t, js, events.StreamDLQ) {
		h := msg.Header
		if got := h.Get(events.HeaderErrorClass); got != broker.ClassPanic {
			t.Errorf("dead letter class %q, want %q", got, broker.ClassPanic)
		}
		if got := h.Get(events.HeaderAttempts); got != "3" {
			t.Errorf("dead letter attempts %q, want 3", got)
		}
		stack, text := h.Get(events.HeaderErrorStack), h.Get(events.HeaderError)
		if !strings.Contains(stack, "broker_test.panicky") || !strings.Contains(stack, "recover_test.go:") {
			t.Errorf("stack %q does not name the panicking function and line", stack)
		}
		if strings.Contains(stack, "0x") || strings.Contains(stack, "runtime/debug.Stack") {
			t.Errorf("stack %q holds argument words or the recovery's own frames", stack)
		}
		for _, pii := range []string{"JANE", "1990-01-01"} { // not "1990": a goroutine id in the stack may hold it
			if strings.Contains(stack+text, pii) {
				t.Errorf("dead letter headers hold the panic's value: %q %q", text, stack)
			}
		}
		switch h.Get(events.HeaderEventID) {
		case "index":
			if !strings.Contains(text, "index out of range") {
				t.Errorf("error %q, want the runtime error", text)
			}
		case "personal":
			if !strings.Contains(text, "panic(string)") {
				t.Errorf("error %q, want the value's type only", text)
			}
		}
	}
}

// TestRouterRecoversWithBackoff: a handler without a Recoverer of its own
// is covered by the router's: its panics are redelivered after a delay,
// never at once.
func TestRouterRecoversWithBackoff(t *testing.T) {
	_, js := setup(t)
	m := newMetrics()
	sub := newSubscriber(t, js, broker.SubscriberConfig{Durable: "router-panics", MeterProvider: m})
	rec := newRecorder()
	runRouter(t, sub, func(msg *message.Message) error {
		rec.record(msg)
		_, err := panicky(msg)
		return err
	}, nil)
	publish(t, newPublisher(t, js, broker.PublisherConfig{}), "personal")
	eventually(t, "a redelivery", func() bool { return len(rec.seen("personal")) >= 2 })
	if nak := m.sum(t, "kycflow_broker_settled_messages", map[string]string{"outcome": "nak"}); nak != 0 {
		t.Errorf("%d immediate redeliveries, want none", nak)
	}
	if delayed := m.sum(t, "kycflow_broker_settled_messages", map[string]string{"outcome": "nak_delay"}); delayed < 1 {
		t.Errorf("%d delayed redeliveries, want at least 1", delayed)
	}
}
