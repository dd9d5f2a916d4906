package ingest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/httpserver"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// Default values of Config.
const (
	DefaultAddr      = ":8080"
	DefaultAdminAddr = ":9090"
	// AdminOff, as KYCFLOW_INGEST_ADMIN_ADDR, serves no admin port: no
	// /metrics, and health answers on the callback port only, without
	// details.
	AdminOff                   = "off"
	DefaultMaxBodyBytes        = 64 << 10
	DefaultRateLimit           = 100
	DefaultRateBurst           = 200
	DefaultRateLimitSources    = 10000
	DefaultRateLimitIPv6Prefix = 64
	DefaultRetryAfter          = 5 * time.Second
	DefaultUserReferenceMaxAge = 61 * 24 * time.Hour
	// MinPathSecretLen is the shortest secret path segment accepted: 16
	// random URL-safe characters are about 96 bits.
	MinPathSecretLen = 16
)

// Config configures ingest.
type Config struct {
	// Server holds the listen address and the HTTP timeouts
	// (KYCFLOW_INGEST_ADDR, _READ_HEADER_TIMEOUT, _READ_TIMEOUT, …).
	Server httpserver.Config
	// AdminAddr is the listen address of /healthz, /readyz (with the
	// reason when not ready) and /metrics (LoadConfig: DefaultAdminAddr),
	// so that the network can expose the callback port to the internet
	// and this one to the kubelet and Prometheus only. Server.Addr serves
	// the callback endpoints and bare /healthz and /readyz answers
	// (no reasons), nothing else. Empty: no admin port (no /metrics).
	AdminAddr string
	// NATS is the broker connection and the stream settings.
	NATS broker.Config

	// Region is the Jumio data center of the tenant (amer-1, emea-1,
	// apac-1). It picks the default source addresses and is cross-checked
	// against the hrefs of Platform callbacks.
	Region string

	// PathSecret, when set, is a path segment every callback URL must end
	// with (/callbacks/platform/<secret>); the bare paths then answer 404.
	// Compared in constant time.
	PathSecret config.Secret

	// CheckSourceIP turns the source-address check on.
	CheckSourceIP bool
	// AllowedSources are the addresses and CIDR prefixes callbacks may
	// come from; empty means Jumio's published callback addresses for
	// Region (the union of its Platform and Netverify lists).
	AllowedSources []string
	// TrustedProxies are the CIDR prefixes (or addresses) of the load
	// balancers in front of ingest. X-Forwarded-For is read only when the
	// peer is one of them; the client is the right-most address in it
	// that is not a trusted proxy.
	TrustedProxies []string

	// UserReferenceSecrets, when set, holds comma-separated HMAC secrets
	// (the current one first, then those being rotated out); callbacks of
	// the APIs in UserReferenceAPIs must then carry a token signed with one
	// of them (wire.SignUserReference) in userReference.
	UserReferenceSecrets config.Secret
	// UserReferenceAPIs are the APIs whose callbacks are checked:
	// "platform", "netverify" or both. Netverify ID callbacks echo the
	// reference as customerId.
	UserReferenceAPIs []string
	// UserReferenceMaxAge is the oldest token accepted; set it above the
	// longest tokenLifetime used when initiating (Jumio allows 60 days).
	UserReferenceMaxAge time.Duration

	// MaxBodyBytes bounds a callback body.
	MaxBodyBytes int64
	// RateLimit is the steady request rate allowed per client address
	// outside AllowedSources, per second; 0 turns rate limiting off. The
	// allowed sources (Jumio's addresses) are never limited: Jumio does
	// not document how it retries a callback answered 429.
	RateLimit float64
	// RateBurst is the burst allowed per client address outside
	// AllowedSources.
	RateBurst int
	// RateLimitSources bounds how many client addresses are tracked; the
	// least recently seen are forgotten first.
	RateLimitSources int
	// RateLimitIPv6Prefix is the prefix length an IPv6 client is limited
	// by (default 64): every address of one /64, which a single host
	// commonly holds, shares one bucket. 128 limits each address alone.
	RateLimitIPv6Prefix int
	// RetryAfter is the Retry-After sent with 503 when the broker cannot
	// store a callback.
	RetryAfter time.Duration
}

