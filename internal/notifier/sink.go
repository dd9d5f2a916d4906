package notifier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
)

// Sink delivers projected results to one destination. Implementations
// are safe for concurrent use and hold no per-delivery state: the
// notifier's delivery records decide what is delivered, and a Sink only
// has to make one attempt of one delivery.
type Sink interface {
	// Deliver makes one attempt to deliver d. It returns nil once the
	// destination has the result (a webhook answered 2xx, a NATS message
	// is stored). Delivering the same d again must be harmless: d.ID is
	// the same, and it is what the destination de-duplicates on.
	//
	// Errors are *DeliveryError values matching ErrRetryable,
	// ErrPermanent or ErrGone; a cancelled or expired ctx gives an error
	// that matches ErrRetryable and ctx.Err(). Error texts name no URL
	// query, no secret and no personal data.
	Deliver(ctx context.Context, d Delivery) error
}

// Delivery is one result for one route.
type Delivery struct {
	// ID identifies the delivery at the destination: the webhook-id, the
	// Nats-Msg-Id and ce-id. It stays the same for every attempt and every
	// repeat of the same result (DeliveryID).
	ID string
	// Route is the route's name.
	Route string
	// EventID is the id of the callback event the result comes from.
	EventID string
	// Result is the result projected by the route's policy.
	Result events.Result
	// Replay is the replay marker of a replayed message, nil otherwise.
	Replay *events.ReplayMarker
}

// DeliveryID is the id of the delivery of a result to a route: derived
// from the event id, the route and the content hash of the projected
// result (ContentHash), so that every attempt and every repeat of the same
// result has the same id, and a changed result for the same event a new
// one. A replayed delivery's id is marker.MessageID(DeliveryID(…)).
func DeliveryID(eventID, route, contentHash string) string {
	return events.DerivedID(eventID, "route", route, contentHash)
}

// Classes of delivery errors.
var (
	// ErrRetryable: try again later (timeouts, connection errors, 408,
	// 429, 5xx, a broker that is down).
	ErrRetryable = errors.New("retryable")
	// ErrPermanent: trying again will not help (other 4xx, 3xx, a
	// forbidden address); the result goes to the dead-letter stream.
	ErrPermanent = errors.New("permanent")
	// ErrGone: the endpoint answered 410 Gone; the route is disabled until
	// the notifier restarts.
	ErrGone = errors.New("gone")
)

// DeliveryError is a failed delivery attempt.
type DeliveryError struct {
	// Class is ErrRetryable, ErrPermanent or ErrGone.
	Class error
	// Reason is a short, fixed label for metrics and logs ("status",
	// "timeout", "connection", "forbidden_address", "redirect", …).
	Reason string
	// Status is the HTTP status, 0 when there was no response.
	Status int
	// RetryAfter is the delay the destination asked for (Retry-After), 0
	// when none.
	RetryAfter time.Duration
	// Err is the cause; its text holds no URL, secret or personal data.
	Err error
}

func (e *DeliveryError) Error() string {
	s := e.Class.Error() + " delivery failure: " + e.Reason
	if e.Status != 0 {
		s += fmt.Sprintf(" %d", e.Status)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Is matches the class.
func (e *DeliveryError) Is(target error) bool { return target == e.Class }

// classify returns the reason, the Retry-After and the class of a delivery
// error (ErrRetryable for an error that is not a *DeliveryError).
func classify(err error) (reason string, retryAfter time.Duration, class error) {
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.Reason, de.RetryAfter, de.Class
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "cancelled", 0, ErrRetryable
	}
	return "error", 0, ErrRetryable
}

// cancelled wraps a context error of an attempt.
func cancelled(err error) error {
	return &DeliveryError{Class: ErrRetryable, Reason: "cancelled", Err: err}
}
