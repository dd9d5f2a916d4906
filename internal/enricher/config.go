package enricher

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/httpserver"
	"github.com/kycflow/kycflow/internal/jumioconfig"
	"github.com/kycflow/kycflow/internal/reconcile"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/mapping"
)

// Wire names. They are API: see each comment for what renaming does.
const (
	// Durable is the durable consumer the enricher reads JUMIO_CALLBACKS
	// with; every replica shares it. Renaming it creates a new consumer
	// that starts from the first message: the whole stream is enriched
	// again (the state bucket then drops most of it as duplicates, but
	// every callback is fetched from Jumio once more).
	Durable = "enricher"
	// StateBucket is the JetStream key-value bucket that holds, per
	// workflow execution, the newest callback enriched or being enriched
	// and the event ids recently enriched. Renaming it forgets that state:
	// stale and repeated callbacks are enriched again until the new bucket
	// has seen them.
	StateBucket = "kycflow_enricher_executions"
)

// Defaults of Config.
const (
	DefaultAddr                 = ":8081"
	DefaultConcurrency          = 16
	DefaultMaxAckPending        = 10000
	DefaultAckWait              = 30 * time.Second
	DefaultDrainTimeout         = 15 * time.Second
	DefaultRetryMaxAttempts     = 30
	DefaultRetryMaxAge          = 6 * time.Hour
	DefaultRetryInitialInterval = time.Second
	DefaultRetryMaxInterval     = 5 * time.Minute
	DefaultStateTTL             = 30 * 24 * time.Hour
	DefaultHealthInterval       = 30 * time.Second
	DefaultWorkConcurrency      = 2
)

// Settings of Config.NetverifyConfirm (KYCFLOW_ENRICHER_NETVERIFY_CONFIRM).
const (
	// ConfirmAuto confirms Netverify callbacks when the Jumio client has
	// Netverify API credentials: the default.
	ConfirmAuto = "auto"
	// ConfirmOn confirms them; New fails without the credentials.
	ConfirmOn = "true"
	// ConfirmOff maps Netverify callbacks from their own fields. Netverify
	// callbacks are authenticated by Jumio's callback addresses only,
	// which every Jumio customer's callbacks come from: any of them can
	// send an APPROVED_VERIFIED for a reference of yours. An explicit,
	// documented choice, warned about at start.
	ConfirmOff = "false"
)

// ErrInvalidConfig is matched by every error Validate returns.
var ErrInvalidConfig = errors.New("enricher: invalid configuration")

