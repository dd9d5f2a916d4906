package enricher

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/pkg/jumio"
)

// Errors of the enricher. Their texts, and the texts of the errors that
// wrap them, hold ids, field names and statuses, never personal data:
// they go into logs and the Kycflow-Error header of dead letters.
var (
	// ErrInvalidCallback: the message is not a callback event the
	// enricher can enrich (not JSON, wrong schema version, ids missing or
	// malformed, an unparseable Netverify form). Permanent.
	ErrInvalidCallback = errors.New("enricher: invalid callback event")
	// ErrNotFinal: Jumio answered, but with data that is not final yet
	// (workflow details still INITIATED or ACQUIRED after a final callback,
	// a Netverify scan still PENDING). Retried on the not-ready schedule
	// like a 404 and permanent past it.
	ErrNotFinal = errors.New("enricher: Jumio data not final yet")
	// ErrTooLarge: the enriched message exceeds the broker's largest
	// message. Permanent.
	ErrTooLarge = errors.New("enricher: enriched message too large for the broker")
	// ErrBroker wraps failures of the broker (state bucket, publish):
	// retried with back-off.
	ErrBroker = errors.New("enricher: broker")
	// ErrRetryBudget wraps the last error of a callback dead-lettered
	// because its retry budget is spent.
	ErrRetryBudget = errors.New("enricher: retry budget spent")
)

// unreadMarkers is a failed fetch whose erasure markers could not be
// read either. It is retried as the fetch's error says; where that error
// would end in a dead letter (a permanent 404, a retry budget spent), it
// is retried as the broker failure instead, within the retry budget as
// any broker failure is: whether the transaction was
// erased is not known, and a dead letter stored after its erasure
// completed would stay (a tombstone, never a retry or a dead letter, is
// what an erased transaction's callback becomes).
type unreadMarkers struct{ fetch, markers error }

func (e *unreadMarkers) Error() string {
	return e.fetch.Error() + "; erasure markers not read: " + e.markers.Error()
}

func (e *unreadMarkers) Unwrap() []error { return []error{e.fetch, e.markers} }

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err: err} }

// Dead-letter classes (the Kycflow-Error-Class header).
const (
	// ClassPermanent: retrying cannot help (invalid payload, 400, 403, a
	// 404 past the not-ready schedule, another region).
	ClassPermanent = "permanent"
	// ClassRetryBudget: a transient failure lasted past the retry budget.
	ClassRetryBudget = "retry_budget"
)

// Retry reasons (the reason attribute of kycflow_enricher_retries_total).
const (
	reasonNotReady    = "not_ready"    // 404 soon after the callback, data not final
	reasonRateLimited = "rate_limited" // 429
	reasonAuth        = "unauthorized" // 401 after a token refresh, token refused
	reasonJumio       = "jumio"        // 5xx, timeouts, connection errors, malformed bodies
	reasonBroker      = "broker"       // state bucket or publish failures
	reasonShutdown    = "shutdown"     // the process is stopping
	reasonPanic       = "panic"        // the handler panicked (broker.Recoverer)
)

// verdictKind is what becomes of a message that was not enriched.
type verdictKind int

const (
	verdictRedeliver verdictKind = iota
	verdictDeadLetter
)

// verdict is the decision about a failed message: redeliver after delay
// (reason says why), or dead-letter with class.
type verdict struct {
	kind   verdictKind
	delay  time.Duration
	reason string
	class  string
	err    error
	// stack is where the handler panicked, for class broker.ClassPanic.
	stack string
}

// delivery is what decide knows about a message besides the error.
type delivery struct {
	// attempt is the JetStream delivery count (1 on the first).
	attempt int
	// age is the time since the callback was stored.
	age time.Duration
	// sinceCallback is the time since Jumio sent the callback (or since
	// it was received, when Jumio sent no time).
	sinceCallback time.Duration
	// stopping: the message's context ended, the process is stopping.
	stopping bool
}

// retryPolicy turns errors into verdicts.
type retryPolicy struct {
	maxAttempts int
	maxAge      time.Duration
	initial     time.Duration
	maxInterval time.Duration
	schedule    jumio.Schedule
}

