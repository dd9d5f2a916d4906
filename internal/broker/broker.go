// Package broker connects kycflow to NATS JetStream: the connection (URL,
// TLS, credentials file, NKey, user/password, token), the four streams
// (docs/architecture.md#streams-and-subjects) created or updated
// idempotently at start, and the Watermill subscriber and publisher the
// enricher and notifier use. The embedded server of "kycflow run" and the
// tests is internal/broker/embedded, so that the services do not link it.
//
// Stages run a Watermill router (NewRouter) whose handlers read a durable
// pull consumer through a Subscriber and write through a Publisher. A
// handler acks by returning nil, asks for a delayed redelivery with
// Redeliver or SetRetryDelay, reads the delivery attempt with Attempt,
// and gives up with PublishDeadLetter followed by an ack. The trace
// context travels in the traceparent and tracestate headers (TracePublisher,
// TraceHandler). Delivery facts and settlement requests live in reserved
// metadata keys (MetadataPrefix) that never become headers.
package broker

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/config"
)

// Config configures the NATS connection.
type Config struct {
	// URL is a comma-separated list of NATS server URLs.
	URL string
	// Name is the client connection name shown by the server.
	Name string
	// CredsFile is a NATS credentials file (JWT + NKey seed).
	CredsFile string
	// NKeySeedFile is a file holding an NKey seed.
	NKeySeedFile string
	User         string
	Password     config.Secret
	Token        config.Secret
	// TLSCAFile, TLSCertFile and TLSKeyFile configure TLS; a CA alone
	// verifies the server, a certificate and key add client auth.
	TLSCAFile   string
	TLSCertFile string
	TLSKeyFile  string
	// TLSInsecureSkipVerify disables server verification (tests only).
	TLSInsecureSkipVerify bool
	// ConnectTimeout is how long Connect tries while no server answers,
	// and the timeout of each dial (at most 10 s).
	ConnectTimeout time.Duration
	// PublishTimeout bounds a publish waiting for its JetStream ack.
	PublishTimeout time.Duration
	// PingInterval is how often the client pings its server; after two
	// pings unanswered it moves to another. It bounds how long a client
	// stays on a server it can no longer reach (a partition, a node lost
	// without closing its connections), where it hears no error at all.
	PingInterval time.Duration
	// SetupTimeout bounds how long a stage waits at start for the
	// streams, buckets and consumers it needs to be created or updated
	// (Ensure) before it exits naming the one that is not, and what
	// JetStream last answered (default DefaultSetupTimeout).
	SetupTimeout time.Duration
	// GoneGrace is how long a stream, consumer or bucket a running stage
	// needs may be reported missing before the stage stops (WatchGone;
	// default DefaultGoneGrace).
	GoneGrace time.Duration

	Streams StreamsConfig
}

// LoadConfig reads the NATS variables.
func LoadConfig(e *config.Env) Config {
	return Config{
		URL:            e.String("KYCFLOW_NATS_URL", nats.DefaultURL, "NATS server URLs, comma-separated"),
		CredsFile:      e.String("KYCFLOW_NATS_CREDS_FILE", "", "NATS credentials file (JWT and NKey seed)"),
		NKeySeedFile:   e.String("KYCFLOW_NATS_NKEY_SEED_FILE", "", "file holding an NKey seed"),
		User:           e.String("KYCFLOW_NATS_USER", "", "NATS user name"),
		Password:       e.Secret("KYCFLOW_NATS_PASSWORD", "NATS password"),
		Token:          e.Secret("KYCFLOW_NATS_TOKEN", "NATS token"),
		TLSCAFile:      e.String("KYCFLOW_NATS_TLS_CA_FILE", "", "CA bundle that signs the NATS server certificate"),
		TLSCertFile:    e.String("KYCFLOW_NATS_TLS_CERT_FILE", "", "client certificate for NATS TLS"),
		TLSKeyFile:     e.String("KYCFLOW_NATS_TLS_KEY_FILE", "", "client key for NATS TLS"),
		ConnectTimeout: e.PositiveDuration("KYCFLOW_NATS_CONNECT_TIMEOUT", 5*time.Second, "time allowed for the first NATS connection"),
		PublishTimeout: e.PositiveDuration("KYCFLOW_NATS_PUBLISH_TIMEOUT", 5*time.Second, "time allowed for a JetStream publish ack"),
		PingInterval:   e.PositiveDuration("KYCFLOW_NATS_PING_INTERVAL", nats.DefaultPingInterval, "how often the client pings its NATS server; two unanswered pings move it to another server"),
		SetupTimeout:   e.PositiveDuration("KYCFLOW_NATS_SETUP_TIMEOUT", DefaultSetupTimeout, "time a stage waits at start for its streams, buckets and consumers to be created or updated before it exits"),
		Streams:        LoadStreamsConfig(e),
	}
}

