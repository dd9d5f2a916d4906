package reconcile

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kycflow/kycflow/internal/config"
)

// Wire names. They are API: see each comment for what renaming does.
const (
	// Bucket is the key-value bucket of the executions being tracked,
	// keyed "<account>.<execution>" (Key). Renaming it forgets them: their
	// missed callbacks are not reconciled.
	Bucket = "kycflow_reconcile_executions"
	// Durable is the durable consumer, on JUMIO_CALLBACKS (Platform
	// callbacks) and on JUMIO_EXECUTIONS, that feeds the bucket; every
	// replica shares it. Renaming it creates new consumers: the one on
	// JUMIO_CALLBACKS starts with the callbacks stored from then on, the
	// one on JUMIO_EXECUTIONS reads the whole stream again (harmless: the
	// bucket ignores executions it already ended).
	Durable = "reconciler"
)

// Defaults of Config.
const (
	DefaultTokenLifetime = 30 * time.Minute
	DefaultSlack         = 15 * time.Minute
	DefaultInterval      = time.Minute
	DefaultRecheck       = 15 * time.Minute
	DefaultMaxRecheck    = 6 * time.Hour
	DefaultMaxChecks     = 10
	DefaultForget        = 7 * 24 * time.Hour
	DefaultLease         = 5 * time.Minute
	DefaultConcurrency   = 4
)

// ErrInvalidConfig is matched by every error Validate returns.
var ErrInvalidConfig = errors.New("reconcile: invalid configuration")

// Config configures the reconciler.
type Config struct {
	// Disabled turns reconciliation off (KYCFLOW_RECONCILE_ENABLED=false):
	// no consumers, no bucket, no passes.
	Disabled bool
	// TokenLifetime is the token lifetime of executions whose own is not
	// known: those learnt from callbacks and those announced without one.
	// Set it to the tenant's default (Portal: 5 minutes to 60 days; Jumio's
	// default is 30 minutes).
	TokenLifetime time.Duration
	// Slack is the time allowed after the token lifetime for the user's
	// session and Jumio's processing before an execution without a final
	// callback is overdue.
	Slack time.Duration
	// Interval is how often a pass looks for overdue executions.
	Interval time.Duration
	// Recheck is how long after an answer that is not final yet (or a
	// failed status request) an execution is asked again; it doubles with
	// each check, up to MaxRecheck.
	Recheck, MaxRecheck time.Duration
	// MaxChecks is how many status requests an execution gets; when the
	// last is still not final it is given up (counted and logged).
	MaxChecks int
	// Forget is how long an execution that ended (final callback,
	// reconciled, given up) is remembered, so that a late callback or
	// announcement does not start tracking it again.
	Forget time.Duration
	// Lease is how long a pass holds an execution it is checking; another
	// replica takes it over after that when the holder died.
	Lease time.Duration
	// Concurrency is how many executions one pass checks at once.
	Concurrency int

	// Storage ("file" or "memory") and Replicas of the bucket; the enricher
	// passes its stream settings.
	Storage  string
	Replicas int
	// PublishTimeout bounds the publish of a reconciled callback.
	PublishTimeout time.Duration
}

// LoadConfig reads the KYCFLOW_RECONCILE_* variables.
func LoadConfig(e *config.Env) Config {
	return Config{
		Disabled:      !e.Bool("KYCFLOW_RECONCILE_ENABLED", true, "reconcile executions whose final callback does not come"),
		TokenLifetime: e.PositiveDuration("KYCFLOW_RECONCILE_TOKEN_LIFETIME", DefaultTokenLifetime, "token lifetime of executions whose own is not known (the tenant's default)"),
		Slack:         e.PositiveDuration("KYCFLOW_RECONCILE_SLACK", DefaultSlack, "time after the token lifetime before an execution without a final callback is overdue"),
		Interval:      e.PositiveDuration("KYCFLOW_RECONCILE_INTERVAL", DefaultInterval, "how often a pass looks for overdue executions"),
		Recheck:       e.PositiveDuration("KYCFLOW_RECONCILE_RECHECK", DefaultRecheck, "first delay before asking again about an execution not final yet; doubles per check"),
		MaxRecheck:    e.PositiveDuration("KYCFLOW_RECONCILE_MAX_RECHECK", DefaultMaxRecheck, "longest delay between two checks of an execution"),
		MaxChecks:     e.IntMin("KYCFLOW_RECONCILE_MAX_CHECKS", DefaultMaxChecks, 1, "status requests per execution before it is given up"),
		Forget:        e.PositiveDuration("KYCFLOW_RECONCILE_FORGET_AFTER", DefaultForget, "how long an ended execution is remembered"),
	}
}

func (c *Config) setDefaults() {
	c.TokenLifetime = cmp.Or(c.TokenLifetime, DefaultTokenLifetime)
	c.Slack = cmp.Or(c.Slack, DefaultSlack)
	c.Interval = cmp.Or(c.Interval, DefaultInterval)
	c.Recheck = cmp.Or(c.Recheck, DefaultRecheck)
	c.MaxRecheck = cmp.Or(c.MaxRecheck, DefaultMaxRecheck)
	c.MaxChecks = cmp.Or(c.MaxChecks, DefaultMaxChecks)
	c.Forget = cmp.Or(c.Forget, DefaultForget)
	c.Lease = cmp.Or(c.Lease, DefaultLease)
	c.Concurrency = cmp.Or(c.Concurrency, DefaultConcurrency)
	c.Storage = cmp.Or(c.Storage, "file")
	c.Replicas = max(c.Replicas, 1)
	c.PublishTimeout = cmp.Or(c.PublishTimeout, 5*time.Second)
}

// Validate reports every configuration error, wrapping ErrInvalidConfig,
// of the configuration as it runs (defaults applied), naming the
// variables.
func (c Config) Validate() error {
	c.setDefaults()
	var bad []string
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"token lifetime (KYCFLOW_RECONCILE_TOKEN_LIFETIME)", c.TokenLifetime}, {"slack (KYCFLOW_RECONCILE_SLACK)", c.Slack},
		{"interval (KYCFLOW_RECONCILE_INTERVAL)", c.Interval}, {"recheck (KYCFLOW_RECONCILE_RECHECK)", c.Recheck},
		{"lease", c.Lease}, {"publish timeout", c.PublishTimeout},
	} {
		if d.d <= 0 {
			bad = append(bad, d.name+" must be positive")
		}
	}
	if c.MaxRecheck < c.Recheck {
		bad = append(bad, "max recheck (KYCFLOW_RECONCILE_MAX_RECHECK) must not be below recheck (KYCFLOW_RECONCILE_RECHECK)")
	}
	if c.MaxChecks < 1 {
		bad = append(bad, "max checks (KYCFLOW_RECONCILE_MAX_CHECKS) must be at least 1")
	}
	if c.Forget < time.Second {
		bad = append(bad, "forget after (KYCFLOW_RECONCILE_FORGET_AFTER) must be at least 1s")
	}
	if c.Concurrency < 1 {
		bad = append(bad, "concurrency must be at least 1")
	}
	if c.Storage != "file" && c.Storage != "memory" {
		bad = append(bad, "storage must be file or memory")
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(bad, "; "))
	}
	return nil
}
