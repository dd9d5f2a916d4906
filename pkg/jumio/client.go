package jumio

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
)

// Client calls Jumio's Retrieval (Platform and Netverify) and Account APIs.
// It is safe for concurrent use, and meant to be shared: one Client holds
// one OAuth2 token for all its goroutines and one request-rate limiter for
// the tenant's budget.
//
// Every call waits for the rate limiter, sends the User-Agent, and, for
// the Platform APIs, a bearer token (refreshed ahead of expiry; a 401
// invalidates it and the call is repeated once with a fresh one). Transient
// failures (5xx, timeouts, connection errors, a malformed 2xx body) are
// retried within the call up to Config.MaxAttempts with exponential
// back-off and jitter, bounded by ctx. A 429 pauses and slows every caller
// of the Client and is returned at once, so the caller can schedule the
// work later instead of holding a worker. Errors are *APIError or wrap one
// of this package's sentinels; Classify says whether to retry.
type Client struct {
	cfg       Config
	http      *http.Client
	transport http.RoundTripper
	tokens    *tokens
	retrieval *limiter
	account   *limiter
	api       *limiter
	health    *limiter
	token     *limiter
	metrics   *clientMetrics
}

// NewClient returns a Client for cfg (defaults applied, then validated).
// No request is made until the first call.
func NewClient(cfg Config, opts ...Option) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Keep the connections the workers use at the rate limit: with
		// net/http's default of 2 idle connections per host, every
		// request beyond two in flight opens (and, with TLS, handshakes)
		// a connection of its own, and live requests pay for it while
		// bulk lanes keep the budget busy.
		t.MaxIdleConnsPerHost = 64
		o.transport = t
	}
	if o.tracerProvider == nil {
		o.tracerProvider = otel.GetTracerProvider()
	}
	if o.meterProvider == nil {
		o.meterProvider = otel.GetMeterProvider()
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		cfg:       cfg,
		transport: o.transport,
		retrieval: newLimiter(cfg.RateLimit, cfg.RateBurst, cfg.RateLimitCooldown),
		account:   newLimiter(cfg.AccountRateLimit, max(1, int(cfg.AccountRateLimit)), cfg.RateLimitCooldown),
		api:       newLimiter(cfg.APIRateLimit, max(1, int(cfg.APIRateLimit)), cfg.RateLimitCooldown),
		health:    newLimiter(1, 1, cfg.RateLimitCooldown),
		token:     newLimiter(cfg.TokenRateLimit, 1, cfg.RateLimitCooldown),
	}
	for _, n := range c.limiters() {
		n.lim.lanes.configure(n.lim.lim.Burst(), cfg.BulkBurst, cfg.LaneWeights)
	}
	for _, n := range c.limiters() {
		name, l := n.name, n.lim
		l.maxPause = cfg.MaxRetryAfter
		l.onLong = func(d time.Duration) {
			o.logger.Error("jumio rate limit: every request paused", "limiter", name,
				"retry_after", d, "max_retry_after", cfg.MaxRetryAfter)
		}
	}
	m, err := newClientMetrics(o.meterProvider, c)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	traced := otelhttp.NewTransport(o.transport,
		otelhttp.WithTracerProvider(o.tracerProvider),
		// The client's own metrics (kycflow_jumio_requests,
		// _request_duration) count every request by endpoint and
		// status; otelhttp's generic http.client ones repeated them at
		// the cost of an attribute set per request (about 4% of the
		// enricher's CPU under "kycflow bench e2e").
		otelhttp.WithMeterProvider(noop.NewMeterProvider()),
		// Trace context stays inside kycflow: Jumio gets no traceparent.
		otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			return "jumio " + string(endpointFrom(r.Context()))
		}),
	)
	c.http = &http.Client{
		// Each attempt is bounded by its context (Config.Timeout); so is
		// a request made without one.
		Timeout:   cfg.Timeout,
		Transport: traced,
		// Jumio does not redirect; a redirect is answered as an error
		// instead of carrying credentials elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if cfg.ClientID != "" {
		c.tokens = newTokens(cfg, &http.Client{
			Timeout:       cfg.Timeout,
			Transport:     &tokenTransport{c: c, next: traced},
			CheckRedirect: c.http.CheckRedirect,
		})
	}
	return c, nil
}

// Config returns the client's configuration, defaults applied.
func (c *Client) Config() Config { return c.cfg }

// RateState returns the state of the Retrieval API rate limiter.
func (c *Client) RateState() RateState { return c.retrieval.State() }

