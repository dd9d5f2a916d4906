package jumio

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kycflow/kycflow/pkg/jumio/wire"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// DefaultUserAgent is sent when Config.UserAgent is empty. Jumio requires a
// User-Agent naming the company and the application ("YourCompany
// YourApp/v1.0"); operators should set their own.
const DefaultUserAgent = "kycflow/1.0"

// Config configures a Client. It holds credentials: it prints, and logs,
// without them.
type Config struct {
	// Region is the Jumio data center; default amer-1.
	Region wire.Region
	// Hosts overrides the region's base URLs field by field (for jumiotest,
	// a proxy, or a pre-production tenant); empty fields take the region's.
	// Each must be https, or plain http to a loopback host (a simulator on
	// this machine): see CheckBaseURL.
	Hosts wire.Hosts
	// AllowHTTP admits plain http base URLs on any host: a simulator
	// reached over a container network (docker compose, the dev overlay).
	// Credentials and personal data then cross that network unencrypted;
	// never set it with a real Jumio tenant.
	AllowHTTP bool

	// ClientID and ClientSecret are the OAuth2 client credentials for the
	// Platform APIs (Portal: Settings > API credentials > OAuth2 Clients).
	ClientID     string
	ClientSecret string
	// PlatformAPIToken and PlatformAPISecret are HTTP Basic credentials for
	// the Platform APIs, deprecated by Jumio; used only when ClientID is
	// empty.
	PlatformAPIToken  string
	PlatformAPISecret string
	// NetverifyAPIToken and NetverifyAPISecret are HTTP Basic credentials
	// for the Netverify v2 Retrieval API.
	NetverifyAPIToken  string
	NetverifyAPISecret string

	// UserAgent is sent with every request; Jumio answers 403 without one.
	// Name the company and the application; default DefaultUserAgent.
	UserAgent string
	// Timeout bounds one attempt of one request, including reading the
	// body (the whole download for CredentialPart and NetverifyImage);
	// default 30s.
	Timeout time.Duration
	// MaxAttempts is how many times one call tries a transient failure
	// (5xx, timeout, connection error, malformed 2xx body) before
	// returning it; default 3. Account calls, which are not idempotent,
	// are tried once. A 401 retry with a fresh token is not counted.
	MaxAttempts int
	// RetryInitialInterval and RetryMaxInterval shape the exponential
	// back-off with jitter between those attempts; defaults 200ms and 2s.
	RetryInitialInterval time.Duration
	RetryMaxInterval     time.Duration

	// RateLimit is the request rate, in requests per second, shared by every
	// goroutine of the Client for the Retrieval APIs (Platform and
	// Netverify); default 15, Jumio's default tenant budget.
	RateLimit float64
	// RateBurst is the number of requests that may start at once; default 5.
	// Keep it below the tenant's burst allowance.
	RateBurst int
	// RateLimitCooldown is how long the rate stays halved after a 429
	// before it doubles back, step by step, to RateLimit; default 30s.
	RateLimitCooldown time.Duration
	// BulkBurst is how many requests of RateBurst the bulk lanes
	// (reconcile, replay, migrate) may use; the rest of the burst is kept
	// for live requests, which therefore seldom wait while bulk work keeps
	// the budget busy. Default 1 (DefaultBulkBurst); at most RateBurst.
	// See Lane.
	BulkBurst int
	// LaneWeights share what live requests leave of the budget between
	// the bulk lanes; lanes missing from it weigh 1. Default
	// DefaultLaneWeights.
	LaneWeights map[Lane]int
	// TokenRateLimit is the OAuth2 token request rate; default 10, Jumio's
	// limit.
	TokenRateLimit float64
	// AccountRateLimit is the Account API request rate; default 1, Jumio's
	// default tenant limit for initiating transactions.
	AccountRateLimit float64
	// APIRateLimit is the request rate of the API channel (part uploads
	// and finalization on the api host); default 5. Jumio documents no
	// limit for it.
	APIRateLimit float64
	// MaxRetryAfter caps the Retry-After of a 429: every caller of the
	// client pauses that long at most, and the APIError says no more
	// (a Retry-After of a day would stop all work for a day); default 5m.
	// A pause longer than LongPause is logged at ERROR (WithLogger) and
	// counted.
	MaxRetryAfter time.Duration
	// TokenRefreshAhead is how long before its expiry a token is replaced;
	// default 5m (at most half the token's lifetime is used).
	TokenRefreshAhead time.Duration

	// MaxImageBytes caps a credential part or Netverify image; default 10
	// MiB (Jumio documents images of at most 5 MB).
	MaxImageBytes int64
	// MaxResponseBytes caps a JSON response body; default 16 MiB.
	MaxResponseBytes int64
}

