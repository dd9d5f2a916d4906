package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kycflow/kycflow/internal/httpserver"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
)

// readFunc reads and validates one API's callback from a request whose
// sender passed the checks, reading the body into buf. It returns the
// event to store (which may refer to buf) and the userReference to verify.
type readFunc func(r *http.Request, buf *bytes.Buffer, received time.Time) (ev events.CallbackEvent, userRef string, rj *rejection)

// buffers recycles request bodies and encoded events: a callback is about
// 1 KiB, and every request needs two such buffers.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// headers recycles message header maps; nats.go has written the headers
// out before PublishMsg returns.
var headers = sync.Pool{New: func() any { return make(nats.Header, 12) }}

func getBuffer() *bytes.Buffer { return buffers.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > 256<<10 {
		return // do not keep what an unusually large limit let in
	}
	b.Reset()
	buffers.Put(b)
}

func attrReason(reason string) attribute.KeyValue { return attribute.String("kycflow.reason", reason) }

// callback is the handler of one endpoint: sender checks, read, verify,
// store, answer.
func (s *Service) callback(api events.API, read readFunc) http.Handler {
	apiName := string(api)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		s.metrics.inFlightAdd(1)
		received := time.Now()
		outcome := OutcomeRejected
		defer func() {
			s.metrics.inFlightAdd(-1)
			s.metrics.handled(apiName, outcome, time.Since(received))
		}()

		client := clientAddr(r, s.trusted)
		if ok, wait := s.limiters.allow(client, received); !ok {
			httpserver.RetryAfter(w, wait)
			s.fail(w, r, apiName, reject(http.StatusTooManyRequests, ReasonRateLimited, "Too many requests", "rate limit per client address exceeded"))
			return
		}
		if s.cfg.CheckSourceIP && !s.allowed.contains(client) {
			s.fail(w, r, apiName, reject(http.StatusForbidden, ReasonSourceNotAllowed, "Source not allowed", "the client address is not an allowed callback source"))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		buf := getBuffer()
		defer putBuffer(buf)
		ev, ref, rj := read(r, buf, received)
		if rj != nil {
			s.fail(w, r, apiName, rj)
			return
		}
		if s.cfg.checksUserReference(api) {
			if rj := s.verifyUserReference(ref, received); rj != nil {
				s.fail(w, r, apiName, rj)
				return
			}
		}
		span := trace.SpanFromContext(ctx)
		span.SetAttributes(
			attribute.String("kycflow.event_id", ev.EventID),
			attribute.String("jumio.api", apiName),
			attribute.String("jumio.account_id", ev.AccountID),
			attribute.String("jumio.workflow_execution_id", ev.WorkflowExecutionID),
		)
		if s.nc.Status() != nats.CONNECTED {
			outcome = OutcomeUnavailable
			s.unavailable(w, r, ev, errors.New("nats not connected"))
			return
		}
		dup, err := s.store(ctx, ev)
		if err != nil {
			outcome = OutcomeUnavailable
			s.unavailable(w, r, ev, err)
			return
		}
		outcome = OutcomeAccepted
		msg := "callback stored"
		if dup {
			outcome, msg = OutcomeDuplicate, "callback already stored"
		}
		s.metrics.answered(apiName, outcome)
		s.logger.LogAttrs(ctx, slog.LevelInfo, msg, eventAttrs(ev)...)
		w.Header()[eventIDHeader] = []string{ev.EventID}
		w.WriteHeader(http.StatusOK)
	})
}

func eventAttrs(ev events.CallbackEvent) []slog.Attr {
	return []slog.Attr{
		slog.String("event_id", ev.EventID),
		slog.String("api", string(ev.API)),
		slog.String("account_id", ev.AccountID),
		slog.String("workflow_execution_id", ev.WorkflowExecutionID),
		slog.String("status", ev.Status),
	}
}

// unavailable answers 503 with Retry-After: the callback was not stored
// (or its ack did not arrive in time, in which case Jumio's next attempt
// is de-duplicated).
func (s *Service) unavailable(w http.ResponseWriter, r *http.Request, ev events.CallbackEvent, err error) {
	ctx := r.Context()
	api := string(ev.API)
	s.metrics.answered(api, OutcomeUnavailable)
	s.metrics.rejected.Add(measured, 1, metricAttrs(api, ReasonBrokerUnavailable))
	s.logger.LogAttrs(ctx, slog.LevelWarn, "callback not stored", append(eventAttrs(ev), slog.String("error", err.Error()))...)
	span := trace.SpanFromContext(ctx)
	span.SetStatus(codes.Error, "not stored")
	span.SetAttributes(attrReason(ReasonBrokerUnavailable))
	httpserver.RetryAfter(w, s.cfg.RetryAfter)
	httpserver.Problem(w, r, http.StatusServiceUnavailable, ReasonBrokerUnavailable, "Broker unavailable", "the callback was not stored; send it again")
}