// Config configures the enricher.
type Config struct {
	// Server holds the listen address and HTTP timeouts of /healthz,
	// /readyz and /metrics (KYCFLOW_ENRICHER_ADDR, …); used by Serve.
	Server httpserver.Config
	// NATS is the broker connection and the stream settings; the state
	// bucket takes its storage and replicas from NATS.Streams.
	NATS broker.Config
	// Jumio configures the Jumio client (KYCFLOW_JUMIO_*), used when New
	// is given no client.
	Jumio jumio.Config
	// Products names products by workflow definition key
	// (KYCFLOW_PRODUCTS, mapping.ParseProducts: "10011=ID and
	// Identity,…" or a JSON object).
	Products string

	// Concurrency is how many callbacks one process enriches at once. The
	// Jumio client's rate limit, shared by all of them, keeps the process
	// within its request budget; concurrency only has to cover Jumio's
	// latency (rate × latency, with room to spare).
	Concurrency int
	// MaxAckPending caps the callbacks delivered and not yet acked, over
	// all replicas. Callbacks waiting for a delayed redelivery (data not
	// ready yet, up to 15 minutes apart) count too: when it is reached,
	// new callbacks wait until some of those are due.
	MaxAckPending int
	// AckWait is how long JetStream waits before redelivering a callback
	// whose process died; a live process keeps its callbacks in progress.
	AckWait time.Duration
	// DrainTimeout bounds how long shutdown waits for callbacks being
	// enriched; the rest are released, unacked, for another replica.
	DrainTimeout time.Duration
	// PullExpiry is how long one pull request waits for callbacks
	// (default 2s; tests use less so that shutdown is quick).
	PullExpiry time.Duration

	// RetryMaxAttempts and RetryMaxAge are the retry budget of a callback
	// that fails for a transient reason (Jumio 5xx, 429, timeouts, 401,
	// broker hiccups): past either one it is dead-lettered. Attempts count
	// deliveries; the age is counted from when the callback was stored.
	// "Not ready yet" has its own budget: NotReadySchedule.
	RetryMaxAttempts int
	RetryMaxAge      time.Duration
	// RetryInitialInterval and RetryMaxInterval shape the exponential
	// back-off (factor 2, ±50% jitter) between redeliveries after
	// transient failures; a Retry-After from Jumio is a lower bound.
	RetryInitialInterval time.Duration
	RetryMaxInterval     time.Duration
	// NotReadySchedule is the redelivery schedule for data Jumio does not
	// have yet (a 404 soon after the callback, a Netverify scan still
	// PENDING, workflow details not final yet): redeliveries fall on its
	// running sums counted from the callback (40 s, 100 s, 200 s, … by
	// default, jumio.NotReadySchedule). Past its total the 404 is
	// permanent and the callback is dead-lettered.
	NotReadySchedule jumio.Schedule

	// NetverifyConfirm says whether Netverify callbacks are confirmed
	// against Jumio's Netverify retrieval API: ConfirmAuto (the default:
	// when the Jumio client has Netverify API credentials), ConfirmOn or
	// ConfirmOff. Confirmed, the callback only triggers: an
	// ID-verification result is mapped from what Jumio returns (scan
	// status until it is not PENDING, then /data), and an authentication
	// or document-verification callback, which kycflow cannot retrieve,
	// is mapped from its fields but never PASSED (WARNING, capability
	// confirmation UNCONFIRMED). Off, every Netverify result is mapped
	// from the callback's own fields.
	NetverifyConfirm string

	// StateTTL is how long the state of an execution is kept after its
	// last update; keep it at least as long as JUMIO_CALLBACKS keeps
	// callbacks.
	StateTTL time.Duration

	// Reconcile configures the reconciler of missed callbacks, which the
	// enricher runs (KYCFLOW_RECONCILE_*); its bucket takes its storage and
	// replicas from NATS.Streams.
	Reconcile reconcile.Config

	// HealthInterval is how often Jumio's status endpoint is read; while
	// it reports retrieval DOWN, retrieval is held (callbacks wait, no
	// retries are spent). Negative turns the watch off; default 30s.
	HealthInterval time.Duration
	// WorkConcurrency is how many items of the work stream (migration
	// batches queued by "kycflow migrate-data") one process runs at once.
	// Their requests wait in the migrate lane of the Jumio budget, so this
	// only has to cover Jumio's latency.
	WorkConcurrency int
	// MigrationCallbackURL is where Jumio posts the callbacks of scans the
	// enricher migrates: ingest's Platform callback URL, path secret
	// included (it is read like a secret). Empty: the callback URL of the
	// Jumio Portal.
	MigrationCallbackURL string

	// OmitRawDocument keeps the raw Jumio document out of the enriched
	// events (KYCFLOW_ENRICHER_KEEP_RAW=false): JUMIO_ENRICHED then holds
	// the normalized result only, one copy of the personal data fewer.
	// Nothing kycflow runs reads the raw document; whoever needs it again
	// fetches it from Jumio while Jumio keeps it ("kycflow replay enrich"
	// re-fetches it, and keeps it when this is off).
	OmitRawDocument bool
}

