// Package config reads kycflow's configuration from environment variables
// through a getenv function, so that tests pass their own. Every lookup
// records the variable, its default and its description, so the README's
// table can be checked against the code.
//
// Secrets are read from KEY or, when KEY_FILE is set, from the file it
// names (a mounted Kubernetes Secret); a Secret never prints its value.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Var describes one configuration variable.
type Var struct {
	Key     string
	Default string
	Help    string
	Secret  bool
}

// Env reads typed values from a getenv function and collects parse errors;
// check Err once after reading everything.
type Env struct {
	getenv   func(string) string
	readFile func(string) ([]byte, error)

	mu   sync.Mutex
	vars []Var
	errs []error // *Problem, one per variable
}

// New returns an Env over getenv (os.Getenv in main, a map in tests).
func New(getenv func(string) string) *Env {
	return &Env{getenv: getenv, readFile: os.ReadFile}
}

// FromMap returns an Env over a map, for tests.
func FromMap(m map[string]string) *Env {
	return New(func(k string) string { return m[k] })
}

func (e *Env) record(key, def, help string, secret bool) string {
	e.mu.Lock()
	if !slices.ContainsFunc(e.vars, func(v Var) bool { return v.Key == key }) {
		e.vars = append(e.vars, Var{Key: key, Default: def, Help: help, Secret: secret})
	}
	e.mu.Unlock()
	return strings.TrimSpace(e.getenv(key))
}

// fail records a problem with key; the first problem of each variable
// is kept, so that a variable several stages read is reported once.
func (e *Env) fail(key string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.errs {
		if p.(*Problem).Key == key {
			return
		}
	}
	value := strings.TrimSpace(e.getenv(key))
	if slices.ContainsFunc(e.vars, func(v Var) bool { return v.Key == key && v.Secret }) {
		value = ""
	}
	e.errs = append(e.errs, &Problem{Key: key, Value: value, Err: err})
}

// Invalid records a problem with the variable key that a check after
// reading found (a value out of range, two variables that contradict
// each other). Err reports it with the parse errors.
func (e *Env) Invalid(key string, format string, args ...any) {
	e.fail(key, fmt.Errorf(format, args...))
}

// Problem is what is wrong with one variable.
type Problem struct {
	// Key is the variable.
	Key string
	// Value is its value as set; "" when unset or a secret.
	Value string
	// Err says what is wrong and what is allowed.
	Err error
}

func (p *Problem) Error() string {
	if p.Value == "" {
		return p.Key + ": " + p.Err.Error()
	}
	return fmt.Sprintf("%s=%s: %v", p.Key, quote(p.Value), p.Err)
}

func (p *Problem) Unwrap() error { return p.Err }

// quote quotes v when it holds spaces or characters a shell would read.
func quote(v string) string {
	if strings.ContainsFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:/,=@+", r))
	}) {
		return strconv.Quote(v)
	}
	return v
}

// Error is every configuration problem found, one per variable.
type Error struct {
	Problems []*Problem
}

// Error lists the problems one per line.
func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "configuration: " + e.Problems[0].Error()
	}
	var b strings.Builder
	b.WriteString("configuration:")
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the problems.
func (e *Error) Unwrap() []error {
	out := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = p
	}
	return out
}

// Check records err, when not nil, as the error of variable key: for a
// value that parsed but breaks a rule its reader knows (an http URL where
// https is required).
func (e *Env) Check(key string, err error) {
	if err != nil {
		e.fail(key, err)
	}
}

// Vars returns every variable read so far, in the order first read.
func (e *Env) Vars() []Var {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.vars)
}

// Err returns an *Error with every problem found so far, or nil.
func (e *Env) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.errs) == 0 {
		return nil
	}
	ce := &Error{}
	for _, p := range e.errs {
		ce.Problems = append(ce.Problems, p.(*Problem))
	}
	return ce
}

// String returns the variable or def when unset.
func (e *Env) String(key, def, help string) string {
	if v := e.record(key, def, help, false); v != "" {
		return v
	}
	return def
}

// Checked returns the variable, or def when unset; a value check refuses
// is reported by Err and def is returned instead. check's error must name
// what is wrong without quoting a secret.
func (e *Env) Checked(key, def, help string, check func(string) error) string {
	v := e.String(key, def, help)
	if err := check(v); err != nil {
		e.fail(key, err)
		return def
	}
	return v
}

// Enum returns the variable, which must be one of allowed, or def.
func (e *Env) Enum(key, def, help string, allowed ...string) string {
	v := e.String(key, def, help+" ("+strings.Join(allowed, ", ")+")")
	if !slices.Contains(allowed, v) {
		e.fail(key, fmt.Errorf("want one of %s", strings.Join(allowed, ", ")))
		return def
	}
	return v
}

// Int returns the variable as an integer, or def.
func (e *Env) Int(key string, def int, help string) int {
	v := e.record(key, strconv.Itoa(def), help, false)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.fail(key, errors.New("want an integer"))
		return def
	}
	return n
}

// IntRange returns the variable as an integer from lo to hi, or def.
func (e *Env) IntRange(key string, def, lo, hi int, help string) int {
	n := e.Int(key, def, help)
	if n < lo || n > hi {
		e.fail(key, fmt.Errorf("want an integer from %d to %d", lo, hi))
		return def
	}
	return n
}

