package notifier

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/httpserver"
)

// ErrInvalidConfig wraps every configuration error of Config.Validate.
var ErrInvalidConfig = errors.New("notifier: invalid configuration")

// Config configures the notifier.
type Config struct {
	// NATS is the broker connection (Run connects; New is given one).
	NATS broker.Config
	// Server serves /healthz, /readyz and /metrics (Run only).
	Server httpserver.Config
	// RoutesFile is the path of the routes file (a mounted ConfigMap in
	// Kubernetes).
	RoutesFile string
	// Concurrency is how many results each route delivers at once, unless
	// the route sets its own (default 16).
	Concurrency int
	// MaxAckPending caps the results of one route fetched and not yet
	// settled, those waiting for a delayed retry included, over every
	// replica (default 1000). A route whose endpoint is down stops
	// fetching at this many; other routes are not affected.
	MaxAckPending int
	// AckWait is how long JetStream waits before it redelivers a result
	// held by a notifier that vanished (default 30s).
	AckWait time.Duration
	// DrainTimeout bounds how long stopping waits for deliveries in
	// progress; the ones still running then are released for another
	// replica or the next start (default 20s).
	DrainTimeout time.Duration
	// DeliveriesTTL is how long a delivery record is kept (default 30
	// days, the retention of JUMIO_ENRICHED): a message older than its
	// record that is replayed counts as new.
	DeliveriesTTL time.Duration
	// DeliveriesReplicas and DeliveriesStorage place the delivery bucket;
	// by default they follow the streams (NATS.Streams).
	DeliveriesReplicas int
	DeliveriesStorage  string

	// PullExpiry is how long one fetch waits for messages (default 2s;
	// tests use less).
	PullExpiry time.Duration
	// RootCAs verify webhook endpoints' certificates (default: the
	// system's; tests use their own).
	RootCAs *x509.CertPool
	// Now is the clock (default time.Now; tests use their own).
	Now func() time.Time
}

// Defaults.
const (
	DefaultConcurrency   = 16
	DefaultMaxAckPending = 1000
	DefaultAckWait       = 30 * time.Second
	DefaultDrainTimeout  = 20 * time.Second
	DefaultDeliveriesTTL = 30 * 24 * time.Hour
)

// LoadConfig reads the notifier variables (KYCFLOW_NOTIFIER_*) and the
// NATS ones.
func LoadConfig(e *config.Env) Config {
	c := Config{
		NATS:          broker.LoadConfig(e),
		Server:        httpserver.LoadConfig(e, "KYCFLOW_NOTIFIER_", ":8082"),
		RoutesFile:    e.String("KYCFLOW_NOTIFIER_ROUTES_FILE", "", "path of the routes file (required)"),
		Concurrency:   e.IntMin("KYCFLOW_NOTIFIER_CONCURRENCY", DefaultConcurrency, 1, "results each route delivers at once, unless the route sets concurrency"),
		MaxAckPending: e.IntMin("KYCFLOW_NOTIFIER_MAX_ACK_PENDING", DefaultMaxAckPending, 1, "results of one route fetched and not yet settled, waiting retries included, over all replicas"),
		AckWait:       e.PositiveDuration("KYCFLOW_NOTIFIER_ACK_WAIT", DefaultAckWait, "time before JetStream redelivers a result held by a vanished notifier"),
		DrainTimeout:  e.PositiveDuration("KYCFLOW_NOTIFIER_DRAIN_TIMEOUT", DefaultDrainTimeout, "time allowed at shutdown for deliveries in progress"),
		DeliveriesTTL: e.PositiveDuration("KYCFLOW_NOTIFIER_DELIVERIES_TTL", DefaultDeliveriesTTL, "how long a delivery record is kept (keep it at least the retention of JUMIO_ENRICHED)"),
	}
	c.Server.Profiling = e.Bool("KYCFLOW_NOTIFIER_PPROF", false, "serve Go profiles under /debug/pprof/ on KYCFLOW_NOTIFIER_ADDR, for measuring")
	return c
}

func (c *Config) setDefaults() {
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = DefaultMaxAckPending
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.DeliveriesTTL == 0 {
		c.DeliveriesTTL = DefaultDeliveriesTTL
	}
	if c.DeliveriesReplicas == 0 {
		c.DeliveriesReplicas = max(c.NATS.Streams.Replicas, 1)
	}
	if c.DeliveriesStorage == "" {
		c.DeliveriesStorage = c.NATS.Streams.Storage
	}
	if c.DeliveriesStorage == "" {
		c.DeliveriesStorage = "file"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports the first configuration error, wrapping
// ErrInvalidConfig, of the configuration as it runs (defaults applied).
// It does not read the routes file (LoadRoutes does).
func (c Config) Validate() error {
	c.setDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Concurrency < 1 || c.Concurrency > maxRouteConcurrency:
		return bad("concurrency %d (KYCFLOW_NOTIFIER_CONCURRENCY): want 1 to %d", c.Concurrency, maxRouteConcurrency)
	case c.MaxAckPending < c.Concurrency:
		return bad("max ack pending %d (KYCFLOW_NOTIFIER_MAX_ACK_PENDING) is below the concurrency %d (KYCFLOW_NOTIFIER_CONCURRENCY)", c.MaxAckPending, c.Concurrency)
	case c.AckWait < time.Second:
		return bad("ack wait %s (KYCFLOW_NOTIFIER_ACK_WAIT): want at least 1s", c.AckWait)
	case c.DrainTimeout <= 0:
		return bad("drain timeout (KYCFLOW_NOTIFIER_DRAIN_TIMEOUT) must be positive")
	case c.DeliveriesTTL < time.Hour:
		return bad("deliveries TTL %s (KYCFLOW_NOTIFIER_DELIVERIES_TTL): want at least 1h", c.DeliveriesTTL)
	case c.DeliveriesTTL < c.NATS.Streams.EnrichedMaxAge:
		// A result kept longer than its delivery record would be
		// delivered again by a replay, as if it were news.
		return bad("deliveries TTL %s (KYCFLOW_NOTIFIER_DELIVERIES_TTL) is shorter than the retention of JUMIO_ENRICHED, %s (KYCFLOW_STREAM_ENRICHED_MAX_AGE): keep it at least as long",
			config.FormatDuration(c.DeliveriesTTL), config.FormatDuration(c.NATS.Streams.EnrichedMaxAge))
	case c.DeliveriesStorage != "file" && c.DeliveriesStorage != "memory":
		return bad("deliveries storage %q: want file or memory", c.DeliveriesStorage)
	}
	return nil
}