// Defaults.
const (
	DefaultTimeout           = 30 * time.Second
	DefaultMaxAttempts       = 3
	DefaultRateLimit         = 15.0
	DefaultRateBurst         = 5
	DefaultRateLimitCooldown = 30 * time.Second
	DefaultTokenRateLimit    = 10.0
	DefaultAccountRateLimit  = 1.0
	DefaultAPIRateLimit      = 5.0
	DefaultTokenRefreshAhead = 5 * time.Minute
	DefaultMaxRetryAfter     = 5 * time.Minute
	DefaultMaxImageBytes     = 10 << 20
	DefaultMaxResponseBytes  = 16 << 20
)

func (c *Config) setDefaults() {
	if c.Region == "" {
		c.Region = wire.RegionAMER
	}
	def := wire.RegionHosts(c.Region)
	for _, f := range []struct {
		v *string
		d string
	}{
		{&c.Hosts.Auth, def.Auth}, {&c.Hosts.Account, def.Account}, {&c.Hosts.API, def.API},
		{&c.Hosts.Retrieval, def.Retrieval}, {&c.Hosts.Netverify, def.Netverify}, {&c.Hosts.Status, def.Status},
	} {
		*f.v = strings.TrimRight(strings.TrimSpace(*f.v), "/")
		if *f.v == "" {
			*f.v = f.d
		}
	}
	if strings.TrimSpace(c.UserAgent) == "" {
		c.UserAgent = DefaultUserAgent
	}
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, DefaultMaxAttempts)
	c.RetryInitialInterval = cmp.Or(c.RetryInitialInterval, 200*time.Millisecond)
	c.RetryMaxInterval = cmp.Or(c.RetryMaxInterval, 2*time.Second)
	c.RateLimit = cmp.Or(c.RateLimit, DefaultRateLimit)
	c.RateBurst = cmp.Or(c.RateBurst, DefaultRateBurst)
	c.RateLimitCooldown = cmp.Or(c.RateLimitCooldown, DefaultRateLimitCooldown)
	c.BulkBurst = cmp.Or(c.BulkBurst, DefaultBulkBurst)
	if c.LaneWeights == nil {
		c.LaneWeights = DefaultLaneWeights
	}
	c.TokenRateLimit = cmp.Or(c.TokenRateLimit, DefaultTokenRateLimit)
	c.AccountRateLimit = cmp.Or(c.AccountRateLimit, DefaultAccountRateLimit)
	c.APIRateLimit = cmp.Or(c.APIRateLimit, DefaultAPIRateLimit)
	c.TokenRefreshAhead = cmp.Or(c.TokenRefreshAhead, DefaultTokenRefreshAhead)
	c.MaxRetryAfter = cmp.Or(c.MaxRetryAfter, DefaultMaxRetryAfter)
	c.MaxImageBytes = cmp.Or(c.MaxImageBytes, DefaultMaxImageBytes)
	c.MaxResponseBytes = cmp.Or(c.MaxResponseBytes, DefaultMaxResponseBytes)
}

// ErrInvalidConfig is matched by every error Validate returns.
var ErrInvalidConfig = errors.New("jumio: invalid config")

// ErrInsecureURL is matched (errors.Is) by CheckBaseURL's error for a
// plain http URL that is not allowed.
var ErrInsecureURL = errors.New("jumio: plain http base URL")

// CheckBaseURL reports whether raw can be a Jumio base URL: absolute,
// without credentials, query or fragment, and https, unless the host is a
// loopback address or "localhost" (the simulator on this machine) or
// allowHTTP is set. Host names are not resolved. The error never quotes
// raw.
func CheckBaseURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return errors.New("not an absolute base URL without credentials, query or fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if allowHTTP || loopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%w: https is required unless the host is loopback (a local simulator)", ErrInsecureURL)
	}
	return errors.New("not an http(s) URL")
}

// loopbackHost reports whether h is "localhost" or a loopback address.
func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