// readBody reads the (size-limited) body into buf.
func readBody(r *http.Request, buf *bytes.Buffer) ([]byte, *rejection) {
	if n := r.ContentLength; n > 0 && n <= 1<<20 {
		buf.Grow(int(n) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(r.Body); err != nil {
		var mbe *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &mbe):
			return nil, reject(http.StatusRequestEntityTooLarge, ReasonBodyTooLarge, "Body too large", "the body exceeds the configured limit")
		case errors.As(err, &ne) && ne.Timeout():
			return nil, reject(http.StatusRequestTimeout, ReasonBodyUnreadable, "Body not read in time", "")
		}
		return nil, reject(http.StatusBadRequest, ReasonBodyUnreadable, "Body unreadable", "")
	}
	return buf.Bytes(), nil
}

// eventIDHeader is the canonical form of events.HeaderEventID, for the
// response header map.
var eventIDHeader = http.CanonicalHeaderKey(events.HeaderEventID)

func mediaType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	switch ct {
	case "":
		return ""
	case "application/json", "application/x-www-form-urlencoded":
		return ct // the usual case, without parsing
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "invalid"
	}
	return mt
}

func invalid(err error) *rejection {
	var ce *jumio.CallbackError
	if errors.As(err, &ce) && ce.Field != "body" {
		return reject(http.StatusUnprocessableEntity, ReasonInvalidCallback, "Invalid callback", "field "+ce.Field+" "+ce.Reason)
	}
	return reject(http.StatusBadRequest, ReasonMalformedBody, "Malformed body", "")
}

// readPlatform reads a Platform callback: application/json, ids present,
// region matching the hrefs.
func (s *Service) readPlatform(r *http.Request, buf *bytes.Buffer, received time.Time) (events.CallbackEvent, string, *rejection) {
	if mediaType(r) != "application/json" {
		return events.CallbackEvent{}, "", reject(http.StatusUnsupportedMediaType, ReasonUnsupportedMediaType, "Unsupported media type", "Platform callbacks are application/json")
	}
	body, rj := readBody(r, buf)
	if rj != nil {
		return events.CallbackEvent{}, "", rj
	}
	cb, err := jumio.ParsePlatformCallback(body)
	if err != nil {
		return events.CallbackEvent{}, "", invalid(err)
	}
	if err := cb.CheckRegion(s.region); err != nil {
		r, _ := cb.Region()
		return events.CallbackEvent{}, "", reject(http.StatusUnprocessableEntity, ReasonRegionMismatch, "Region mismatch",
			"the callback's href names region "+string(r)+", this endpoint is configured for "+string(s.region))
	}
	return cb.Event(s.region, received, body), cb.UserReference, nil
}

// readNetverify reads a Netverify callback: a form body, or a query string
// with an empty body.
func (s *Service) readNetverify(r *http.Request, buf *bytes.Buffer, received time.Time) (events.CallbackEvent, string, *rejection) {
	body, rj := readBody(r, buf)
	if rj != nil {
		return events.CallbackEvent{}, "", rj
	}
	if len(bytes.TrimSpace(body)) > 0 && mediaType(r) != "application/x-www-form-urlencoded" {
		return events.CallbackEvent{}, "", reject(http.StatusUnsupportedMediaType, ReasonUnsupportedMediaType, "Unsupported media type",
			"Netverify callbacks are application/x-www-form-urlencoded, or a query string with an empty body")
	}
	m, raw, err := jumio.ParseNetverifyRequestIDs(body, r.URL.RawQuery)
	if err != nil {
		return events.CallbackEvent{}, "", invalid(err)
	}
	return m.Event(s.region, received, raw), m.UserReference(), nil
}

