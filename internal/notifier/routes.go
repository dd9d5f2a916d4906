package notifier

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kycflow/kycflow/internal/config"
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

// Errors of the routes file. A *RoutesError lists every problem found;
// each *RouteError in it wraps one of these.
var (
	// ErrInvalidRoutes matches every routes file error.
	ErrInvalidRoutes = errors.New("notifier: invalid routes file")
	// ErrUnknownKey: a key the format does not have (a typo, usually).
	ErrUnknownKey = errors.New("unknown key")
	// ErrMissing: a required key is missing or empty.
	ErrMissing = errors.New("missing")
	// ErrDuplicateRoute: two routes have the same name.
	ErrDuplicateRoute = errors.New("duplicate route name")
	// ErrInvalidValue: a value of the wrong type or out of range.
	ErrInvalidValue = errors.New("invalid value")
	// ErrBadURL: a webhook URL that is not allowed.
	ErrBadURL = errors.New("webhook URL not allowed")
	// ErrSecret: a signing secret that is not set, not readable or
	// malformed.
	ErrSecret = errors.New("webhook secret")
	// ErrSink: a route with no sink or with two.
	ErrSink = errors.New("a route needs exactly one sink: webhook or nats")
)

// RouteError is one problem in the routes file, at a line, in a route
// (when known), at a key path ("webhook.url").
type RouteError struct {
	File  string
	Line  int
	Route string
	Key   string
	Err   error
}

func (e *RouteError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Route != "" {
		b.WriteString("route " + strconv.Quote(e.Route) + ": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *RouteError) Unwrap() error { return e.Err }

// Is makes every RouteError match ErrInvalidRoutes.
func (e *RouteError) Is(target error) bool { return target == ErrInvalidRoutes }

// RoutesError lists every problem of a routes file, in file order.
type RoutesError struct {
	Errs []*RouteError
}

func (e *RoutesError) Error() string {
	lines := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		lines[i] = err.Error()
	}
	return "notifier: invalid routes file:\n  " + strings.Join(lines, "\n  ")
}

// Unwrap gives the individual problems to errors.Is and errors.As.
func (e *RoutesError) Unwrap() []error {
	out := make([]error, len(e.Errs))
	for i, err := range e.Errs {
		out[i] = err
	}
	return out
}

// Is makes a RoutesError match ErrInvalidRoutes.
func (e *RoutesError) Is(target error) bool { return target == ErrInvalidRoutes }

// SecretSource reads the secrets a routes file names: environment
// variables (secretEnv) and files (secretFiles).
type SecretSource struct {
	// Getenv looks up a variable (os.Getenv in main).
	Getenv func(string) string
	// ReadFile reads a file (default os.ReadFile).
	ReadFile func(string) ([]byte, error)
}

// LoadRoutes reads and validates the routes file at path, with secrets
// from getenv and from files. Any problem fails the whole file (a
// *RoutesError naming each line and route): a notifier never starts with
// part of its routes.
func LoadRoutes(path string, getenv func(string) string) ([]Route, error) {
	if path == "" {
		return nil, &RoutesError{Errs: []*RouteError{{File: "routes file", Err: fmt.Errorf("%w: no routes file configured (KYCFLOW_NOTIFIER_ROUTES_FILE)", ErrMissing)}}}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("notifier: routes file: %w", err)
	}
	return ParseRoutes(path, data, SecretSource{Getenv: getenv})
}

// ValidateRoutesFile checks the routes file at path as the notifier would
// at start, secrets included, without starting anything.
func ValidateRoutesFile(path string, getenv func(string) string) error {
	_, err := LoadRoutes(path, getenv)
	return err
}

// ParseRoutes parses and validates a routes file; file names it in errors.
// See the README's "Routes" section for the format.
func ParseRoutes(file string, data []byte, src SecretSource) ([]Route, error) {
	if src.Getenv == nil {
		src.Getenv = func(string) string { return "" }
	}
	if src.ReadFile == nil {
		src.ReadFile = os.ReadFile
	}
	p := &parser{file: file, src: src}
	routes := p.parse(data)
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *RouteError) int { return a.Line - b.Line })
		return nil, &RoutesError{Errs: p.errs}
	}
	return routes, nil
}

type parser struct {
	file  string
	src   SecretSource
	route string // the route being parsed, for errors
	errs  []*RouteError
}

