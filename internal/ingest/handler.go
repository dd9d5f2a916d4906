package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kycflow/kycflow/internal/httpserver"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// readFunc reads and validates one API's callback from a request whose
// sender passed the checks, reading the body into buf. It returns the
// event to store (which may refer to buf) and the userReference to verify.
type readFunc func(r *http.Request, buf *bytes.Buffer, received time.Time) (ev events.CallbackEvent, userRef string, rj *rejection)

// buffers recycles request bodies and encoded events: a callback is about
// 1 KiB, and every request needs two such buffers.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

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

		if rj := s.checkSource(clientAddr(r, s.trusted), received, w); rj != nil {
			s.fail(w, r, apiName, rj)
			return
		}
		r.Body = http.MaxBytesReader(unwrap(w), r.Body, s.cfg.MaxBodyBytes)
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
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			span.SetAttributes(
				attribute.String("kycflow.event_id", ev.EventID),
				attribute.String("jumio.api", apiName),
				attribute.String("jumio.account_id", ev.AccountID),
				attribute.String("jumio.workflow_execution_id", ev.WorkflowExecutionID),
			)
		}
		if s.nc.Status() != nats.CONNECTED {
			outcome = OutcomeUnavailable
			s.unavailable(w, r, ev, errors.New("nats not connected"))
			return
		}
		dup, err := s.store(ctx, ev)
		if errors.Is(err, nats.ErrMaxPayload) {
			// It can never be stored: asking Jumio to send it again
			// (503) would not help.
			s.fail(w, r, apiName, reject(http.StatusRequestEntityTooLarge, ReasonBodyTooLarge, "Body too large", "the callback is too large to store"))
			return
		}
		if err != nil {
			outcome = OutcomeUnavailable
			s.unavailable(w, r, ev, err)
			return
		}
		outcome = OutcomeAccepted
		msg := "callback stored"
		if dup {
			outcome, msg = OutcomeDuplicate, "callback already stored"
		} else {
			s.noteOtherRegion(ctx, ev)
		}
		s.metrics.answered(apiName, outcome)
		// A stored callback is counted (kycflow_ingest_callbacks_total)
		// and its result shows in "kycflow tail"; its line is detail, at
		// DEBUG. At INFO a busy day's log keeps what needs a look
		// (rejections, 503s) and stays cheap: the line cost ingest about
		// 3% of its throughput at saturation (kycflow bench ingest).
		s.logEvent(ctx, slog.LevelDebug, msg, ev)
		w.Header()[eventIDHeader] = []string{ev.EventID}
		w.WriteHeader(http.StatusOK)
	})
}

// checkSource checks the client address: against the allowed sources
// when that check is on, and against the per-address rate limit unless it
// is an allowed source. Jumio sends from a handful of addresses per region
// and does not document how it retries a callback answered 429, so its
// addresses are never rate limited: a burst of genuine callbacks must not
// be turned away. The limit keeps everyone else, with the source check on
// or off, from costing more than a 429.
func (s *Service) checkSource(client netip.Addr, now time.Time, w http.ResponseWriter) *rejection {
	if s.allowed.contains(client) {
		return nil
	}
	if ok, wait := s.limiters.allow(client, now); !ok {
		httpserver.RetryAfter(w, wait)
		return reject(http.StatusTooManyRequests, ReasonRateLimited, "Too many requests", "rate limit per client address exceeded")
	}
	if s.cfg.CheckSourceIP {
		return reject(http.StatusForbidden, ReasonSourceNotAllowed, "Source not allowed", "the client address is not an allowed callback source")
	}
	return nil
}

// logEvent writes one log record about ev: its ids and status, never its
// content. It goes to the handler directly, without the caller's program
// counter that slog.Logger looks up for every record (ingest logs no
// source locations), which is most of what a record costs.
func (s *Service) logEvent(ctx context.Context, level slog.Level, msg string, ev events.CallbackEvent, extra ...slog.Attr) {
	h := s.logger.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	r := slog.NewRecord(time.Now(), level, msg, 0)
	r.AddAttrs(
		slog.String("event_id", ev.EventID),
		slog.String("api", string(ev.API)),
		slog.String("account_id", ev.AccountID),
		slog.String("workflow_execution_id", ev.WorkflowExecutionID),
		slog.String("status", ev.Status),
	)
	r.AddAttrs(extra...)
	_ = h.Handle(ctx, r)
}