func newRetryPolicy(c Config) retryPolicy {
	return retryPolicy{
		maxAttempts: c.RetryMaxAttempts,
		maxAge:      c.RetryMaxAge,
		initial:     c.RetryInitialInterval,
		maxInterval: c.RetryMaxInterval,
		schedule:    c.NotReadySchedule,
	}
}

// notReadyWindow is how long after a callback a 404 still means "not
// ready yet".
func (p retryPolicy) notReadyWindow() time.Duration { return p.schedule.Total() }

// decide is the one place where a failure becomes redelivery or dead
// letter:
//
//   - the process is stopping: redeliver at once (another replica, or
//     this one after its restart, takes it), whatever the budget;
//   - a failed fetch whose erasure markers could not be read either
//     (unreadMarkers): as the fetch's error when that redelivers, else
//     as a broker failure;
//   - permanent (invalid callback, another region, a message too large,
//     and what jumio.Classify calls permanent but 401): dead letter;
//   - not ready yet (404 soon after the callback, data not final): the
//     next step of the not-ready schedule counted from the callback, plus
//     up to 10% jitter; past the schedule's total, a dead letter;
//   - anything else is transient (429, 5xx, timeouts, 401, broker): a dead
//     letter past RetryMaxAttempts or RetryMaxAge, else exponential
//     back-off with jitter for the attempt, and no sooner than Jumio's
//     Retry-After.
func (p retryPolicy) decide(err error, d delivery) verdict {
	var (
		pe *permanentError
		um *unreadMarkers
	)
	switch {
	case d.stopping, errors.Is(err, errStopping):
		return verdict{kind: verdictRedeliver, reason: reasonShutdown, err: err}
	case errors.As(err, &um):
		if v := p.decide(um.fetch, d); v.kind == verdictRedeliver {
			v.err = err
			return v
		}
		return p.decide(fmt.Errorf("%w: erasure markers: %w", ErrBroker, um.markers), d)
	case errors.As(err, &pe), jumio.Classify(err).Kind == jumio.Permanent && !errors.Is(err, jumio.ErrUnauthorized):
		return verdict{kind: verdictDeadLetter, class: ClassPermanent, err: err}
	case errors.Is(err, jumio.ErrNotReady), errors.Is(err, ErrNotFinal):
		if d.sinceCallback >= p.notReadyWindow() {
			return verdict{kind: verdictDeadLetter, class: ClassPermanent,
				err: fmt.Errorf("still not final %s after the callback: %w", d.sinceCallback.Round(time.Second), err)}
		}
		next := p.schedule.Next(d.sinceCallback)
		return verdict{kind: verdictRedeliver, reason: reasonNotReady, err: err, delay: next + rand.N(next/10+1)}
	}
	if d.attempt >= p.maxAttempts || d.age >= p.maxAge {
		return verdict{kind: verdictDeadLetter, class: ClassRetryBudget, err: fmt.Errorf("%w after %d attempts in %s: %w",
			ErrRetryBudget, d.attempt, d.age.Round(time.Second), err)}
	}
	delay := p.backoff(d.attempt)
	reason := reasonJumio
	switch r := jumio.Classify(err); {
	case errors.Is(err, ErrBroker):
		reason = reasonBroker
	case errors.Is(err, jumio.ErrUnauthorized):
		reason = reasonAuth
	case r.Kind == jumio.RetryAfter:
		if errors.Is(err, jumio.ErrRateLimited) {
			reason = reasonRateLimited
		}
		delay = max(delay, r.After) // a 429's, or a 5xx's Retry-After
	}
	return verdict{kind: verdictRedeliver, reason: reason, delay: delay, err: err}
}

// backoff is the redelivery delay after the attempt-th delivery failed:
// RetryInitialInterval doubled per attempt up to RetryMaxInterval, each
// randomized by ±50% (cenkalti/backoff's exponential back-off).
func (p retryPolicy) backoff(attempt int) time.Duration {
	return broker.Backoff(attempt, p.initial, p.maxInterval)
}
