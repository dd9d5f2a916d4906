package notifiertest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/pkg/events"
)

// Fault is a failure a SinkReceiver can cause for the next delivery.
type Fault int

// Faults.
const (
	// FaultRetryable: the destination is unavailable for now.
	FaultRetryable Fault = iota
	// FaultPermanent: the destination refuses the delivery for good.
	FaultPermanent
	// FaultGone: the destination says it is gone (webhook 410).
	FaultGone
	// FaultHang: the destination does not answer until the sender gives
	// up; Arrived tells when the attempt has reached it.
	FaultHang
)

// Got is a delivery a destination has.
type Got struct {
	ID     string
	Result events.Result
	// Replay is the Kycflow-Replay value it carried ("" when none).
	Replay string
}

// SinkReceiver is the destination side of a sink under test.
type SinkReceiver interface {
	// Got returns what the destination has, one entry per delivery id
	// (as a receiver de-duplicating by id sees it), in arrival order.
	Got(t *testing.T) []Got
	// Inject makes the next delivery fail with f, and reports false when
	// the sink cannot be made to fail that way (the test is skipped).
	// Heal undoes it.
	Inject(t *testing.T, f Fault) bool
	Heal(t *testing.T)
	// Arrived is signalled when an attempt reaches the destination (nil
	// when FaultHang is not supported).
	Arrived() <-chan string
}

// NewSink returns a sink for one test, with the receiver of its
// destination.
type NewSink func(t *testing.T) (notifier.Sink, SinkReceiver)

// TestSink is the conformance suite of notifier sinks, modelled on
// Watermill's pub/sub tests: delivery of the projected result and of the
// replay marker, idempotency when the same delivery is repeated, context
// cancellation, and the classification of failures (retryable,
// permanent, gone), each followed by a successful delivery.
func TestSink(t *testing.T, newSink NewSink) {
	t.Run("delivers", func(t *testing.T) {
		sink, rcv := newSink(t)
		d := delivery(1, events.PolicyFull, nil)
		if err := sink.Deliver(t.Context(), d); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		expect(t, rcv, []Got{{ID: d.ID, Result: d.Result}})
	})
	t.Run("delivers the projection and the replay marker", func(t *testing.T) {
		sink, rcv := newSink(t)
		m := &events.ReplayMarker{ID: "r1", Redeliver: true, Routes: []string{"conformance"}}
		d := delivery(2, events.PolicyDecisionOnly, m)
		if err := sink.Deliver(t.Context(), d); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		expect(t, rcv, []Got{{ID: d.ID, Result: d.Result, Replay: m.String()}})
	})
	t.Run("repeated delivery is one delivery", func(t *testing.T) {
		sink, rcv := newSink(t)
		d := delivery(3, events.PolicyNoPII, nil)
		for range 3 {
			if err := sink.Deliver(t.Context(), d); err != nil {
				t.Fatalf("Deliver: %v", err)
			}
		}
		expect(t, rcv, []Got{{ID: d.ID, Result: d.Result}})
	})
	t.Run("cancelled context", func(t *testing.T) {
		sink, rcv := newSink(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := sink.Deliver(ctx, delivery(4, events.PolicyFull, nil))
		if !errors.Is(err, context.Canceled) || !errors.Is(err, notifier.ErrRetryable) {
			t.Fatalf("Deliver: got %v, want context.Canceled and ErrRetryable", err)
		}
		expect(t, rcv, nil)
	})
	t.Run("cancelled while the destination hangs", func(t *testing.T) {
		sink, rcv := newSink(t)
		if !rcv.Inject(t, FaultHang) {
			t.Skip("the sink cannot be made to hang")
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- sink.Deliver(ctx, delivery(5, events.PolicyFull, nil)) }()
		select {
		case <-rcv.Arrived():
		case err := <-done:
			t.Fatalf("Deliver returned before the destination had the request: %v", err)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) || !errors.Is(err, notifier.ErrRetryable) {
			t.Fatalf("Deliver: got %v, want context.Canceled and ErrRetryable", err)
		}
	})
	for _, tc := range []struct {
		name  string
		fault Fault
		class error
	}{
		{"retryable failure", FaultRetryable, notifier.ErrRetryable},
		{"permanent failure", FaultPermanent, notifier.ErrPermanent},
		{"gone", FaultGone, notifier.ErrGone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink, rcv := newSink(t)
			if !rcv.Inject(t, tc.fault) {
				t.Skip("the sink cannot be made to fail this way")
			}
			d := delivery(6, events.PolicyFull, nil)
			err := sink.Deliver(t.Context(), d)
			var de *notifier.DeliveryError
			if !errors.Is(err, tc.class) || !errors.As(err, &de) {
				t.Fatalf("Deliver: got %v, want a *DeliveryError matching %v", err, tc.class)
			}
			for _, other := range []error{notifier.ErrRetryable, notifier.ErrPermanent, notifier.ErrGone} {
				if other != tc.class && errors.Is(err, other) {
					t.Errorf("Deliver: %v also matches %v", err, other)
				}
			}
			rcv.Heal(t)
			if err := sink.Deliver(t.Context(), d); err != nil {
				t.Fatalf("Deliver after the fault: %v", err)
			}
			expect(t, rcv, []Got{{ID: d.ID, Result: d.Result}})
		})
	}
}

func delivery(i int, p events.Policy, m *events.ReplayMarker) notifier.Delivery {
	r := events.Project(Result(i), p)
	id := notifier.DeliveryID(r.IDs.EventID, "conformance", notifier.ContentHash(r))
	if m != nil {
		id = m.MessageID(id)
	}
	return notifier.Delivery{ID: id, Route: "conformance", EventID: r.IDs.EventID, Result: r, Replay: m}
}

func expect(t *testing.T, rcv SinkReceiver, want []Got) {
	t.Helper()
	if diff := cmp.Diff(want, rcv.Got(t), cmp.Comparer(sameTime), cmp.FilterPath(isReplay, cmp.Comparer(sameReplay))); diff != "" {
		t.Errorf("destination has (-want +got):\n%s", diff)
	}
}

func isReplay(p cmp.Path) bool { return p.Last().String() == ".Replay" }

// sameReplay compares two Kycflow-Replay values by the replay they name:
// its id and whether it asks for redelivery. A sink may leave out the
// routes (a webhook does: its receiver is outside).
func sameReplay(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	ma, errA := events.ParseReplayMarker(a)
	mb, errB := events.ParseReplayMarker(b)
	return errA == nil && errB == nil && ma.ID == mb.ID && ma.Redeliver == mb.Redeliver
}
