package jumio

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinels matched with errors.Is. An *APIError matches the one for its
// status; ErrNotReady is matched only by errors NotReadyIfRecent returns.
var (
	// ErrNotFound: Jumio answered 404 (transaction unknown, deleted, not
	// in this account, or not available yet).
	ErrNotFound = errors.New("jumio: not found")
	// ErrNotReady: a 404 that came soon enough after the callback that the
	// data is probably still being processed (see NotReadyIfRecent).
	ErrNotReady = errors.New("jumio: not ready yet")
	// ErrUnauthorized: 401, also after a retry with a fresh token, or the
	// token endpoint refused the client credentials.
	ErrUnauthorized = errors.New("jumio: unauthorized")
	// ErrForbidden: 403 (missing or suspicious headers, wrong permissions).
	ErrForbidden = errors.New("jumio: forbidden")
	// ErrRateLimited: 429, the tenant's request budget is spent.
	ErrRateLimited = errors.New("jumio: rate limited")
	// ErrBadRequest: 400 or another 4xx that retrying will not fix.
	ErrBadRequest = errors.New("jumio: bad request")
	// ErrServer: 5xx.
	ErrServer = errors.New("jumio: server error")
	// ErrMalformedResponse: a 2xx response whose body is not the JSON the
	// endpoint documents. Classified as transient: a truncated body or a
	// proxy's page is the likely cause, and a lasting fault ends in the
	// caller's dead-letter queue once its retry budget is spent.
	ErrMalformedResponse = errors.New("jumio: malformed response")
	// ErrTooLarge: a response body exceeds the configured cap.
	ErrTooLarge = errors.New("jumio: response too large")
	// ErrInvalidArgument: an id, classifier or request body that cannot be
	// sent (checked before any request is made).
	ErrInvalidArgument = errors.New("jumio: invalid argument")
	// ErrNotConfigured: the client has no credentials for this API.
	ErrNotConfigured = errors.New("jumio: credentials not configured")
)

// APIError is a non-2xx answer from Jumio. Its Error string holds the
// endpoint, status, Jumio's error title or code and the request id, never
// a URL, credentials, or the error detail (which may echo request values).
type APIError struct {
	// Endpoint is the operation that failed.
	Endpoint Endpoint
	// Status is the HTTP status code.
	Status int
	// Title, Detail and Code are read from Jumio's error body when there is
	// one ({"title","status","detail"}, {"message","errorCode"} or OAuth2's
	// {"error","error_description"}).
	Title  string
	Detail string
	Code   string
	// RequestID is the request id from the response headers, if any.
	RequestID string
	// RetryAfter is the Retry-After header as a duration; 0 when absent.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("jumio: ")
	b.WriteString(string(e.Endpoint))
	b.WriteString(": ")
	b.WriteString(strconv.Itoa(e.Status))
	if t := http.StatusText(e.Status); t != "" {
		b.WriteString(" " + t)
	}
	// Jumio's words are quoted only when they are a code: a title or
	// message is free text, which may name a person, and this string
	// reaches logs and dead letters.
	if codeWord(e.Code) {
		b.WriteString(" (" + e.Code + ")")
	}
	if codeWord(e.RequestID) {
		b.WriteString(", request id " + e.RequestID)
	}
	if e.RetryAfter > 0 {
		b.WriteString(", retry after " + e.RetryAfter.String())
	}
	return b.String()
}

// Is matches the sentinel for the status: ErrNotFound (404),
// ErrUnauthorized (401), ErrForbidden (403), ErrRateLimited (429),
// ErrServer (5xx), ErrBadRequest (other 4xx).
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrRateLimited:
		return e.Status == http.StatusTooManyRequests
	case ErrServer:
		return e.Status >= 500
	case ErrBadRequest:
		return e.Status >= 400 && e.Status < 500 && !knownClientStatus(e.Status)
	}
	return false
}

func knownClientStatus(s int) bool {
	switch s {
	case http.StatusNotFound, http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests,
		http.StatusRequestTimeout:
		return true
	}
	return false
}

// notReadyError marks a 404 as data not ready yet; it unwraps to the 404.
type notReadyError struct {
	err error
	// since is the time between the callback and the 404.
	since time.Duration
}

func (e *notReadyError) Error() string {
	return "jumio: not ready yet " + strconv.Itoa(int(e.since/time.Second)) + "s after the callback: " + e.err.Error()
}

func (e *notReadyError) Unwrap() error { return e.err }

func (e *notReadyError) Is(target error) bool { return target == ErrNotReady }

// DefaultNotReadyWindow is how long after a callback a 404 still means
// "not ready yet": the whole of NotReadySchedule (61 min 40 s), Jumio's
// recommended retrieval back-off.
var DefaultNotReadyWindow = NotReadySchedule.Total()