// LoadConfig reads the enricher variables (KYCFLOW_ENRICHER_*,
// KYCFLOW_PRODUCTS), the NATS and stream variables and the Jumio client
// variables.
func LoadConfig(e *config.Env) Config {
	schedule := make([]string, len(jumio.NotReadySchedule))
	for i, d := range jumio.NotReadySchedule {
		schedule[i] = strconv.Itoa(int(d/time.Second)) + "s"
	}
	c := Config{
		Server:               httpserver.LoadConfig(e, "KYCFLOW_ENRICHER_", DefaultAddr),
		NATS:                 broker.LoadConfig(e),
		Jumio:                jumioconfig.LoadConfig(e),
		Products:             e.String("KYCFLOW_PRODUCTS", "", "product names by workflow definition key"),
		Concurrency:          e.IntMin("KYCFLOW_ENRICHER_CONCURRENCY", DefaultConcurrency, 1, "callbacks enriched at once per process"),
		MaxAckPending:        e.Int("KYCFLOW_ENRICHER_MAX_ACK_PENDING", DefaultMaxAckPending, "callbacks delivered and not yet acked, over all replicas"),
		AckWait:              e.Duration("KYCFLOW_ENRICHER_ACK_WAIT", DefaultAckWait, "time before a callback of a dead process is redelivered"),
		DrainTimeout:         e.Duration("KYCFLOW_ENRICHER_DRAIN_TIMEOUT", DefaultDrainTimeout, "time allowed at shutdown for callbacks being enriched"),
		RetryMaxAttempts:     e.IntMin("KYCFLOW_ENRICHER_RETRY_MAX_ATTEMPTS", DefaultRetryMaxAttempts, 1, "deliveries of a callback failing for transient reasons before it is dead-lettered"),
		RetryMaxAge:          e.Duration("KYCFLOW_ENRICHER_RETRY_MAX_AGE", DefaultRetryMaxAge, "age of a callback failing for transient reasons past which it is dead-lettered"),
		RetryInitialInterval: e.Duration("KYCFLOW_ENRICHER_RETRY_INITIAL_INTERVAL", DefaultRetryInitialInterval, "first redelivery delay after a transient failure"),
		RetryMaxInterval:     e.Duration("KYCFLOW_ENRICHER_RETRY_MAX_INTERVAL", DefaultRetryMaxInterval, "longest redelivery delay after transient failures"),
		NetverifyConfirm:     e.Enum("KYCFLOW_ENRICHER_NETVERIFY_CONFIRM", ConfirmAuto, "confirm Netverify callbacks against the Netverify retrieval API; auto: when its credentials are set", ConfirmAuto, ConfirmOn, ConfirmOff),
		StateTTL:             e.Duration("KYCFLOW_ENRICHER_STATE_TTL", DefaultStateTTL, "how long per-execution state is kept after its last update"),
		Reconcile:            reconcile.LoadConfig(e),
		// Not PositiveDuration: 0 is the documented way to turn the watch
		// off (a status endpoint that reports DOWN while the API works).
		HealthInterval:       e.Duration("KYCFLOW_ENRICHER_HEALTH_INTERVAL", DefaultHealthInterval, "how often Jumio's status endpoint is read (0: never)"),
		WorkConcurrency:      e.IntMin("KYCFLOW_ENRICHER_WORK_CONCURRENCY", DefaultWorkConcurrency, 1, "migration batches run at once per process"),
		MigrationCallbackURL: e.Secret("KYCFLOW_ENRICHER_MIGRATION_CALLBACK_URL", "callback URL Jumio posts migrated scans' callbacks to (ingest's Platform URL with its path secret); empty: the Portal's").Value(),
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = -1 // "0" turns the watch off; Config's zero is the default
	}
	for _, s := range e.List("KYCFLOW_ENRICHER_NOT_READY_SCHEDULE", schedule, "redelivery delays for data Jumio does not have yet") {
		d, err := config.ParseDuration(s)
		if err != nil || d <= 0 {
			// Validate reports it: a schedule with a non-positive step.
			d = 0
		}
		c.NotReadySchedule = append(c.NotReadySchedule, d)
	}
	c.OmitRawDocument = !e.Bool("KYCFLOW_ENRICHER_KEEP_RAW", true, "keep the raw Jumio document in the enriched events (JUMIO_ENRICHED)")
	c.Server.Profiling = e.Bool("KYCFLOW_ENRICHER_PPROF", false, "serve Go profiles under /debug/pprof/ on KYCFLOW_ENRICHER_ADDR, for measuring")
	return c
}

func (c *Config) setDefaults() {
	if c.Server.Addr == "" {
		c.Server.Addr = DefaultAddr
	}
	if c.NATS.Name == "" {
		c.NATS.Name = "kycflow-enricher"
	}
	if c.NATS.PublishTimeout <= 0 {
		c.NATS.PublishTimeout = 5 * time.Second
	}
	c.Concurrency = cmp.Or(c.Concurrency, DefaultConcurrency)
	c.MaxAckPending = cmp.Or(c.MaxAckPending, DefaultMaxAckPending)
	c.AckWait = cmp.Or(c.AckWait, DefaultAckWait)
	c.DrainTimeout = cmp.Or(c.DrainTimeout, DefaultDrainTimeout)
	c.RetryMaxAttempts = cmp.Or(c.RetryMaxAttempts, DefaultRetryMaxAttempts)
	c.RetryMaxAge = cmp.Or(c.RetryMaxAge, DefaultRetryMaxAge)
	c.RetryInitialInterval = cmp.Or(c.RetryInitialInterval, DefaultRetryInitialInterval)
	c.RetryMaxInterval = cmp.Or(c.RetryMaxInterval, DefaultRetryMaxInterval)
	c.StateTTL = cmp.Or(c.StateTTL, DefaultStateTTL)
	c.HealthInterval = cmp.Or(c.HealthInterval, DefaultHealthInterval)
	c.WorkConcurrency = cmp.Or(c.WorkConcurrency, DefaultWorkConcurrency)
	c.NetverifyConfirm = cmp.Or(c.NetverifyConfirm, ConfirmAuto)
	if c.NotReadySchedule == nil {
		c.NotReadySchedule = jumio.NotReadySchedule
	}
}