// unavailable answers 503 with Retry-After: the callback was not stored
// (or its ack did not arrive in time, in which case Jumio's next attempt
// is de-duplicated).
func (s *Service) unavailable(w http.ResponseWriter, r *http.Request, ev events.CallbackEvent, err error) {
	ctx := r.Context()
	api := string(ev.API)
	s.metrics.answered(api, OutcomeUnavailable)
	s.metrics.rejected.Add(measured, 1, s.metrics.labelsOf(api, "reason", ReasonBrokerUnavailable).add...)
	s.logEvent(ctx, slog.LevelWarn, "callback not stored", ev, slog.String("error", err.Error()))
	span := trace.SpanFromContext(ctx)
	span.SetStatus(codes.Error, "not stored")
	span.SetAttributes(attrReason(ReasonBrokerUnavailable))
	httpserver.RetryAfter(w, s.cfg.RetryAfter)
	problem(w, r, http.StatusServiceUnavailable, ReasonBrokerUnavailable, "Broker unavailable", "the callback was not stored; send it again")
}

// readBody reads the body, which r.Body limits to limit bytes
// (http.MaxBytesReader), into buf's memory. The memory never grows past
// limit, whatever Content-Length says: it starts at Content-Length (4 KiB
// without one), at most limit, doubles while the body goes on, at most to
// limit, and whether more follows a full buffer is asked with a one-byte
// read. A body that fits exactly costs one allocation at most (none when
// buf was used before).
func readBody(r *http.Request, buf *bytes.Buffer, limit int64) ([]byte, *rejection) {
	size := int64(4 << 10)
	if n := r.ContentLength; n > 0 {
		size = n
	}
	size = max(min(size, limit), 1)
	b := buf.AvailableBuffer()
	if int64(cap(b)) > limit {
		b = b[:0:limit]
	}
	if int64(cap(b)) < size {
		b = make([]byte, 0, size)
	}
	for {
		if len(b) == cap(b) {
			var probe [1]byte
			n, err := io.ReadFull(r.Body, probe[:])
			if n == 0 {
				if err == io.EOF {
					break
				}
				return nil, bodyError(err)
			}
			if int64(len(b)) >= limit { // MaxBytesReader fails first
				return nil, bodyError(&http.MaxBytesError{Limit: limit})
			}
			nb := make([]byte, len(b), min(2*int64(cap(b)), limit))
			copy(nb, b)
			b = append(nb, probe[0])
			continue
		}
		n, err := r.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, bodyError(err)
		}
	}
	// buf keeps the memory for the next request (see putBuffer).
	*buf = *bytes.NewBuffer(b)
	return b, nil
}

// bodyError is the rejection of a body that could not be read.
func bodyError(err error) *rejection {
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		return reject(http.StatusRequestEntityTooLarge, ReasonBodyTooLarge, "Body too large", "the body exceeds the configured limit")
	case errors.As(err, &ne) && ne.Timeout():
		return reject(http.StatusRequestTimeout, ReasonBodyUnreadable, "Body not read in time", "")
	}
	return reject(http.StatusBadRequest, ReasonBodyUnreadable, "Body unreadable", "")
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
	var ce *wire.CallbackError
	if errors.As(err, &ce) && errors.Is(err, wire.ErrInvalidUTF8) {
		// The field name is checked to be a plain word by pkg/jumio/wire.
		return reject(http.StatusUnprocessableEntity, ReasonInvalidUTF8, "Invalid UTF-8", "field "+ce.Field+" is not valid UTF-8 text")
	}
	if errors.As(err, &ce) && ce.Field != "body" {
		return reject(http.StatusUnprocessableEntity, ReasonInvalidCallback, "Invalid callback", "field "+ce.Field+" "+ce.Reason)
	}
	return reject(http.StatusBadRequest, ReasonMalformedBody, "Malformed body", "")
}

