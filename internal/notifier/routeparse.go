package notifier

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kycflow/kycflow/pkg/events"
)

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
	case len(secretFiles) == 0:
		p.fail(secretNode, "webhook", fmt.Errorf("%w: no secret named: secretEnv is empty or secretFiles an empty list", ErrSecret))
	default:
		var all []string
		for _, f := range secretFiles {
			b, err := p.src.ReadFile(f)
			if err != nil {
				p.fail(secretNode, "webhook.secretFiles", fmt.Errorf("%w: cannot read %s", ErrSecret, f))
				continue
			}
			if strings.TrimSpace(string(b)) == "" {
				// A mount that failed during a rotation must not go
				// unnoticed behind the other file's secrets.
				p.fail(secretNode, "webhook.secretFiles", fmt.Errorf("%w: %s holds no secret", ErrSecret, f))
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