// LoadConfig reads the ingest variables, the NATS variables and
// KYCFLOW_JUMIO_REGION.
func LoadConfig(e *config.Env) Config {
	c := Config{
		Server:               httpserver.LoadConfig(e, "KYCFLOW_INGEST_", DefaultAddr),
		AdminAddr:            ParseAdminAddr(e.String("KYCFLOW_INGEST_ADMIN_ADDR", DefaultAdminAddr, "listen address of /healthz, /readyz and /metrics; off: none")),
		NATS:                 broker.LoadConfig(e),
		Region:               e.String("KYCFLOW_JUMIO_REGION", string(wire.RegionAMER), "Jumio data center of the tenant (amer-1, emea-1, apac-1)"),
		PathSecret:           e.Secret("KYCFLOW_INGEST_PATH_SECRET", "secret last path segment of the callback URLs; unset: no segment"),
		CheckSourceIP:        e.Bool("KYCFLOW_INGEST_CHECK_SOURCE_IP", true, "accept callbacks only from KYCFLOW_INGEST_ALLOWED_SOURCES"),
		AllowedSources:       e.List("KYCFLOW_INGEST_ALLOWED_SOURCES", nil, "addresses and CIDR prefixes callbacks may come from; empty: Jumio's callback addresses for the region"),
		TrustedProxies:       e.List("KYCFLOW_INGEST_TRUSTED_PROXIES", nil, "CIDR prefixes of load balancers whose X-Forwarded-For is honoured"),
		UserReferenceSecrets: e.Secret("KYCFLOW_INGEST_USER_REFERENCE_SECRETS", "comma-separated HMAC secrets for signed userReference tokens; unset: no check"),
		UserReferenceAPIs:    e.List("KYCFLOW_INGEST_USER_REFERENCE_APIS", []string{string(events.APIPlatform)}, "APIs whose callbacks must carry a signed userReference (platform, netverify)"),
		UserReferenceMaxAge:  e.Duration("KYCFLOW_INGEST_USER_REFERENCE_MAX_AGE", DefaultUserReferenceMaxAge, "oldest signed userReference accepted; 0: no age check"), // VerifyUserReference skips it at 0; Validate refuses a negative age
		MaxBodyBytes:         e.Int64("KYCFLOW_INGEST_MAX_BODY_BYTES", DefaultMaxBodyBytes, "largest callback body accepted, in bytes"),
		RateLimit:            e.Float("KYCFLOW_INGEST_RATE_LIMIT", DefaultRateLimit, "requests per second allowed per client address outside the allowed sources; 0: no limit"),
		RateBurst:            e.IntMin("KYCFLOW_INGEST_RATE_BURST", DefaultRateBurst, 1, "burst of requests allowed per client address outside the allowed sources"),
		RateLimitSources:     e.IntMin("KYCFLOW_INGEST_RATE_LIMIT_SOURCES", DefaultRateLimitSources, 1, "client addresses tracked by the rate limiter"),
		RateLimitIPv6Prefix:  e.Int("KYCFLOW_INGEST_RATE_LIMIT_IPV6_PREFIX", DefaultRateLimitIPv6Prefix, "prefix length by which IPv6 clients are rate limited"),
		RetryAfter:           e.PositiveDuration("KYCFLOW_INGEST_RETRY_AFTER", DefaultRetryAfter, "Retry-After sent with 503 when the broker cannot store a callback"),
	}
	if c.MaxBodyBytes <= 0 {
		// Not read as the default: an operator who set it meant a size.
		e.Invalid("KYCFLOW_INGEST_MAX_BODY_BYTES", "want a positive size in bytes (KiB and MiB suffixes accepted)")
	}
	return c
}

