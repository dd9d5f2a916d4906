package notifier

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

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
		// A name is checked even when the route has other problems, so
		// that every problem is reported at once.
		if first, dup := seen[r.Name]; dup && r.Name != "" {
			p.route = r.Name
			p.fail(n, "name", fmt.Errorf("%w: also on line %d", ErrDuplicateRoute, first))
			p.route = ""
			continue
		}
		if r.Name != "" {
			seen[r.Name] = r.Line
		}
		if !ok {
			continue
		}
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