// Options returns the nats.go options for cfg. The connection reconnects
// forever; handlers log disconnects and reconnects.
func (cfg Config) Options(logger *slog.Logger) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			logger.Info("nats reconnected", "server", c.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			logger.Warn("nats async error", "subject", subject, "error", err)
		}),
	}
	if cfg.ConnectTimeout > 0 {
		// A dial that hangs is given up well within a long connect
		// timeout, so that Connect tries again.
		opts = append(opts, nats.Timeout(min(cfg.ConnectTimeout, maxDialTimeout)))
	}
	if cfg.PingInterval > 0 {
		opts = append(opts, nats.PingInterval(cfg.PingInterval))
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.NKeySeedFile != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("broker: nkey seed: %w", err)
		}
		opts = append(opts, o)
	}
	if cfg.User != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password.Value()))
	}
	if cfg.Token.IsSet() {
		opts = append(opts, nats.Token(cfg.Token.Value()))
	}
	if cfg.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCAFile))
	}
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
		opts = append(opts, nats.ClientCert(cfg.TLSCertFile, cfg.TLSKeyFile))
	}
	if cfg.TLSInsecureSkipVerify {
		opts = append(opts, nats.Secure(&tls.Config{InsecureSkipVerify: true})) //nolint:gosec // tests only
	}
	return opts, nil
}

// ConnectError is Connect's error when it gets no connection: it names
// the URLs tried (passwords hidden).
type ConnectError struct {
	URL string
	Err error
}

func (e *ConnectError) Error() string {
	return "broker: connect to " + RedactURL(e.URL) + ": " + e.Err.Error()
}

func (e *ConnectError) Unwrap() error { return e.Err }