// IntMin returns the variable as an integer of at least lo, or def.
func (e *Env) IntMin(key string, def, lo int, help string) int {
	n := e.Int(key, def, help)
	if n < lo {
		e.fail(key, fmt.Errorf("want an integer of at least %d", lo))
		return def
	}
	return n
}

// Int64 returns the variable as a 64-bit integer, or def. Suffixes KiB, MiB
// and GiB are accepted for sizes.
func (e *Env) Int64(key string, def int64, help string) int64 {
	v := e.record(key, strconv.FormatInt(def, 10), help, false)
	if v == "" {
		return def
	}
	n, err := ParseSize(v)
	if err != nil {
		e.fail(key, err)
		return def
	}
	return n
}

// ParseSize reads an integer with an optional KiB, MiB or GiB suffix.
func ParseSize(v string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(v, suffix) {
			mult = m
			v = strings.TrimSpace(strings.TrimSuffix(v, suffix))
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, errors.New("want a size in bytes, such as 65536 or 64KiB")
	}
	return n * mult, nil
}

// Float returns the variable as a float, or def.
func (e *Env) Float(key string, def float64, help string) float64 {
	v := e.record(key, strconv.FormatFloat(def, 'g', -1, 64), help, false)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		e.fail(key, errors.New("want a number"))
		return def
	}
	return f
}

// Bool returns the variable as a boolean (true/false/1/0), or def.
func (e *Env) Bool(key string, def bool, help string) bool {
	v := e.record(key, strconv.FormatBool(def), help, false)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.fail(key, errors.New("want true or false"))
		return def
	}
	return b
}

// Duration returns the variable as a Go duration ("30s", "24h"), or def.
// A "d" suffix counts days ("30d").
func (e *Env) Duration(key string, def time.Duration, help string) time.Duration {
	v := e.record(key, FormatDuration(def), help, false)
	if v == "" {
		return def
	}
	d, err := ParseDuration(v)
	if err != nil {
		e.fail(key, err)
		return def
	}
	return d
}

// PositiveDuration is Duration for a variable that must be above zero:
// 0 or less is refused, never read as def (or as "no limit").
func (e *Env) PositiveDuration(key string, def time.Duration, help string) time.Duration {
	return positive(e, key, e.Duration(key, def, help), def, "want a duration above zero, such as 500ms, 30s or 5m")
}

// PositiveFloat is Float for a variable that must be above zero.
func (e *Env) PositiveFloat(key string, def float64, help string) float64 {
	return positive(e, key, e.Float(key, def, help), def, "want a number above zero")
}

// PositiveSize is Int64 for a size that must be above zero.
func (e *Env) PositiveSize(key string, def int64, help string) int64 {
	return positive(e, key, e.Int64(key, def, help), def, "want a size above zero, such as 65536 or 64KiB")
}

// positive is v when it is above zero; otherwise it records want as the
// variable's problem and returns def.
func positive[T time.Duration | float64 | int64](e *Env, key string, v, def T, want string) T {
	if v <= 0 {
		e.fail(key, errors.New(want))
		return def
	}
	return v
}

// ParseDuration is time.ParseDuration plus whole days ("30d").
func ParseDuration(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, errDuration
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errDuration
	}
	return d, nil
}

var errDuration = errors.New("want a duration, such as 500ms, 30s, 5m, 2h or 30d")

// FormatDuration writes whole days as "30d" and anything else as Go does.
func FormatDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

// List returns the variable split on commas, trimmed, empty items dropped,
// or def when unset.
func (e *Env) List(key string, def []string, help string) []string {
	v := e.record(key, strings.Join(def, ","), help, false)
	if v == "" {
		return slices.Clone(def)
	}
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Secret returns the secret in KEY, or the contents of the file named by
// KEY_FILE (trailing newlines trimmed). Setting both is an error.
func (e *Env) Secret(key, help string) Secret {
	v := e.record(key, "", help+" (or "+key+"_FILE)", true)
	file := strings.TrimSpace(e.getenv(key + "_FILE"))
	switch {
	case v != "" && file != "":
		e.fail(key, fmt.Errorf("set either %s or %s_FILE, not both", key, key))
		return Secret{}
	case file != "":
		b, err := e.readFile(file)
		if err != nil {
			e.fail(key+"_FILE", fmt.Errorf("read secret file: %w", err))
			return Secret{}
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			// A file set for a secret that holds none (a Secret made
			// from an unset shell variable) would turn off what the
			// secret guards, while the operator asked for it.
			e.fail(key+"_FILE", errors.New("the file holds no secret (it is empty)"))
			return Secret{}
		}
		return NewSecret(v)
	}
	return NewSecret(v)
}

// Secret holds a secret value. It never prints, logs or marshals its value;
// call Value where the secret is used.
type Secret struct{ v *string }

// NewSecret wraps v; an empty v is an unset secret.
func NewSecret(v string) Secret {
	if v == "" {
		return Secret{}
	}
	return Secret{v: &v}
}

// Value returns the secret.
func (s Secret) Value() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsSet reports whether the secret has a value.
func (s Secret) IsSet() bool { return s.v != nil }

const redacted = "[REDACTED]"

// String never shows the value.
func (s Secret) String() string {
	if !s.IsSet() {
		return ""
	}
	return redacted
}

// GoString never shows the value.
func (s Secret) GoString() string { return s.String() }

// LogValue never shows the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText never shows the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