func (p *parser) fail(n *yaml.Node, key string, err error) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.errs = append(p.errs, &RouteError{File: p.file, Line: line, Route: p.route, Key: key, Err: err})
}

func (p *parser) parse(data []byte) []Route {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := syntaxErrorLine(data, err)
		p.errs = append(p.errs, &RouteError{File: p.file, Line: line, Err: fmt.Errorf("%w: not YAML: %s", ErrInvalidValue, msg)})
		return nil
	}
	if len(doc.Content) == 0 {
		p.fail(nil, "routes", fmt.Errorf("%w: the file is empty", ErrMissing))
		return nil
	}
	top := deref(doc.Content[0])
	var routesNode *yaml.Node
	p.mapping(top, "", func(key string, k, v *yaml.Node) {
		switch key {
		case "routes":
			routesNode = v
		default:
			p.fail(k, key, ErrUnknownKey)
		}
	})
	if routesNode == nil {
		p.fail(top, "routes", ErrMissing)
		return nil
	}
	if routesNode.Kind != yaml.SequenceNode || len(routesNode.Content) == 0 {
		p.fail(routesNode, "routes", fmt.Errorf("%w: want a list of at least one route", ErrMissing))
		return nil
	}
	var routes []Route
	seen := map[string]int{}
	for _, n := range routesNode.Content {
		r, ok := p.parseRoute(deref(n))
		if !ok {
			continue
		}
		if first, dup := seen[r.Name]; dup {
			p.route = r.Name
			p.fail(n, "name", fmt.Errorf("%w: also on line %d", ErrDuplicateRoute, first))
			p.route = ""
			continue
		}
		seen[r.Name] = r.Line
		routes = append(routes, r)
	}
	return routes
}