// Connect opens a NATS connection. While no server answers (NATS still
// starting beside the service, or restarting: refused or closed
// connections, a name that does not resolve yet) it tries again, backing
// off from 250 ms to 2 s, until ConnectTimeout has passed since the first
// try; a refusal that trying again does not cure (credentials, TLS)
// ends it at once. After that the connection reconnects on its own.
func Connect(ctx context.Context, cfg Config, logger *slog.Logger) (*nats.Conn, error) {
	opts, err := cfg.Options(logger)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(cfg.ConnectTimeout)
	wait := 250 * time.Millisecond
	for {
		nc, err := connectOnce(ctx, cfg.URL, opts)
		if err == nil || ctx.Err() != nil {
			return nc, err
		}
		left := time.Until(deadline)
		if refused(err) || left <= 0 {
			return nil, &ConnectError{URL: cfg.URL, Err: err}
		}
		select {
		case <-time.After(min(wait, left)):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// refused reports whether a connection attempt failed for a reason that
// trying again does not cure: the server refused the credentials, the
// TLS set-up does not match the server's, a file the options name cannot
// be read. Anything else (refused, reset or closed connections, a name
// that does not resolve yet, timeouts) may be a server still starting.
func refused(err error) bool {
	for _, e := range []error{
		nats.ErrAuthorization, nats.ErrAuthExpired, nats.ErrAuthRevoked, nats.ErrAccountAuthExpired,
		nats.ErrPermissionViolation, nats.ErrSecureConnRequired, nats.ErrSecureConnWanted,
		nats.ErrConnectionNotTLS, nats.ErrTLS, nats.ErrNkeysNotSupported, nats.ErrInvalidArg,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	var cert *tls.CertificateVerificationError
	var record tls.RecordHeaderError
	var path *fs.PathError
	var op *net.OpError // a TLS alert from the server: our certificate refused
	return errors.As(err, &cert) || errors.As(err, &record) || errors.As(err, &path) ||
		errors.As(err, &op) && op.Op == "remote error" ||
		strings.Contains(strings.ToLower(err.Error()), "authorization violation")
}

// connectOnce is one nats.Connect, given up when ctx ends.
func connectOnce(ctx context.Context, url string, opts []nats.Option) (*nats.Conn, error) {
	type result struct {
		nc  *nats.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(url, opts...)
		ch <- result{nc, err}
	}()
	select {
	case r := <-ch:
		return r.nc, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// RedactURL hides the passwords and user names of NATS URLs like
// nats://user:pass@host (a comma-separated list), for messages.
func RedactURL(s string) string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		full, bare := part, !strings.Contains(part, "://")
		if bare {
			// nats.go takes user:pass@host:port and adds the scheme;
			// url.Parse does not read it without one.
			full = "nats://" + part
		}
		u, err := url.Parse(full)
		switch {
		case err != nil:
			if at := strings.LastIndex(part, "@"); at >= 0 {
				part = "xxxxx" + part[at:] // unreadable: hide all before the host
			}
		case u.User != nil:
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			} else {
				u.User = url.User("xxxxx")
			}
			part = u.String()
			if bare {
				part = strings.TrimPrefix(part, "nats://")
			}
		}
		out = append(out, part)
	}
	return strings.Join(out, ",")
}

// maxDialTimeout bounds each dial of a connection attempt.
const maxDialTimeout = 10 * time.Second

// DefaultGoneGrace is Config.GoneGrace's default.
const DefaultGoneGrace = 30 * time.Second

// ErrGone is WatchGone's error: what a stage needs is missing from
// JetStream.
var ErrGone = errors.New("missing from JetStream")

// missing reports whether err says a stream, consumer or bucket does not
// exist (not that the server could not be asked).
func missing(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrBucketNotFound)
}

// WatchGone asks check (a stage's readiness) every few seconds and
// returns an error wrapping ErrGone once check has said for grace on end
// that a stream, consumer or bucket the stage needs does not exist; it
// returns nil when ctx ends. A stage creates what it needs at start only:
// after JetStream lost them (its store gone, a stream deleted by mistake)
// it would stay unready, answering 503, while its liveness held. Stopping
// lets a restart create them again. A server that cannot be asked (NATS
// down, an election) is not a reason: the connection comes back.
//
// The first report of something missing is logged at WARN on log (when
// not nil), with the time left before the stage stops, and its return at
// INFO: whoever watches the logs learns of it while there is time to act,
// not only from the stop.
func WatchGone(ctx context.Context, grace time.Duration, check func(context.Context) error, log *slog.Logger) error {
	grace = cmp.Or(grace, DefaultGoneGrace)
	every := min(grace/6, 5*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	var since time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			cctx, cancel := context.WithTimeout(ctx, every)
			err := check(cctx)
			cancel()
			switch {
			case err == nil || !missing(err):
				if !since.IsZero() && log != nil {
					log.InfoContext(ctx, "what was missing from JetStream is back", "missing_for", now.Sub(since).Round(time.Millisecond).String())
				}
				since = time.Time{}
			case since.IsZero():
				since = now
				if log != nil {
					log.WarnContext(ctx, "missing from JetStream; stopping unless it comes back, so that a restart creates it again",
						"error", err.Error(), "stopping_in", grace.String())
				}
			case now.Sub(since) >= grace:
				return fmt.Errorf("%v: %w for %s; stopping, so that a restart creates it again", err, ErrGone, grace)
			}
		}
	}
}

// WhileNeeded returns a context that ends with ctx, or once WatchGone
// reports on check; stop ends the watch and returns what it reported
// (nil when it reported nothing). A stage runs in the context and, when
// it has returned, calls stop: an error from stop is why it ended.
func WhileNeeded(ctx context.Context, grace time.Duration, check func(context.Context) error, log *slog.Logger) (context.Context, func() error) {
	ctx, cancel := context.WithCancel(ctx)
	gone := make(chan error, 1)
	go func() {
		err := WatchGone(ctx, grace, check, log)
		if err != nil {
			cancel()
		}
		gone <- err
	}()
	return ctx, func() error {
		cancel()
		return <-gone
	}
}

// Ready reports whether nc is connected and every stream exists; services
// use it for /readyz.
func Ready(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, streams ...string) error {
	if nc == nil || !nc.IsConnected() {
		return errors.New("nats not connected")
	}
	for _, name := range streams {
		if _, err := js.Stream(ctx, name); err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
	}
	return nil
}

// SetupContext is ctx bounded by SetupTimeout (DefaultSetupTimeout when
// zero): what a stage allows for creating or updating what it needs at
// start.
func (cfg Config) SetupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, cmp.Or(cfg.SetupTimeout, DefaultSetupTimeout))
}

// Open connects to NATS and creates or updates the four streams: what every
// service does at start. It gives up after SetupTimeout with an
// *EnsureError naming the stream that is not as configured and what
// JetStream last answered. On error nothing stays open.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := Connect(ctx, cfg, logger)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("broker: jetstream: %w", err)
	}
	sctx, cancel := cfg.SetupContext(ctx)
	err = EnsureStreams(sctx, js, cfg.Streams)
	cancel()
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// Close drains nc — pending publishes, acks and naks are flushed and
// subscriptions end — waiting at most five seconds, then closes it.
func Close(nc *nats.Conn) {
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	for deadline := time.Now().Add(5 * time.Second); !nc.IsClosed() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	nc.Close()
}