func (s *Service) verifyUserReference(token string, now time.Time) *rejection {
	_, err := jumio.VerifyUserReference(token, s.refSecrets, s.cfg.UserReferenceMaxAge, now)
	if err == nil {
		return nil
	}
	title := "User reference not accepted"
	switch {
	case errors.Is(err, jumio.ErrUserReferenceMissing):
		return reject(http.StatusForbidden, ReasonUserReferenceMissing, title, "the callback carries no signed userReference")
	case errors.Is(err, jumio.ErrUserReferenceExpired):
		return reject(http.StatusForbidden, ReasonUserReferenceExpired, title, "the signed userReference is outside its validity")
	case errors.Is(err, jumio.ErrUserReferenceSignature):
		return reject(http.StatusForbidden, ReasonUserReferenceInvalid, title, "the userReference signature does not verify")
	}
	return reject(http.StatusForbidden, ReasonUserReferenceMalformed, title, "the userReference is not a signed token")
}

// store publishes ev to JUMIO_CALLBACKS and waits for the ack. It reports
// whether JetStream had the event already (duplicate window). The wait is
// bounded by NATS.PublishTimeout and not cut short by the client leaving,
// so the outcome logged is the outcome stored. The message carries the
// trace context of the request's span.
func (s *Service) store(ctx context.Context, ev events.CallbackEvent) (duplicate bool, err error) {
	buf := getBuffer()
	defer putBuffer(buf)
	// Encoded as encoding/json would with HTML escaping off: Netverify
	// forms are full of '&', which HTML escaping makes six bytes each, for
	// consumers that are not browsers.
	data, err := appendEvent(buf.AvailableBuffer(), ev)
	if err != nil {
		return false, err
	}
	buf.Write(data) // keep the grown slice for the next callback
	h := headers.Get().(nats.Header)
	defer func() {
		clear(h)
		headers.Put(h)
	}()
	msg := &nats.Msg{Subject: ev.Subject(), Data: buf.Bytes(), Header: h}
	// Direct assignment keeps the header names exactly as pkg/events
	// spells them (nats.Header is case-sensitive); the values share one
	// backing array.
	v := []string{
		events.CESpecVersion, ev.EventID, events.TypeCallback, events.SourceIngest,
		ev.ReceivedAt.Format(time.RFC3339Nano), ev.WorkflowExecutionID, events.ContentTypeJSON,
	}
	h[events.HeaderCESpecVersion] = v[0:1:1]
	h[events.HeaderCEID] = v[1:2:2]
	h[events.HeaderCEType] = v[2:3:3]
	h[events.HeaderCESource] = v[3:4:4]
	h[events.HeaderCETime] = v[4:5:5]
	h[events.HeaderCESubject] = v[5:6:6]
	h[events.HeaderContentType] = v[6:7:7]
	h[events.HeaderMsgID] = v[1:2:2]
	h[events.HeaderEventID] = v[1:2:2]
	// A producer span for the publish, child of the request's span; the
	// message carries its context, so the enricher's consumer span is its
	// child. Attributes are set only on a recorded span: without an OTLP
	// endpoint nothing is recorded and the hot path pays for no attributes.
	ctx, span := s.tracer.Start(ctx, "send "+events.SubjectCallbacks, trace.WithSpanKind(trace.SpanKindProducer))
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", msg.Subject),
			attribute.String("messaging.message.id", ev.EventID),
		)
	}
	s.propagator.Inject(ctx, headerCarrier(h))

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.NATS.PublishTimeout)
	defer cancel()
	start := time.Now()
	// nats.go copies the data into its write buffer before PublishMsg
	// returns, so buf can be recycled afterwards. The ack names the
	// stream: anything but JUMIO_CALLBACKS means the subject is bound to
	// a stream it should not be, and the callback is not counted stored.
	ack, err := s.js.PublishMsg(ctx, msg)
	if err == nil && ack.Stream != events.StreamCallbacks {
		err = fmt.Errorf("ingest: stored in stream %s, not %s", ack.Stream, events.StreamCallbacks)
	}
	d := time.Since(start)
	if err != nil {
		span.SetStatus(codes.Error, "publish failed")
		s.metrics.published(string(ev.API), OutcomeUnavailable, d)
		return false, err
	}
	outcome := OutcomeAccepted
	if ack.Duplicate {
		outcome = OutcomeDuplicate
	}
	s.metrics.published(string(ev.API), outcome, d)
	return ack.Duplicate, nil
}

// headerCarrier lets the OpenTelemetry propagator write NATS headers with
// their exact names ("traceparent", not "Traceparent").
type headerCarrier nats.Header

func (c headerCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c headerCarrier) Set(key, value string) { c[key] = []string{value} }

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