// CloseIdleConnections closes the transport's idle connections, if it has
// such a method.
func (c *Client) CloseIdleConnections() {
	if ci, ok := c.transport.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

type authKind int

const (
	authPlatform authKind = iota
	authNetverify
	// authNone: Jumio's status endpoint, which takes no credentials.
	authNone
)

// call describes one API operation.
type call struct {
	ep     Endpoint
	method string
	base   string
	path   string
	auth   authKind
	accept string
	body   []byte
	lim    *limiter
	// also, when set, is a second limiter the call waits for first (a
	// request Jumio counts against two budgets).
	also *limiter
	// once disables in-call retries (non-idempotent calls).
	once bool
	// contentType of body; default application/json.
	contentType string
	// token, when set, is sent as the bearer instead of the OAuth2 token:
	// the transaction token of an API-channel call. A 401 answered to it
	// is final (the transaction token expired), not a reason to refresh.
	token string
}

type endpointKey struct{}

func withEndpoint(ctx context.Context, ep Endpoint) context.Context {
	return context.WithValue(ctx, endpointKey{}, ep)
}

func endpointFrom(ctx context.Context) Endpoint {
	if ep, ok := ctx.Value(endpointKey{}).(Endpoint); ok {
		return ep
	}
	return "request"
}

// run performs a call: attempts with in-call retries for transient
// failures; handle receives a 2xx response and must close its body and
// call done when finished with it.
func (c *Client) run(ctx context.Context, cl call, handle func(resp *http.Response, done func()) error) error {
	ctx = withEndpoint(ctx, cl.ep)
	attempts := c.cfg.MaxAttempts
	if cl.once {
		attempts = 1
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = c.cfg.RetryInitialInterval
	b.MaxInterval = c.cfg.RetryMaxInterval
	b.MaxElapsedTime = 0
	policy := backoff.WithMaxRetries(b, uint64(attempts-1))
	policy.Reset()
	for {
		err := c.attempt(ctx, cl, handle)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || Classify(err).Kind != RetryNow {
			return err
		}
		d := policy.NextBackOff()
		if d == backoff.Stop {
			return err
		}
		c.metrics.retry(ctx, cl.ep)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// attempt sends the request once, and once more after a 401 answered to a
// bearer token.
func (c *Client) attempt(ctx context.Context, cl call, handle func(*http.Response, func()) error) error {
	refreshed := false
	for {
		if cl.also != nil {
			if err := cl.also.Wait(ctx); err != nil {
				return fmt.Errorf("jumio: %s: %w", cl.ep, err)
			}
		}
		if err := cl.lim.Wait(ctx); err != nil {
			return fmt.Errorf("jumio: %s: %w", cl.ep, err)
		}
		actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		var body io.Reader
		if cl.body != nil {
			body = bytes.NewReader(cl.body)
		}
		req, err := http.NewRequestWithContext(actx, cl.method, cl.base+cl.path, body)
		if err != nil {
			cancel()
			return fmt.Errorf("jumio: %s: build request: %w", cl.ep, ErrInvalidArgument)
		}
		req.Header.Set("User-Agent", c.cfg.UserAgent)
		req.Header.Set("Accept", cl.accept)
		if cl.body != nil {
			req.Header.Set("Content-Type", cmp.Or(cl.contentType, "application/json"))
		}
		bearer, err := c.authorize(actx, req, cl)
		if err != nil {
			cancel()
			return err
		}
		start := time.Now()
		resp, err := c.http.Do(req)
		if err != nil {
			cancel()
			c.metrics.request(ctx, cl.ep, "error", time.Since(start))
			return transportError(cl.ep, err)
		}
		c.metrics.request(ctx, cl.ep, strconv.Itoa(resp.StatusCode), time.Since(start))
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return handle(resp, cancel)
		}
		ae := c.apiError(cl.ep, resp)
		cancel()
		switch {
		case resp.StatusCode == http.StatusUnauthorized && bearer != "" && !refreshed:
			c.tokens.Invalidate(bearer)
			refreshed = true
			continue
		case resp.StatusCode == http.StatusTooManyRequests:
			cl.lim.Throttled(ae.RetryAfter)
			if cl.also != nil {
				cl.also.Throttled(ae.RetryAfter)
			}
		}
		return ae
	}
}

// authorize sets the Authorization header and returns the bearer token
// used, if any.
func (c *Client) authorize(ctx context.Context, req *http.Request, cl call) (string, error) {
	switch {
	case cl.token != "":
		req.Header.Set("Authorization", "Bearer "+cl.token)
		return "", nil
	case cl.auth == authNone:
		return "", nil
	case cl.auth == authNetverify:
		if c.cfg.NetverifyAPIToken == "" {
			return "", fmt.Errorf("jumio: %s: Netverify API token: %w", cl.ep, ErrNotConfigured)
		}
		req.SetBasicAuth(c.cfg.NetverifyAPIToken, c.cfg.NetverifyAPISecret)
		return "", nil
	case c.tokens != nil:
		tok, err := c.tokens.Token(ctx)
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		return tok.AccessToken, nil
	case c.cfg.PlatformAPIToken != "":
		req.SetBasicAuth(c.cfg.PlatformAPIToken, c.cfg.PlatformAPISecret)
		return "", nil
	}
	return "", fmt.Errorf("jumio: %s: OAuth2 client: %w", cl.ep, ErrNotConfigured)
}

// transportError drops the URL from a *url.Error (the operation and the
// cause stay, so timeouts still match context.DeadlineExceeded).
//
// Its text never quotes the response: net/http's errors about a response
// it could not read ("malformed HTTP status code …") quote the server's
// bytes, which could be anything; they read "the response could not be
// read" and keep their chain. Timeouts, cancellations, connection errors
// and a cut-off body say what happened without quoting.
func transportError(ep Endpoint, err error) error {
	op := ""
	var ue *url.Error
	if errors.As(err, &ue) {
		op, err = ue.Op+": ", ue.Err
	}
	var ne *net.OpError
	var te interface{ Timeout() bool }
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &te) && te.Timeout(), errors.As(err, &ne),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
	default:
		err = &opaqueError{msg: "the response could not be read", err: err}
	}
	return fmt.Errorf("jumio: %s: %s%w", ep, op, err)
}

// maxErrorBody caps how much of an error response is read.
const maxErrorBody = 64 << 10

func (c *Client) apiError(ep Endpoint, resp *http.Response) *APIError {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	ae := &APIError{
		Endpoint:   ep,
		Status:     resp.StatusCode,
		RequestID:  requestID(resp.Header),
		RetryAfter: min(parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), c.cfg.MaxRetryAfter),
	}
	fillErrorBody(ae, b)
	return ae
}

