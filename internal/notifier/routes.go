package notifier

import (
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
)

// Route is one validated route of the routes file: which results it takes
// (Filter), how much of each it may see (Policy) and where they go (one
// sink: Webhook or NATS).
type Route struct {
	// Name is the route's name: lower-case letters, digits and '-'. It is
	// API: it names the durable consumer (notifier-<name>), the dead-letter
	// subjects (jumio.dlq.notify-<name>.…) and the delivery records;
	// renaming a route delivers the whole JUMIO_ENRICHED stream to it
	// again.
	Name string
	// Description is free text for people.
	Description string
	// Filter selects the results the route delivers.
	Filter Filter
	// Policy is the field policy applied before delivery.
	Policy events.Policy
	// Webhook, when set, delivers to an HTTPS endpoint.
	Webhook *WebhookRoute
	// NATS, when set, publishes to JUMIO_RESULTS.
	NATS *NATSRoute
	// Retry bounds the attempts of one delivery.
	Retry Retry
	// Concurrency is how many results the route delivers at once (0: the
	// notifier's default).
	Concurrency int
	// Migrated says what the route does with the result of a transaction
	// Jumio migrated from Netverify (events.Result.Migration) when it
	// delivered a Netverify result of the original already: deliver it
	// like any other (default), mark it (Migration.NetverifyDelivered),
	// or suppress it. Results of migrated transactions whose original the
	// route never delivered are delivered either way.
	Migrated MigratedPolicy
	// Line is the line of the route in the routes file.
	Line int
}

// MigratedPolicy is a route's choice for migrated results whose Netverify
// original it delivered.
type MigratedPolicy string

// Migrated policies.
const (
	MigratedDeliver  MigratedPolicy = "deliver"
	MigratedMark     MigratedPolicy = "mark"
	MigratedSuppress MigratedPolicy = "suppress"
)

// Durable is the route's durable consumer on JUMIO_ENRICHED.
func (r Route) Durable() string { return DurablePrefix + r.Name }

// SinkKind is "webhook" or "nats".
func (r Route) SinkKind() string {
	if r.Webhook != nil {
		return SinkWebhook
	}
	return SinkNATS
}

// DurablePrefix starts the durable consumer name of every route. Renaming
// it makes every route start over from the beginning of JUMIO_ENRICHED.
const DurablePrefix = "notifier-"

// Sink kinds.
const (
	SinkWebhook = "webhook"
	SinkNATS    = "nats"
)

// Filter selects results: each non-empty list must contain the result's
// value; empty lists select everything.
type Filter struct {
	// Decision is the decision type (PASSED, WARNING, REJECTED,
	// NOT_EXECUTED).
	Decision []events.DecisionType
	// Status is the workflow status (PROCESSED, SESSION_EXPIRED, …).
	Status []events.Status
	// WorkflowKey is the Platform workflow definition key.
	WorkflowKey []string
	// Product is the product name from the product table.
	Product []string
	// IssuingCountry is the document's ISO 3166-1 alpha-3 country; a
	// result without a document does not match a non-empty list.
	IssuingCountry []string
	// API is platform or netverify.
	API []events.API
}

// Match reports whether r passes the filter. It reads the result before
// any projection.
func (f Filter) Match(r events.Result) bool {
	country := ""
	if r.Document != nil {
		country = r.Document.IssuingCountry
	}
	return in(f.Decision, r.Decision.Type) &&
		in(f.Status, r.Status) &&
		in(f.WorkflowKey, r.Source.WorkflowDefinitionKey) &&
		in(f.Product, r.Source.Product) &&
		in(f.IssuingCountry, country) &&
		in(f.API, r.Source.API)
}

func in[T comparable](list []T, v T) bool { return len(list) == 0 || slices.Contains(list, v) }

// WebhookRoute is a route's webhook sink.
type WebhookRoute struct {
	// URL is the endpoint: https, or http only together with AllowPrivate
	// (and then only to private addresses). It may carry no user
	// information and no fragment.
	URL *url.URL
	// Keys are the signing keys, current one first; every one signs each
	// message (rotation).
	Keys SigningKeys
	// Timeout bounds one attempt, response included.
	Timeout time.Duration
	// AllowPrivate lets the route reach loopback, private and link-local
	// addresses, which are refused otherwise.
	AllowPrivate bool
}

// NATSRoute is a route's NATS sink.
type NATSRoute struct {
	// Prefix is the subject prefix: events.SubjectResults plus up to
	// events.MaxResultPrefixTokens tokens.
	Prefix string
}

// Retry is a route's retry budget: exponential back-off with jitter from
// InitialInterval, doubling up to MaxInterval, for at most MaxAttempts
// attempts; then the result goes to the dead-letter stream.
type Retry struct {
	MaxAttempts     int
	InitialInterval time.Duration
	MaxInterval     time.Duration
}

// Defaults of a route.
const (
	DefaultWebhookTimeout  = 15 * time.Second
	DefaultMaxAttempts     = 15
	DefaultInitialInterval = 5 * time.Second
	DefaultMaxInterval     = time.Hour
	maxRouteNameLen        = 48
	maxWebhookTimeout      = 5 * time.Minute
	maxAttemptsLimit       = 1000
	maxRouteConcurrency    = 1024
)

// SigningKeys are decoded webhook signing keys. They never print.
type SigningKeys struct{ keys [][]byte }

// NewSigningKeys decodes secrets ("whsec_<base64>"), current one first.
func NewSigningKeys(secrets ...string) (SigningKeys, error) {
	var k SigningKeys
	for _, s := range secrets {
		key, err := events.ParseWebhookSecret(s)
		if err != nil {
			return SigningKeys{}, err
		}
		k.keys = append(k.keys, key)
	}
	return k, nil
}

// Len is the number of keys.
func (k SigningKeys) Len() int { return len(k.keys) }

// String never shows the keys.
func (k SigningKeys) String() string { return fmt.Sprintf("[%d keys REDACTED]", len(k.keys)) }

// GoString never shows the keys.
func (k SigningKeys) GoString() string { return k.String() }

// LogValue never shows the keys.
func (k SigningKeys) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Equal reports whether k and o hold the same keys in the same order.
func (k SigningKeys) Equal(o SigningKeys) bool {
	return slices.EqualFunc(k.keys, o.keys, func(a, b []byte) bool { return string(a) == string(b) })
}

// DefaultRoutes is one route, "all-results": every result with every
// field to JUMIO_RESULTS under jumio.results. It suits a notifier started
// without a routes file for a trial ("kycflow run"), where every consumer
// is the operator's own.
func DefaultRoutes() []Route {
	return []Route{{
		Name:   "all-results",
		Policy: events.PolicyFull,
		NATS:   &NATSRoute{Prefix: events.SubjectResults},
		Retry:  Retry{MaxAttempts: DefaultMaxAttempts, InitialInterval: DefaultInitialInterval, MaxInterval: DefaultMaxInterval},
	}}
}