// NotReadyIfRecent turns a 404 (ErrNotFound) that came less than window
// after callbackSentAt into an error that matches both ErrNotReady and
// ErrNotFound (and still unwraps to the *APIError); any other error, and a
// 404 outside the window, is returned unchanged. Use DefaultNotReadyWindow
// unless the tenant's workflows are known to take longer.
//
// callbackSentAt must not be zero: when Jumio gave no callback time, pass
// the time the callback was first seen (received or stored), which stays
// the same across redeliveries. A zero callbackSentAt returns err
// unchanged, so a 404 is permanent: counting from now instead would call
// it "not ready" on every retry, forever.
//
// Classify maps the result to RetryAfter(d), d being the time until the
// next step of NotReadySchedule counted from callbackSentAt: the attempt
// number is implied by the time since the callback, so callers pass
// nothing more and redeliveries for other reasons do not skew it.
func NotReadyIfRecent(err error, callbackSentAt, now time.Time, window time.Duration) error {
	if err == nil || callbackSentAt.IsZero() || !errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotReady) {
		return err
	}
	since := max(now.Sub(callbackSentAt), 0)
	if since >= window {
		return err
	}
	return &notReadyError{err: err, since: since}
}

// RetryKind says what to do about an error.
type RetryKind int

// Retry kinds.
const (
	// Permanent: retrying will not help; dead-letter or report it.
	Permanent RetryKind = iota
	// RetryNow: transient; retry with the caller's own back-off.
	RetryNow
	// RetryAfter: retry no sooner than Retry.After.
	RetryAfter
)

func (k RetryKind) String() string {
	switch k {
	case Permanent:
		return "permanent"
	case RetryNow:
		return "retry_now"
	case RetryAfter:
		return "retry_after"
	}
	return "unknown"
}

// Retry is a retry decision.
type Retry struct {
	Kind RetryKind
	// After is the delay for RetryAfter.
	After time.Duration
}

func (r Retry) String() string {
	if r.Kind == RetryAfter {
		return r.Kind.String() + "(" + r.After.String() + ")"
	}
	return r.Kind.String()
}

// DefaultRateLimitRetryAfter is the delay Classify gives a 429 that carries
// no Retry-After header: Jumio's budgets are per second.
const DefaultRateLimitRetryAfter = time.Second

// Classify is the one place that decides whether a Jumio error is worth
// retrying:
//
//   - nil: Permanent (nothing to retry);
//   - ErrNotReady (see NotReadyIfRecent): RetryAfter(time to the next step
//     of NotReadySchedule);
//   - 429: RetryAfter(Retry-After, or DefaultRateLimitRetryAfter);
//   - 5xx, 408, timeouts, connection errors, a cancelled context (shutdown;
//     the work was not done), ErrMalformedResponse and errors this package
//     does not know: RetryNow, with the caller's back-off;
//   - 400, 401 (already retried once with a fresh token), 403, 404 and
//     other 4xx, ErrTooLarge, ErrInvalidArgument, ErrNotConfigured:
//     Permanent.
func Classify(err error) Retry {
	if err == nil {
		return Retry{Kind: Permanent}
	}
	var nr *notReadyError
	if errors.As(err, &nr) {
		return Retry{Kind: RetryAfter, After: NotReadySchedule.Next(nr.since)}
	}
	var ae *APIError
	if errors.As(err, &ae) {
		switch {
		case ae.Status == http.StatusTooManyRequests:
			d := ae.RetryAfter
			if d <= 0 {
				d = DefaultRateLimitRetryAfter
			}
			return Retry{Kind: RetryAfter, After: d}
		case ae.Status >= 500, ae.Status == http.StatusRequestTimeout:
			if ae.RetryAfter > 0 {
				// A maintenance window says when to come back: no
				// sooner, and not within the call.
				return Retry{Kind: RetryAfter, After: ae.RetryAfter}
			}
			return Retry{Kind: RetryNow}
		default:
			return Retry{Kind: Permanent}
		}
	}
	if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrInvalidArgument) || errors.Is(err, ErrNotConfigured) {
		return Retry{Kind: Permanent}
	}
	return Retry{Kind: RetryNow}
}

// maxRetryAfter bounds a Retry-After: a longer one is taken as a day.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date. 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		if !(n > 0) { // also NaN
			return 0
		}
		return time.Duration(min(n, maxRetryAfter.Seconds()) * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return 0
}

// invalid returns an ErrInvalidArgument naming what is wrong (never the
// value).
func invalid(ep Endpoint, what string) error {
	return fmt.Errorf("jumio: %s: %s: %w", ep, what, ErrInvalidArgument)
}

// codeWord reports whether s looks like an error code or request id:
// 1 to 64 ASCII letters, digits, '_' and '-', with no run of letters
// broken by anything but those (no dots, spaces or '@' that names,
// dates and addresses have).
func codeWord(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// opaqueError keeps an error's chain for errors.Is and errors.As, with a
// message of its own: for transport errors whose text quotes what the
// server sent (a malformed status line, a broken response).
type opaqueError struct {
	msg string
	err error
}

func (e *opaqueError) Error() string { return e.msg }
func (e *opaqueError) Unwrap() error { return e.err }