func (c *Config) setDefaults() {
	if c.Server.Addr == "" {
		c.Server.Addr = DefaultAddr
	}
	if c.Region == "" {
		c.Region = string(wire.RegionAMER)
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.RateLimit > 0 && c.RateBurst <= 0 {
		c.RateBurst = max(1, int(c.RateLimit))
	}
	if c.RateLimitSources <= 0 {
		c.RateLimitSources = DefaultRateLimitSources
	}
	if c.RateLimitIPv6Prefix == 0 {
		c.RateLimitIPv6Prefix = DefaultRateLimitIPv6Prefix
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.UserReferenceAPIs == nil {
		c.UserReferenceAPIs = []string{string(events.APIPlatform)}
	}
	if c.NATS.PublishTimeout <= 0 {
		c.NATS.PublishTimeout = 5 * time.Second
	}
	if c.NATS.Name == "" {
		c.NATS.Name = "kycflow-ingest"
	}
}

// ParseAdminAddr is the Config.AdminAddr of a KYCFLOW_INGEST_ADMIN_ADDR
// value: the address, or "" for AdminOff.
func ParseAdminAddr(v string) string {
	if strings.EqualFold(v, AdminOff) {
		return ""
	}
	return v
}

// ErrInvalidConfig is matched (errors.Is) by every error Validate and New
// return for a configuration that is not valid.
var ErrInvalidConfig = errors.New("ingest: invalid configuration")

// VarError is the configuration error of one variable.
type VarError struct {
	// Var is the environment variable, for example
	// "KYCFLOW_INGEST_PATH_SECRET".
	Var string
	// Err says what is wrong with it; it never holds a secret's value.
	Err error
}

func (e *VarError) Error() string { return e.Var + ": " + e.Err.Error() }

func (e *VarError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrInvalidConfig) true.
func (e *VarError) Is(target error) bool { return target == ErrInvalidConfig }

// Validate reports every configuration error at once, each a *VarError.
func (c *Config) Validate() error {
	var errs []error
	bad := func(name string, err error) { errs = append(errs, &VarError{Var: name, Err: err}) }
	if _, err := wire.ParseRegion(c.Region); err != nil {
		bad("KYCFLOW_JUMIO_REGION", err)
	}
	if s := c.PathSecret.Value(); c.PathSecret.IsSet() {
		if len(s) < MinPathSecretLen {
			bad("KYCFLOW_INGEST_PATH_SECRET", fmt.Errorf("want at least %d characters", MinPathSecretLen))
		}
		if strings.IndexFunc(s, func(r rune) bool { return !unreserved(r) }) >= 0 {
			bad("KYCFLOW_INGEST_PATH_SECRET", errors.New("want only letters, digits, '-', '.', '_' and '~'"))
		}
	}
	if c.AdminAddr != "" {
		if err := checkListenAddr(c.AdminAddr); err != nil {
			bad("KYCFLOW_INGEST_ADMIN_ADDR", err)
		} else if sameListenAddr(c.AdminAddr, c.Server.Addr) {
			bad("KYCFLOW_INGEST_ADMIN_ADDR", errors.New("must differ from KYCFLOW_INGEST_ADDR"))
		}
	}
	if _, err := parsePrefixes(c.AllowedSources); err != nil {
		bad("KYCFLOW_INGEST_ALLOWED_SOURCES", err)
	}
	if _, err := parsePrefixes(c.TrustedProxies); err != nil {
		bad("KYCFLOW_INGEST_TRUSTED_PROXIES", err)
	}
	for _, api := range c.UserReferenceAPIs {
		if api != string(events.APIPlatform) && api != string(events.APINetverify) {
			bad("KYCFLOW_INGEST_USER_REFERENCE_APIS", fmt.Errorf("unknown API %q (want platform, netverify)", api))
		}
	}
	if c.UserReferenceSecrets.IsSet() && len(c.userReferenceSecrets()) == 0 {
		bad("KYCFLOW_INGEST_USER_REFERENCE_SECRETS", errors.New("no secret in the list"))
	}
	if c.UserReferenceMaxAge < 0 {
		bad("KYCFLOW_INGEST_USER_REFERENCE_MAX_AGE", errors.New("must not be negative"))
	}
	if c.RateLimit < 0 {
		bad("KYCFLOW_INGEST_RATE_LIMIT", errors.New("must not be negative"))
	}
	if c.RateLimitIPv6Prefix < 16 || c.RateLimitIPv6Prefix > 128 {
		bad("KYCFLOW_INGEST_RATE_LIMIT_IPV6_PREFIX", errors.New("want a prefix length from 16 to 128"))
	}
	return errors.Join(errs...)
}

// ValidateInto records every problem Validate finds with e, so that they
// are reported with the problems of the other variables, one per line.
func (c *Config) ValidateInto(e *config.Env) {
	err := c.Validate()
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, err := range errs {
		var ve *VarError
		switch {
		case errors.As(err, &ve):
			e.Invalid(ve.Var, "%w", ve.Err)
		case err != nil:
			e.Invalid("ingest", "%w", err)
		}
	}
}

// region is the validated region.
func (c *Config) region() wire.Region {
	r, _ := wire.ParseRegion(c.Region)
	return r
}

// allowedSources are the configured prefixes, or Jumio's addresses for the
// region when none are configured.
func (c *Config) allowedSources() []netip.Prefix {
	if len(c.AllowedSources) > 0 {
		p, _ := parsePrefixes(c.AllowedSources)
		return p
	}
	var out []netip.Prefix
	for _, a := range wire.CallbackIPs(c.region()) {
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out
}

func (c *Config) userReferenceSecrets() [][]byte {
	var out [][]byte
	for s := range strings.SplitSeq(c.UserReferenceSecrets.Value(), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, []byte(s))
		}
	}
	return out
}

// checksUserReference reports whether callbacks of api must carry a signed
// userReference.
func (c *Config) checksUserReference(api events.API) bool {
	return c.UserReferenceSecrets.IsSet() && slices.Contains(c.UserReferenceAPIs, string(api))
}

// CallbackPath is the path Jumio must call for api, including the secret
// segment when one is configured. It holds the secret: never log it.
func (c *Config) CallbackPath(api events.API) string {
	p := "/callbacks/" + string(api)
	if c.PathSecret.IsSet() {
		p += "/" + c.PathSecret.Value()
	}
	return p
}

// ChecksOff names the sender checks ingest does not run on the callbacks
// of api, for a loud warning at start ("kycflow run" relaxes them for
// local use). The enricher's confirmation of Netverify callbacks against
// Jumio is the enricher's to name (enricher.NetverifyCheckOff).
func (c *Config) ChecksOff(api events.API) []string {
	var off []string
	if !c.CheckSourceIP {
		off = append(off, "source address (KYCFLOW_INGEST_CHECK_SOURCE_IP=false): callbacks are accepted from anywhere")
	}
	if !c.PathSecret.IsSet() {
		off = append(off, "secret path segment (KYCFLOW_INGEST_PATH_SECRET unset): the callback URLs are guessable")
	}
	switch {
	case !c.UserReferenceSecrets.IsSet():
		off = append(off, "signed userReference (KYCFLOW_INGEST_USER_REFERENCE_SECRETS unset)")
	case !c.checksUserReference(api):
		off = append(off, "signed userReference (KYCFLOW_INGEST_USER_REFERENCE_APIS does not name "+string(api)+")")
	}
	return off
}

// checkListenAddr checks the form of a "host:port" listen address (":9090",
// "127.0.0.1:9090"): the port must be a number from 0 to 65535. Whether
// the host can be listened on is for net.Listen to say.
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("not host:port: %q", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// sameListenAddr reports whether two listen addresses would take the same
// port: the same fixed port on the same host or on a wildcard host (port 0
// picks a free port and never collides).
func sameListenAddr(a, b string) bool {
	ah, ap, err1 := net.SplitHostPort(a)
	bh, bp, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || ap != bp || ap == "0" {
		return false
	}
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ah == bh || wildcard(ah) || wildcard(bh)
}

// parsePrefixes reads addresses ("52.8.136.236") and CIDR prefixes
// ("10.0.0.0/8").
func parsePrefixes(items []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range items {
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("not a CIDR prefix: %q", s)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("not an address: %q", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// unreserved reports whether r is an RFC 3986 unreserved character.
func unreserved(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' || r == '~'
}