// fillErrorBody reads the error body shapes seen from Jumio.
func fillErrorBody(ae *APIError, b []byte) {
	var body struct {
		Title            string      `json:"title"`
		Detail           string      `json:"detail"`
		Message          string      `json:"message"`
		ErrorMessage     string      `json:"errorMessage"`
		ErrorCode        wire.String `json:"errorCode"`
		Code             wire.String `json:"code"`
		Error            string      `json:"error"`
		ErrorDescription string      `json:"error_description"`
	}
	if json.Unmarshal(b, &body) != nil {
		return
	}
	ae.Title = body.Title
	ae.Detail = firstNonEmpty(body.Detail, body.Message, body.ErrorMessage, body.ErrorDescription)
	ae.Code = firstNonEmpty(string(body.ErrorCode), string(body.Code), body.Error)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// requestID returns the request id of a response, from the headers Jumio's
// and common gateways' responses carry.
func requestID(h http.Header) string {
	for _, k := range []string{"X-Request-Id", "X-Jumio-Request-Id", "X-Correlation-Id", "X-Amzn-Requestid", "X-Amz-Cf-Id"} {
		if v := h.Get(k); v != "" {
			if len(v) > 128 {
				v = v[:128]
			}
			return v
		}
	}
	return ""
}

// getJSON performs a call and decodes its JSON body into v; it returns the
// body as received.
func (c *Client) getJSON(ctx context.Context, cl call, v any) ([]byte, error) {
	var raw []byte
	err := c.run(ctx, cl, func(resp *http.Response, done func()) error {
		defer done()
		defer resp.Body.Close()
		b, err := readCapped(resp.Body, c.cfg.MaxResponseBytes)
		switch {
		case errors.Is(err, ErrTooLarge):
			return fmt.Errorf("jumio: %s: read body: %w", cl.ep, err)
		case err != nil:
			// A body that breaks off mid-way, or whose chunked framing
			// is malformed: net/http's error may quote the response
			// (a trailer line), which is personal data.
			return transportError(cl.ep, err)
		}
		if v != nil {
			if err := json.Unmarshal(b, v); err != nil {
				return fmt.Errorf("jumio: %s: %w", cl.ep, ErrMalformedResponse)
			}
		}
		raw = b
		return nil
	})
	return raw, err
}

// readCapped reads all of r, failing with ErrTooLarge past limit bytes.
func readCapped(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, ErrTooLarge
	}
	return b, nil
}

// tokenTransport is the token client's transport: it names the endpoint
// for spans, sets the User-Agent, waits for the token rate limiter, counts
// requests, and slows down after a 429.
type tokenTransport struct {
	c    *Client
	next http.RoundTripper
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := withEndpoint(req.Context(), EndpointToken)
	if err := t.c.token.Wait(ctx); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	r := req.Clone(ctx)
	r.Header.Set("User-Agent", t.c.cfg.UserAgent)
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		t.c.metrics.request(ctx, EndpointToken, "error", time.Since(start))
		return nil, err
	}
	t.c.metrics.request(ctx, EndpointToken, strconv.Itoa(resp.StatusCode), time.Since(start))
	if resp.StatusCode == http.StatusTooManyRequests {
		t.c.token.Throttled(parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()))
	}
	return resp, nil
}

// CheckCredentials fetches (or reuses) the OAuth2 token when the client
// has OAuth2 credentials, and otherwise does nothing; it reports a refused
// client as ErrUnauthorized. For start-up checks and operator commands.
func (c *Client) CheckCredentials(ctx context.Context) error {
	if c.tokens == nil {
		return nil
	}
	_, err := c.tokens.Token(withEndpoint(ctx, EndpointToken))
	return err
}