// yamlLineRE is the "yaml: line N: " that starts a YAML syntax error.
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): `)

// syntaxErrorLine returns the line of a YAML syntax error and its message
// without the line. The YAML parser names the line where the construct
// around the error began (for a wrong indentation in a list of routes,
// the line of "routes:"); the line is the first whose end makes the file
// fail the same way, which is where it went wrong.
func syntaxErrorLine(data []byte, err error) (int, string) {
	msg := err.Error()
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	lines := strings.SplitAfter(string(data), "\n")
	for n := 1; n <= len(lines); n++ {
		var doc yaml.Node
		perr := yaml.Unmarshal([]byte(strings.Join(lines[:n], "")), &doc)
		if perr != nil && yamlLineRE.ReplaceAllString(perr.Error(), "") == msg {
			return n, msg
		}
	}
	return line, msg
}

var routeName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// parseRoute reads one route; ok is false when it has errors.
func (p *parser) parseRoute(n *yaml.Node) (Route, bool) {
	before := len(p.errs)
	r := Route{Line: n.Line}
	p.route = ""
	defer func() { p.route = "" }()
	if n.Kind != yaml.MappingNode {
		p.fail(n, "", fmt.Errorf("%w: a route is a mapping", ErrInvalidValue))
		return r, false
	}
	// The name first, so that every other error can name the route.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" {
			v := deref(n.Content[i+1])
			p.route = strings.TrimSpace(v.Value)
			name, ok := p.str(v, "name")
			switch {
			case !ok:
			case !routeName.MatchString(name) || len(name) > maxRouteNameLen:
				p.fail(v, "name", fmt.Errorf("%w: %q: want lower-case letters, digits and '-', at most %d characters", ErrInvalidValue, name, maxRouteNameLen))
			default:
				r.Name = name
			}
		}
	}
	var webhookNode, natsNode *yaml.Node
	var policySet bool
	p.mapping(n, "", func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
		case "description":
			r.Description, _ = p.str(v, key)
		case "filter":
			r.Filter = p.filter(v)
		case "policy":
			s, ok := p.str(v, key)
			if !ok {
				return
			}
			pol, err := events.ParsePolicy(s)
			if err != nil {
				p.fail(v, key, fmt.Errorf("%w: %w", ErrInvalidValue, err))
				return
			}
			r.Policy, policySet = pol, true
		case "webhook":
			webhookNode = v
		case "nats":
			natsNode = v
		case "retry":
			r.Retry = p.retry(v)
		case "concurrency":
			r.Concurrency = p.intIn(v, key, 1, maxRouteConcurrency)
		case "migrated":
			s, ok := p.str(v, key)
			if !ok {
				return
			}
			switch m := MigratedPolicy(strings.ToLower(strings.TrimSpace(s))); m {
			case MigratedDeliver, MigratedMark, MigratedSuppress:
				r.Migrated = m
			default:
				p.fail(v, key, fmt.Errorf("%w: %q: want deliver, mark or suppress", ErrInvalidValue, s))
			}
		default:
			p.fail(k, key, ErrUnknownKey)
		}
	})
	if r.Name == "" && len(p.errs) == before {
		p.fail(n, "name", ErrMissing)
	}
	if !policySet && !slices.ContainsFunc(p.errs[before:], func(e *RouteError) bool { return e.Key == "policy" }) {
		p.fail(n, "policy", fmt.Errorf("%w: say what the route may see (full, no_pii or decision_only)", ErrMissing))
	}
	switch {
	case webhookNode != nil && natsNode != nil:
		p.fail(natsNode, "nats", ErrSink)
	case webhookNode != nil:
		r.Webhook = p.webhook(webhookNode)
	case natsNode != nil:
		r.NATS = p.nats(natsNode)
	default:
		p.fail(n, "", ErrSink)
	}
	if r.Retry == (Retry{}) {
		r.Retry = Retry{MaxAttempts: DefaultMaxAttempts, InitialInterval: DefaultInitialInterval, MaxInterval: DefaultMaxInterval}
	}
	if r.Migrated == "" {
		r.Migrated = MigratedDeliver
	}
	return r, len(p.errs) == before
}

func (p *parser) filter(n *yaml.Node) Filter {
	var f Filter
	p.mapping(n, "filter", func(key string, k, v *yaml.Node) {
		path := "filter." + key
		switch key {
		case "decision":
			f.Decision = enum(p, v, path, upper, knownDecisions)
		case "status":
			f.Status = enum(p, v, path, upper, knownStatuses)
		case "workflowKey":
			f.WorkflowKey = p.list(v, path, strings.TrimSpace)
		case "product":
			f.Product = p.list(v, path, strings.TrimSpace)
		case "issuingCountry":
			for _, s := range p.list(v, path, upper) {
				if !isAlpha3(s) {
					p.fail(v, path, fmt.Errorf("%w: %q is not an ISO 3166-1 alpha-3 code", ErrInvalidValue, s))
					continue
				}
				f.IssuingCountry = append(f.IssuingCountry, s)
			}
		case "api":
			f.API = enum(p, v, path, strings.ToLower, []events.API{events.APIPlatform, events.APINetverify})
		default:
			p.fail(k, path, ErrUnknownKey)
		}
	})
	return f
}

var (
	knownDecisions = []events.DecisionType{events.DecisionPassed, events.DecisionWarning, events.DecisionRejected, events.DecisionNotExecuted}
	knownStatuses  = []events.Status{events.StatusInitiated, events.StatusAcquired, events.StatusProcessed, events.StatusSessionExpired, events.StatusTokenExpired, "UNKNOWN"}
)

// enum reads a list of values that must each be one of known.
func enum[T ~string](p *parser, v *yaml.Node, path string, norm func(string) string, known []T) []T {
	var out []T
	for _, s := range p.list(v, path, norm) {
		if !slices.Contains(known, T(s)) {
			p.fail(v, path, fmt.Errorf("%w: %q (want %s)", ErrInvalidValue, s, joinAny(known)))
			continue
		}
		out = append(out, T(s))
	}
	return out
}

func joinAny[T ~string](list []T) string {
	s := make([]string, len(list))
	for i, v := range list {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

func upper(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

func isAlpha3(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range 3 {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func (p *parser) webhook(n *yaml.Node) *WebhookRoute {
	w := &WebhookRoute{Timeout: DefaultWebhookTimeout}
	var urlNode, secretNode *yaml.Node
	var rawURL, secretEnv string
	var secretFiles []string
	p.mapping(n, "webhook", func(key string, k, v *yaml.Node) {
		path := "webhook." + key
		switch key {
		case "url":
			rawURL, _ = p.str(v, path)
			urlNode = v
		case "secretEnv":
			if secretNode != nil {
				p.fail(v, path, fmt.Errorf("%w: set secretEnv or secretFiles, not both", ErrSecret))
			}
			secretEnv, _ = p.str(v, path)
			secretNode = v
		case "secretFiles":
			if secretNode != nil {
				p.fail(v, path, fmt.Errorf("%w: set secretEnv or secretFiles, not both", ErrSecret))
			}
			secretFiles = p.list(v, path, strings.TrimSpace)
			secretNode = v
		case "timeout":
			if d, ok := p.duration(v, path); ok {
				if d <= 0 || d > maxWebhookTimeout {
					p.fail(v, path, fmt.Errorf("%w: %s (want above 0 and at most %s)", ErrInvalidValue, d, maxWebhookTimeout))
				} else {
					w.Timeout = d
				}
			}
		case "allowPrivate":
			w.AllowPrivate, _ = p.bool(v, path)
		default:
			p.fail(k, path, ErrUnknownKey)
		}
	})
	if urlNode == nil {
		p.fail(n, "webhook.url", ErrMissing)
	} else if rawURL != "" {
		u, err := ParseWebhookURL(rawURL, w.AllowPrivate)
		if err != nil {
			p.fail(urlNode, "webhook.url", err)
		}
		w.URL = u
	}
	switch {
	case secretNode == nil:
		p.fail(n, "webhook", fmt.Errorf("%w: missing: set secretEnv or secretFiles", ErrSecret))
	case secretEnv != "":
		v := p.src.Getenv(secretEnv)
		if strings.TrimSpace(v) == "" {
			p.fail(secretNode, "webhook.secretEnv", fmt.Errorf("%w: environment variable %s is not set", ErrSecret, secretEnv))
			return w
		}
		w.Keys = p.keys(secretNode, "webhook.secretEnv", secretEnv, v)
	case len(secretFiles) > 0:
		var all []string
		for _, f := range secretFiles {
			b, err := p.src.ReadFile(f)
			if err != nil {
				p.fail(secretNode, "webhook.secretFiles", fmt.Errorf("%w: cannot read %s", ErrSecret, f))
				continue
			}
			all = append(all, string(b))
		}
		if len(all) == len(secretFiles) {
			w.Keys = p.keys(secretNode, "webhook.secretFiles", strings.Join(secretFiles, ", "), strings.Join(all, " "))
		}
	}
	return w
}

// keys decodes the secrets in text (separated by spaces, commas or line
// breaks); where names their source in errors. Errors never hold a secret.
func (p *parser) keys(n *yaml.Node, path, where, text string) SigningKeys {
	secrets := strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	if len(secrets) == 0 {
		p.fail(n, path, fmt.Errorf("%w: %s holds no secret", ErrSecret, where))
		return SigningKeys{}
	}
	var k SigningKeys
	for i, s := range secrets {
		key, err := events.ParseWebhookSecret(s)
		if err != nil {
			p.fail(n, path, fmt.Errorf("%w: secret %d of %s: %w", ErrSecret, i+1, where, err))
			continue
		}
		k.keys = append(k.keys, key)
	}
	return k
}

// ParseWebhookURL parses and checks a webhook URL: https (http only with
// allowPrivate), a host, no user information, no fragment, and, when the
// host is a literal address, a public one unless allowPrivate. Names are
// checked when dialled. Errors match ErrBadURL.
func ParseWebhookURL(raw string, allowPrivate bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: does not parse", ErrBadURL)
	}
	switch {
	case u.Scheme == "http" && !allowPrivate:
		return nil, fmt.Errorf("%w: plain http only with allowPrivate: true (and then only to private addresses); use https", ErrBadURL)
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("%w: scheme %q, want https", ErrBadURL, u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%w: no host", ErrBadURL)
	case u.User != nil:
		return nil, fmt.Errorf("%w: credentials in the URL; secrets come from secretEnv or secretFiles", ErrBadURL)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, fmt.Errorf("%w: fragment", ErrBadURL)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: port %q", ErrBadURL, port)
		}
	}
	if addr, err := netip.ParseAddr(u.Hostname()); err == nil && !allowPrivate && !publicAddr(addr) {
		return nil, fmt.Errorf("%w: %s is not a public address; set allowPrivate: true to allow it", ErrBadURL, addr)
	}
	return u, nil
}

func (p *parser) nats(n *yaml.Node) *NATSRoute {
	r := &NATSRoute{Prefix: events.SubjectResults}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return r // "nats:" alone: the default prefix
	}
	p.mapping(n, "nats", func(key string, k, v *yaml.Node) {
		switch key {
		case "prefix":
			s, ok := p.str(v, "nats.prefix")
			if !ok {
				return
			}
			if err := events.ValidateResultPrefix(s); err != nil {
				p.fail(v, "nats.prefix", fmt.Errorf("%w: %w", ErrInvalidValue, err))
				return
			}
			r.Prefix = s
		default:
			p.fail(k, "nats."+key, ErrUnknownKey)
		}
	})
	return r
}

func (p *parser) retry(n *yaml.Node) Retry {
	r := Retry{MaxAttempts: DefaultMaxAttempts, InitialInterval: DefaultInitialInterval, MaxInterval: DefaultMaxInterval}
	var maxNode *yaml.Node
	p.mapping(n, "retry", func(key string, k, v *yaml.Node) {
		path := "retry." + key
		switch key {
		case "maxAttempts":
			r.MaxAttempts = p.intIn(v, path, 1, maxAttemptsLimit)
		case "initialInterval":
			if d, ok := p.duration(v, path); ok {
				if d <= 0 {
					p.fail(v, path, fmt.Errorf("%w: must be positive", ErrInvalidValue))
				}
				r.InitialInterval = d
			}
		case "maxInterval":
			if d, ok := p.duration(v, path); ok {
				r.MaxInterval = d
				maxNode = v
			}
		default:
			p.fail(k, path, ErrUnknownKey)
		}
	})
	if r.MaxInterval < r.InitialInterval {
		p.fail(cmpNode(maxNode, n), "retry.maxInterval", fmt.Errorf("%w: %s is below initialInterval %s", ErrInvalidValue, r.MaxInterval, r.InitialInterval))
	}
	return r
}

func cmpNode(a, b *yaml.Node) *yaml.Node {
	if a != nil {
		return a
	}
	return b
}

// mapping calls fn for each key of mapping node n; path names n in errors.
func (p *parser) mapping(n *yaml.Node, path string, fn func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, fmt.Errorf("%w: want a mapping", ErrInvalidValue))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		if seen[k.Value] {
			p.fail(k, join(path, k.Value), fmt.Errorf("%w: key given twice", ErrInvalidValue))
			continue
		}
		seen[k.Value] = true
		fn(k.Value, k, v)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func (p *parser) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || n.Tag == "!!map" || n.Tag == "!!seq" {
		p.fail(n, path, fmt.Errorf("%w: want a string", ErrInvalidValue))
		return "", false
	}
	s := strings.TrimSpace(n.Value)
	if s == "" {
		p.fail(n, path, fmt.Errorf("%w: empty", ErrMissing))
		return "", false
	}
	return s, true
}

func (p *parser) list(n *yaml.Node, path string, norm func(string) string) []string {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, path, fmt.Errorf("%w: want a list", ErrInvalidValue))
		return nil
	}
	var out []string
	for _, item := range n.Content {
		s, ok := p.str(deref(item), path)
		if !ok {
			continue
		}
		s = norm(s)
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func (p *parser) bool(n *yaml.Node, path string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		p.fail(n, path, fmt.Errorf("%w: want true or false", ErrInvalidValue))
		return false, false
	}
	b, err := strconv.ParseBool(strings.ToLower(n.Value))
	if err != nil {
		p.fail(n, path, fmt.Errorf("%w: want true or false", ErrInvalidValue))
		return false, false
	}
	return b, true
}

func (p *parser) intIn(n *yaml.Node, path string, lo, hi int) int {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		p.fail(n, path, fmt.Errorf("%w: want a whole number", ErrInvalidValue))
		return 0
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < lo || v > hi {
		p.fail(n, path, fmt.Errorf("%w: %s (want %d to %d)", ErrInvalidValue, n.Value, lo, hi))
		return 0
	}
	return v
}

func (p *parser) duration(n *yaml.Node, path string) (time.Duration, bool) {
	s, ok := p.str(n, path)
	if !ok {
		return 0, false
	}
	d, err := config.ParseDuration(s)
	if err != nil {
		p.fail(n, path, fmt.Errorf("%w: %q is not a duration (\"10s\", \"5m\")", ErrInvalidValue, s))
		return 0, false
	}
	return d, true
}

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