// readPlatform reads a Platform callback: application/json, ids present.
//
// A callback whose href names another region than the configured one is
// stored all the same, with the region it names: a wrong
// KYCFLOW_JUMIO_REGION must not turn away every genuine callback (Jumio's
// retries would run out). The enricher dead-letters it
// (wire.ErrRegionMismatch, it has no client for that region); once the
// configuration is fixed the dead letters are redriven. Ingest logs a
// warning and counts it (kycflow_ingest_region_mismatches_total).
func (s *Service) readPlatform(r *http.Request, buf *bytes.Buffer, received time.Time) (events.CallbackEvent, string, *rejection) {
	if mediaType(r) != "application/json" {
		return events.CallbackEvent{}, "", reject(http.StatusUnsupportedMediaType, ReasonUnsupportedMediaType, "Unsupported media type", "Platform callbacks are application/json")
	}
	body, rj := readBody(r, buf, s.cfg.MaxBodyBytes)
	if rj != nil {
		return events.CallbackEvent{}, "", rj
	}
	if err := wire.CheckQuery(r.URL.RawQuery); err != nil {
		// Platform callbacks carry no query string; one that is not
		// even valid text is no callback of Jumio's.
		return events.CallbackEvent{}, "", invalid(err)
	}
	cb, err := wire.ParsePlatformCallback(body)
	if err != nil {
		return events.CallbackEvent{}, "", invalid(err)
	}
	return cb.Event(otherRegion(cb, s.region), received, body), cb.UserReference, nil
}

// noteOtherRegion counts and logs a stored callback whose hrefs name
// another region than the configured one (see readPlatform). Only a
// callback that passed the sender checks and was stored counts: another
// tenant's callbacks, sent to this URL and refused, say nothing of this
// configuration.
func (s *Service) noteOtherRegion(ctx context.Context, ev events.CallbackEvent) {
	if ev.API != events.APIPlatform || ev.Region == "" || wire.Region(ev.Region) == s.region {
		return
	}
	s.metrics.regionMismatch(string(events.APIPlatform))
	s.logEvent(ctx, slog.LevelWarn, "callback names another region", ev,
		slog.String("region", ev.Region), slog.String("configured_region", string(s.region)))
}

// otherRegion returns the first region named by the callback's hrefs that
// is not the configured one, or the configured region when the hrefs name
// no other (or none).
func otherRegion(cb *wire.Callback, configured wire.Region) wire.Region {
	for _, h := range [...]string{cb.WorkflowExecution.Href, cb.Account.Href} {
		if r, ok := wire.RegionFromHref(h); ok && r != configured {
			return r
		}
	}
	return configured
}

// readNetverify reads a Netverify callback: a form body, or a query string
// with an empty body.
func (s *Service) readNetverify(r *http.Request, buf *bytes.Buffer, received time.Time) (events.CallbackEvent, string, *rejection) {
	body, rj := readBody(r, buf, s.cfg.MaxBodyBytes)
	if rj != nil {
		return events.CallbackEvent{}, "", rj
	}
	if len(bytes.TrimSpace(body)) > 0 && mediaType(r) != "application/x-www-form-urlencoded" {
		return events.CallbackEvent{}, "", reject(http.StatusUnsupportedMediaType, ReasonUnsupportedMediaType, "Unsupported media type",
			"Netverify callbacks are application/x-www-form-urlencoded, or a query string with an empty body")
	}
	m, raw, err := wire.ParseNetverifyRequestIDs(body, r.URL.RawQuery)
	if err != nil {
		return events.CallbackEvent{}, "", invalid(err)
	}
	return m.Event(s.region, received, raw), m.UserReference(), nil
}

func (s *Service) verifyUserReference(token string, now time.Time) *rejection {
	_, err := wire.VerifyUserReference(token, s.refSecrets, s.cfg.UserReferenceMaxAge, now)
	if err == nil {
		return nil
	}
	title := "User reference not accepted"
	switch {
	case errors.Is(err, wire.ErrUserReferenceMissing):
		return reject(http.StatusForbidden, ReasonUserReferenceMissing, title, "the callback carries no signed userReference")
	case errors.Is(err, wire.ErrUserReferenceExpired):
		return reject(http.StatusForbidden, ReasonUserReferenceExpired, title, "the signed userReference is outside its validity")
	case errors.Is(err, wire.ErrUserReferenceSignature):
		return reject(http.StatusForbidden, ReasonUserReferenceInvalid, title, "the userReference signature does not verify")
	}
	return reject(http.StatusForbidden, ReasonUserReferenceMalformed, title, "the userReference is not a signed token")
}

// publication holds what publishing one callback needs besides its body,
// recycled through publications: the message, its header map and the
// backing array of the header values. nats.go has written the message out
// before PublishMsg returns, so none of it is referred to afterwards.
type publication struct {
	msg  nats.Msg
	vals [12]string
	n    int
	buf  bytes.Buffer
}