// Validate reports every configuration error, wrapping ErrInvalidConfig.
// It does not check the Jumio settings: jumio.NewClient does.
func (c Config) Validate() error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if c.Concurrency < 1 {
		bad("concurrency (KYCFLOW_ENRICHER_CONCURRENCY) must be at least 1")
	}
	if c.MaxAckPending != -1 && c.MaxAckPending < c.Concurrency {
		bad("max ack pending %d (KYCFLOW_ENRICHER_MAX_ACK_PENDING) is below the concurrency %d (KYCFLOW_ENRICHER_CONCURRENCY)", c.MaxAckPending, c.Concurrency)
	}
	if c.AckWait < time.Second {
		bad("ack wait %s (KYCFLOW_ENRICHER_ACK_WAIT) must be at least 1s", c.AckWait)
	}
	if c.DrainTimeout <= 0 {
		bad("drain timeout (KYCFLOW_ENRICHER_DRAIN_TIMEOUT) must be positive")
	}
	if c.PullExpiry != 0 && c.PullExpiry < 100*time.Millisecond {
		bad("pull expiry must be at least 100ms")
	}
	if c.RetryMaxAttempts < 1 || c.RetryMaxAge <= 0 {
		bad("retry max attempts and max age (KYCFLOW_ENRICHER_RETRY_MAX_ATTEMPTS, KYCFLOW_ENRICHER_RETRY_MAX_AGE) must be positive")
	}
	if c.RetryInitialInterval <= 0 || c.RetryMaxInterval < c.RetryInitialInterval {
		bad("retry intervals (KYCFLOW_ENRICHER_RETRY_INITIAL_INTERVAL, KYCFLOW_ENRICHER_RETRY_MAX_INTERVAL) must be positive, the maximum not below the initial one")
	}
	if len(c.NotReadySchedule) == 0 {
		bad("the not-ready schedule (KYCFLOW_ENRICHER_NOT_READY_SCHEDULE) needs at least one delay")
	}
	for _, d := range c.NotReadySchedule {
		if d <= 0 {
			bad("the not-ready schedule (KYCFLOW_ENRICHER_NOT_READY_SCHEDULE) holds a delay that is not a positive duration")
			break
		}
	}
	if c.WorkConcurrency < 1 {
		bad("work concurrency (KYCFLOW_ENRICHER_WORK_CONCURRENCY) must be at least 1")
	}
	if u := c.MigrationCallbackURL; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || len(u) > 255 {
			bad("the migration callback URL (KYCFLOW_ENRICHER_MIGRATION_CALLBACK_URL) is not an http(s) URL of at most 255 characters")
		}
	}
	switch c.NetverifyConfirm {
	case ConfirmAuto, ConfirmOn, ConfirmOff:
	default:
		bad("Netverify confirmation %q (KYCFLOW_ENRICHER_NETVERIFY_CONFIRM) is not auto, true or false", c.NetverifyConfirm)
	}
	if c.StateTTL < time.Minute {
		bad("state TTL (KYCFLOW_ENRICHER_STATE_TTL) must be at least 1m")
	}
	if age := c.NATS.Streams.CallbacksMaxAge; c.StateTTL < age {
		// A callback kept longer than its execution's state (a replay,
		// Jumio's repeat after the duplicate window) would be fetched and
		// enriched again, and could pass a newer one.
		bad("state TTL %s (KYCFLOW_ENRICHER_STATE_TTL) is shorter than the retention of JUMIO_CALLBACKS, %s (KYCFLOW_STREAM_CALLBACKS_MAX_AGE): keep it at least as long", config.FormatDuration(c.StateTTL), config.FormatDuration(age))
	}
	if !c.Reconcile.Disabled {
		if err := c.Reconcile.Validate(); err != nil {
			bad("%s", strings.TrimPrefix(err.Error(), reconcile.ErrInvalidConfig.Error()+": "))
		}
	}
	if _, err := mapping.ParseProducts(c.Products); err != nil {
		bad("products (KYCFLOW_PRODUCTS): %v", err)
	}
	if len(errs) > 0 {
		if len(errs) == 1 {
			return fmt.Errorf("%w: %s", ErrInvalidConfig, errs[0])
		}
		// One per line, so that each reads on its own.
		return fmt.Errorf("%w:\n  %s", ErrInvalidConfig, strings.Join(errs, "\n  "))
	}
	return nil
}
