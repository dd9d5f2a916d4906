package notifier

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
)

// TestPublishErrorClasses: what the NATS sink makes of each error a
// publish can return. A message the server can never take (too large, a
// subject or header NATS refuses) is permanent, so the route dead-letters
// it at once; anything about the server or the connection is retryable;
// an attempt whose context ended is retryable and keeps the context's
// error, whatever the publish returned.
func TestPublishErrorClasses(t *testing.T) {
	live := t.Context()
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancelExpired := context.WithDeadline(t.Context(), time.Unix(0, 0))
	defer cancelExpired()
	// As broker.Publisher returns them.
	wrap := func(err error) error { return fmt.Errorf("broker: publish jumio.results.passed.10011.a.x: %w", err) }

	for _, tc := range []struct {
		name   string
		ctx    context.Context
		err    error
		class  error
		reason string
		cause  error // the error must still match this
	}{
		{"invalid header", live, wrap(fmt.Errorf("%w: value of %q has a line break", broker.ErrInvalidHeader, "Ce-Subject")), ErrPermanent, "publish", broker.ErrInvalidHeader},
		{"over the server's max payload", live, wrap(nats.ErrMaxPayload), ErrPermanent, "publish", nats.ErrMaxPayload},
		{"bad subject", live, wrap(nats.ErrBadSubject), ErrPermanent, "publish", nats.ErrBadSubject},
		{"publish timeout", live, wrap(context.DeadlineExceeded), ErrRetryable, "timeout", context.DeadlineExceeded},
		{"NATS timeout", live, wrap(nats.ErrTimeout), ErrRetryable, "timeout", nats.ErrTimeout},
		{"no stream for the subject", live, wrap(jetstream.ErrNoStreamResponse), ErrRetryable, "publish", jetstream.ErrNoStreamResponse},
		{"no responders", live, wrap(nats.ErrNoResponders), ErrRetryable, "publish", nats.ErrNoResponders},
		{"connection closed", live, wrap(nats.ErrConnectionClosed), ErrRetryable, "publish", nats.ErrConnectionClosed},
		{"unknown", live, errors.New("something else"), ErrRetryable, "publish", nil},
		{"cancelled", cancelled, wrap(context.Canceled), ErrRetryable, "cancelled", context.Canceled},
		{"cancelled, whatever the publish said", cancelled, wrap(nats.ErrMaxPayload), ErrRetryable, "cancelled", context.Canceled},
		{"deadline of the attempt passed", expired, wrap(nats.ErrTimeout), ErrRetryable, "cancelled", context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := publishError(tc.ctx, tc.err)
			var de *DeliveryError
			if !errors.As(err, &de) {
				t.Fatalf("got %T %v, want a *DeliveryError", err, err)
			}
			for _, c := range []error{ErrRetryable, ErrPermanent, ErrGone} {
				if got, want := errors.Is(err, c), c == tc.class; got != want {
					t.Errorf("errors.Is(%v, %v): got %v, want %v", err, c, got, want)
				}
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("got %v, want it to match %v", err, tc.cause)
			}
			reason, _, class := classify(err)
			if class != tc.class || reason != tc.reason {
				t.Errorf("classify: got %v/%s, want %v/%s", class, reason, tc.class, tc.reason)
			}
		})
	}
}