var publications = sync.Pool{New: func() any { return &publication{msg: nats.Msg{Header: make(nats.Header, 12)}} }}

// set sets header name to value. Direct assignment keeps the name exactly
// as given (nats.Header is case-sensitive, and pkg/events spells the
// names); the values share one backing array.
func (p *publication) set(name, value string) {
	if p.n == len(p.vals) {
		p.msg.Header[name] = []string{value}
		return
	}
	p.vals[p.n] = value
	p.msg.Header[name] = p.vals[p.n : p.n+1 : p.n+1]
	p.n++
}

func (p *publication) release() {
	clear(p.msg.Header)
	clear(p.vals[:p.n])
	p.n = 0
	p.msg.Subject, p.msg.Data = "", nil
	if p.buf.Cap() > 256<<10 {
		p.buf = bytes.Buffer{}
	}
	p.buf.Reset()
	publications.Put(p)
}

// carrier lets the OpenTelemetry propagator write the message's headers
// with their exact names ("traceparent", not "Traceparent").
type carrier struct{ p *publication }

func (c carrier) Get(key string) string {
	if v := c.p.msg.Header[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c carrier) Set(key, value string) { c.p.set(key, value) }

func (c carrier) Keys() []string {
	keys := make([]string, 0, len(c.p.msg.Header))
	for k := range c.p.msg.Header {
		keys = append(keys, k)
	}
	return keys
}

// store publishes ev to JUMIO_CALLBACKS and waits for the ack. It reports
// whether JetStream had the event already (duplicate window). The wait is
// bounded by NATS.PublishTimeout and not cut short by the client leaving,
// so the outcome logged is the outcome stored. The message carries the
// trace context: of a producer span for the publish when the request's
// span is recorded, else of the request's span (a span that is not
// recorded has no child worth starting).
func (s *Service) store(ctx context.Context, ev events.CallbackEvent) (duplicate bool, err error) {
	p := publications.Get().(*publication)
	defer p.release()
	// Encoded as encoding/json would with HTML escaping off: Netverify
	// forms are full of '&', which HTML escaping makes six bytes each, for
	// consumers that are not browsers.
	data, err := appendEvent(p.buf.AvailableBuffer(), ev)
	if err != nil {
		return false, err
	}
	p.buf.Write(data) // keep the grown slice for the next callback
	msg := &p.msg
	msg.Subject, msg.Data = ev.Subject(), p.buf.Bytes()
	p.set(events.HeaderCESpecVersion, events.CESpecVersion)
	p.set(events.HeaderCEID, ev.EventID)
	p.set(events.HeaderCEType, events.TypeCallback)
	p.set(events.HeaderCESource, events.SourceIngest)
	p.set(events.HeaderCETime, ev.ReceivedAt.Format(time.RFC3339Nano))
	p.set(events.HeaderCESubject, ev.WorkflowExecutionID)
	p.set(events.HeaderContentType, events.ContentTypeJSON)
	p.set(events.HeaderMsgID, ev.EventID)
	p.set(events.HeaderEventID, ev.EventID)

	var span trace.Span
	if trace.SpanFromContext(ctx).IsRecording() {
		// A producer span for the publish, child of the request's span;
		// the message carries its context, so the enricher's consumer
		// span is its child.
		ctx, span = s.tracer.Start(ctx, "send "+events.SubjectCallbacks, s.producerOpts...)
		defer span.End()
		span.SetAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", msg.Subject),
			attribute.String("messaging.message.id", ev.EventID),
		)
	}
	s.propagator.Inject(ctx, carrier{p})

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.NATS.PublishTimeout)
	defer cancel()
	start := time.Now()
	// The ack names the stream: anything but JUMIO_CALLBACKS means the
	// subject is bound to a stream it should not be, and the callback is
	// not counted stored.
	ack, err := s.js.PublishMsg(ctx, msg)
	if err == nil && ack.Stream != events.StreamCallbacks {
		err = fmt.Errorf("ingest: stored in stream %s, not %s", ack.Stream, events.StreamCallbacks)
	}
	d := time.Since(start)
	if err != nil {
		if span != nil {
			span.SetStatus(codes.Error, "publish failed")
		}
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