// Validate checks the configuration after defaults are applied: a known
// region, base URLs that pass CheckBaseURL,
// credentials given in pairs and at least one pair, a printable
// User-Agent, and positive limits.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if _, err := wire.ParseRegion(string(c.Region)); err != nil {
		bad("region %q is not amer-1, emea-1 or apac-1", c.Region)
	}
	for _, h := range []struct{ name, url string }{
		{"Hosts.Auth", c.Hosts.Auth}, {"Hosts.Account", c.Hosts.Account}, {"Hosts.API", c.Hosts.API},
		{"Hosts.Retrieval", c.Hosts.Retrieval}, {"Hosts.Netverify", c.Hosts.Netverify}, {"Hosts.Status", c.Hosts.Status},
	} {
		if err := CheckBaseURL(h.url, c.AllowHTTP); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", h.name, err))
		}
	}
	pair := func(name, a, b string) bool {
		if (a == "") != (b == "") {
			bad("%s: set both or neither", name)
		}
		return a != "" && b != ""
	}
	oauth := pair("ClientID and ClientSecret", c.ClientID, c.ClientSecret)
	basic := pair("PlatformAPIToken and PlatformAPISecret", c.PlatformAPIToken, c.PlatformAPISecret)
	nv := pair("NetverifyAPIToken and NetverifyAPISecret", c.NetverifyAPIToken, c.NetverifyAPISecret)
	if !oauth && !basic && !nv {
		bad("no credentials: set ClientID/ClientSecret, NetverifyAPIToken/NetverifyAPISecret, or PlatformAPIToken/PlatformAPISecret")
	}
	if strings.ContainsFunc(c.UserAgent, func(r rune) bool { return r < 0x20 || r == 0x7f }) || strings.HasPrefix(c.UserAgent, "Go-http-client") {
		bad("UserAgent must name the company and application, in printable characters")
	}
	if c.Timeout <= 0 || c.MaxAttempts < 1 || c.RetryInitialInterval <= 0 || c.RetryMaxInterval < c.RetryInitialInterval {
		bad("Timeout, MaxAttempts and retry intervals must be positive (RetryMaxInterval ≥ RetryInitialInterval)")
	}
	if c.RateLimit <= 0 || c.RateBurst < 1 || c.TokenRateLimit <= 0 || c.AccountRateLimit <= 0 || c.APIRateLimit <= 0 || c.RateLimitCooldown <= 0 {
		bad("rate limits, burst and cooldown must be positive")
	}
	if c.BulkBurst < 1 || c.BulkBurst > c.RateBurst {
		bad("BulkBurst must be 1 to RateBurst")
	}
	for l, w := range c.LaneWeights {
		if !slices.Contains(BulkLanes, l) || w < 1 {
			bad("LaneWeights: lane %q weight %d: want a bulk lane (reconcile, replay, migrate) and a positive weight", l, w)
		}
	}
	if c.MaxRetryAfter < 0 {
		bad("MaxRetryAfter must not be negative")
	}
	if c.TokenRefreshAhead < 0 || c.MaxImageBytes <= 0 || c.MaxResponseBytes <= 0 {
		bad("TokenRefreshAhead must not be negative and size caps must be positive")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// String describes the configuration without credentials.
func (c Config) String() string {
	set := func(s string) string {
		if s == "" {
			return "unset"
		}
		return "set"
	}
	return fmt.Sprintf("jumio.Config{Region:%s Retrieval:%s OAuth2:%s PlatformBasic:%s Netverify:%s UserAgent:%q RateLimit:%g}",
		c.Region, c.Hosts.Retrieval, set(c.ClientID), set(c.PlatformAPIToken), set(c.NetverifyAPIToken), c.UserAgent, c.RateLimit)
}

// GoString is String, so %#v shows no credentials either.
func (c Config) GoString() string { return c.String() }

// LogValue logs the configuration without credentials.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("region", string(c.Region)),
		slog.String("retrieval", c.Hosts.Retrieval),
		slog.Bool("oauth2", c.ClientID != ""),
		slog.Bool("platform_basic", c.PlatformAPIToken != ""),
		slog.Bool("netverify", c.NetverifyAPIToken != ""),
		slog.String("user_agent", c.UserAgent),
		slog.Float64("rate_limit", c.RateLimit),
	)
}

// Option configures a Client beyond its Config.
type Option func(*options) error

type options struct {
	transport      http.RoundTripper
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	logger         *slog.Logger
}

// WithLogger sets the logger of the client's few log lines: a 429 that
// pauses every request for longer than LongPause is logged at ERROR
// (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("jumio: WithLogger: nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithTransport sets the HTTP transport (default: a clone of
// http.DefaultTransport). jumiotest's in-memory server provides one.
func WithTransport(rt http.RoundTripper) Option {
	return func(o *options) error {
		if rt == nil {
			return errors.New("jumio: WithTransport: nil transport")
		}
		o.transport = rt
		return nil
	}
}

// WithTracerProvider sets the tracer provider for HTTP client spans
// (default: the global one).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) error {
		if tp == nil {
			return errors.New("jumio: WithTracerProvider: nil provider")
		}
		o.tracerProvider = tp
		return nil
	}
}

// WithMeterProvider sets the meter provider for the client's metrics
// (default: the global one).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) error {
		if mp == nil {
			return errors.New("jumio: WithMeterProvider: nil provider")
		}
		o.meterProvider = mp
		return nil
	}
}
