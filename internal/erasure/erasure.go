// Package erasure keeps what kycflow knows about erasures ("kycflow
// erase"; docs/architecture.md "Erasure"): a record per erasure that a
// run which failed part way leaves for the next run to complete, a marker
// per erased account and execution that tells the enricher to make a
// tombstone of a late callback instead of fetching (or mapping) personal
// data again, and an audit record per run in a stream with long
// retention.
//
// Everything here holds ids, times, stream names, subject filters, Jumio
// endpoints and outcomes, never personal data.
package erasure

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
)

// Wire names; see each comment for what renaming does.
const (
	// Bucket holds the erasure records and the markers of erased ids.
	// Renaming it forgets erasures in progress (their next run starts
	// over, which is safe) and which ids were erased (late callbacks are
	// then enriched again instead of becoming tombstones).
	Bucket = "kycflow_erasures"
	// StreamAudit holds one audit record per erasure run. Renaming it
	// starts a new, empty audit trail next to the old one.
	StreamAudit = "KYCFLOW_AUDIT"
	// SubjectAudit is its subject root: kycflow.audit.erasure.<erasure id>.
	SubjectAudit = "kycflow.audit"
)

// DefaultAuditMaxAge is how long audit records are kept by default: ten
// years.
const DefaultAuditMaxAge = 3650 * 24 * time.Hour

var keyTokenRE = regexp.MustCompile(`^[-_a-zA-Z0-9]+$`)

// token is an id as one key token: the id itself when it is one, else a
// hash of it.
func token(id string) string {
	if keyTokenRE.MatchString(id) {
		return id
	}
	h := sha256.Sum256([]byte(id))
	return "h" + hex.EncodeToString(h[:16])
}

// RecordKey is the key of the erasure of a target.
func RecordKey(t Target) string { return "erasure." + t.ID() }

// AccountMarkerKey and ExecutionMarkerKey are the keys of the markers of
// an erased account and an erased execution (or Netverify scan).
func AccountMarkerKey(accountID string) string { return "erased.account." + token(accountID) }

// ExecutionMarkerKey: see AccountMarkerKey.
func ExecutionMarkerKey(executionID string) string { return "erased.execution." + token(executionID) }

// AuditSubject is the subject of the audit records of an erasure.
func AuditSubject(erasureID string) string { return SubjectAudit + ".erasure." + token(erasureID) }

// Target is what one erasure erases: an account, or one execution (a
// Netverify scan has no account).
type Target struct {
	Account   string `json:"account,omitempty"`
	Execution string `json:"execution,omitempty"`
}

// ID is the erasure id of the target: the same target gives the same id,
// so that a second run finds the first one's record.
func (t Target) ID() string {
	h := sha256.Sum256([]byte("erasure\x00" + t.Account + "\x00" + t.Execution))
	return hex.EncodeToString(h[:12])
}

func (t Target) String() string {
	switch {
	case t.Execution != "" && t.Account != "":
		return "execution " + t.Execution + " of account " + t.Account
	case t.Account != "":
		return "account " + t.Account
	}
	return "execution " + t.Execution
}

// Jumio deletion kinds.
const (
	JumioAccount                 = "platform.account"
	JumioExecution               = "platform.execution"
	JumioNetverifyScan           = "netverify.scan"
	JumioNetverifyAuthentication = "netverify.authentication"
)

// Outcomes of a Jumio step.
const (
	OutcomeDeleted      = "deleted"
	OutcomeNotFound     = "not_found" // Jumio answered 404: gone already
	OutcomeNotConfirmed = ""          // not done yet
)

// JumioStep is one deletion at Jumio.
type JumioStep struct {
	// Kind is JumioAccount, JumioExecution, JumioNetverifyScan or
	// JumioNetverifyAuthentication.
	Kind      string `json:"kind"`
	AccountID string `json:"accountId,omitempty"`
	ID        string `json:"id"`
	// Outcome is "" until done, then deleted or not_found.
	Outcome string    `json:"outcome,omitempty"`
	At      time.Time `json:"at,omitzero"`
}

// LocalStep is one purge in kycflow: a subject filter of a stream (a key
// filter of a bucket is one of its stream, KV_<bucket>).
type LocalStep struct {
	Stream  string    `json:"stream"`
	Filter  string    `json:"filter"`
	Removed uint64    `json:"removed,omitempty"`
	Done    bool      `json:"done,omitempty"`
	At      time.Time `json:"at,omitzero"`
}

// State of an erasure.
const (
	StateInProgress = "in_progress"
	StateCompleted  = "completed"
)

// Record is an erasure: its plan and how far it got. A run writes it
// before deleting anything and after every step.
type Record struct {
	ID     string `json:"id"`
	Target Target `json:"target"`
	State  string `json:"state"`
	// LocalOnly: Jumio was left alone (--local-only).
	LocalOnly bool        `json:"localOnly,omitempty"`
	Jumio     []JumioStep `json:"jumio,omitempty"`
	Local     []LocalStep `json:"local,omitempty"`
	// Executions are the executions (and scans) the erasure covers.
	Executions []string  `json:"executions,omitempty"`
	Runs       int       `json:"runs"`
	Started    time.Time `json:"started"`
	Updated    time.Time `json:"updated"`
	Completed  time.Time `json:"completed,omitzero"`
}

// JumioDone reports whether every Jumio step is done.
func (r Record) JumioDone() bool {
	for _, s := range r.Jumio {
		if s.Outcome == OutcomeNotConfirmed {
			return false
		}
	}
	return true
}

// Marker says that an id was erased, when, and by which erasure.
type Marker struct {
	Erasure string    `json:"erasure"`
	At      time.Time `json:"at"`
}

// Audit is one audit record: what one run of an erasure did.
type Audit struct {
	Erasure string `json:"erasure"`
	Run     int    `json:"run"`
	Target  Target `json:"target"`
	// Executions the erasure covers.
	Executions []string    `json:"executions,omitempty"`
	Started    time.Time   `json:"started"`
	Finished   time.Time   `json:"finished"`
	LocalOnly  bool        `json:"localOnly,omitempty"`
	Jumio      []JumioStep `json:"jumio,omitempty"`
	Local      []LocalStep `json:"local,omitempty"`
	// Outcome is completed, incomplete (a step failed; the next run
	// completes it) or interrupted.
	Outcome string `json:"outcome"`
	// Error says what failed: endpoints, statuses and ids, never personal
	// data.
	Error string `json:"error,omitempty"`
}

// Errors.
var (
	// ErrBroker wraps failures of the bucket or the audit stream.
	ErrBroker = errors.New("erasure: broker")
)

// Config places the bucket and the audit stream.
type Config struct {
	Storage  string
	Replicas int
	// AuditMaxAge is how long audit records are kept (default
	// DefaultAuditMaxAge).
	AuditMaxAge time.Duration
}

func storage(s string) jetstream.StorageType {
	if s == "memory" {
		return jetstream.MemoryStorage
	}
	return jetstream.FileStorage
}

// Registry is the erasure bucket. Its methods are safe for concurrent use.
type Registry struct {
	kv jetstream.KeyValue
}

// Ensure creates the bucket, or updates it; idempotent. Markers and
// records are kept for good: they hold ids only, and a callback may come
// late.
func Ensure(ctx context.Context, js jetstream.JetStream, cfg Config) (*Registry, error) {
	kv, err := broker.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "kycflow erasures: each erasure's plan and progress, and the ids erased",
		History:     1,
		Storage:     storage(cfg.Storage),
		Replicas:    max(1, cfg.Replicas),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBroker, err)
	}
	return &Registry{kv: kv}, nil
}

// EnsureAudit creates the audit stream, or updates it; idempotent.
func EnsureAudit(ctx context.Context, js jetstream.JetStream, cfg Config) error {
	age := cfg.AuditMaxAge
	if age <= 0 {
		age = DefaultAuditMaxAge
	}
	_, err := broker.EnsureStream(ctx, js, jetstream.StreamConfig{
		Name:        StreamAudit,
		Description: "kycflow audit trail: one record per erasure run (ids, times, what was deleted where, outcome)",
		Subjects:    []string{SubjectAudit + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     storage(cfg.Storage),
		Replicas:    max(1, cfg.Replicas),
		MaxAge:      age,
		Discard:     jetstream.DiscardNew,
		AllowDirect: true,
		// Audit records are never removed by kycflow; deny deletes and
		// purges so that nobody removes one by accident through the API.
		DenyDelete: true,
		DenyPurge:  true,
	}, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBroker, err)
	}
	return nil
}

func (g *Registry) get(ctx context.Context, key string, v any) (uint64, error) {
	e, err := g.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("%w: get: %w", ErrBroker, err)
	}
	if json.Unmarshal(e.Value(), v) != nil {
		// Unreadable: treated as absent and overwritten.
		return e.Revision(), nil
	}
	return e.Revision(), nil
}

func (g *Registry) put(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("erasure: encode: %w", err)
	}
	if _, err := g.kv.Put(ctx, key, b); err != nil {
		return fmt.Errorf("%w: put: %w", ErrBroker, err)
	}
	return nil
}

// Record returns the erasure of a target; ok is false when there is none.
func (g *Registry) Record(ctx context.Context, t Target) (Record, bool, error) {
	var r Record
	rev, err := g.get(ctx, RecordKey(t), &r)
	return r, rev > 0 && r.ID != "", err
}

// Save writes an erasure record (one writer at a time: "kycflow erase").
func (g *Registry) Save(ctx context.Context, r Record) error {
	return g.put(ctx, RecordKey(r.Target), r)
}

// Mark records that the account (when not empty) and the executions were
// erased by the erasure, at at. Existing markers are replaced.
func (g *Registry) Mark(ctx context.Context, erasureID string, at time.Time, accountID string, executions ...string) error {
	m := Marker{Erasure: erasureID, At: at.UTC()}
	if accountID != "" {
		if err := g.put(ctx, AccountMarkerKey(accountID), m); err != nil {
			return err
		}
	}
	for _, x := range executions {
		if err := g.put(ctx, ExecutionMarkerKey(x), m); err != nil {
			return err
		}
	}
	return nil
}

// ErasedMarkers returns the erasure markers of the execution and of its
// account (when not empty): when each was erased, and whether it was.
func (g *Registry) ErasedMarkers(ctx context.Context, accountID, executionID string) (execution, account time.Time, err error) {
	if execution, err = g.marker(ctx, ExecutionMarkerKey(executionID)); err != nil || accountID == "" {
		return execution, time.Time{}, err
	}
	if account, err = g.marker(ctx, AccountMarkerKey(accountID)); err != nil {
		return time.Time{}, time.Time{}, err
	}
	return execution, account, nil
}

// marker returns when the marker under key says its id was erased, zero
// when there is none. A marker is there because an erasure wrote it, so
// one that does not read (or says no time) still marks its id erased, as
// of when it was written: read as absent, it would let the erased
// person's data be stored again.
func (g *Registry) marker(ctx context.Context, key string) (time.Time, error) {
	e, err := g.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, fmt.Errorf("%w: get: %w", ErrBroker, err)
	}
	var m Marker
	if json.Unmarshal(e.Value(), &m) != nil || m.At.IsZero() {
		return e.Created().UTC(), nil
	}
	return m.At, nil
}

// Unfinished returns the erasures that are not completed.
func (g *Registry) Unfinished(ctx context.Context) ([]Record, error) {
	w, err := g.kv.Watch(ctx, "erasure.>", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("%w: watch: %w", ErrBroker, err)
	}
	defer w.Stop() //nolint:errcheck // nothing to do about it
	var out []Record
	for {
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok || e == nil {
				return out, nil
			}
			var r Record
			if json.Unmarshal(e.Value(), &r) == nil && r.State != StateCompleted {
				out = append(out, r)
			}
		}
	}
}

// PublishAudit stores an audit record and returns once the stream stored
// it. Its message id is the erasure id and run, so a repeated publish is
// stored once.
func PublishAudit(ctx context.Context, js jetstream.JetStream, a Audit) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("erasure: encode audit: %w", err)
	}
	_, err = js.Publish(ctx, AuditSubject(a.Erasure), b, jetstream.WithMsgID(fmt.Sprintf("audit-%s-%d", a.Erasure, a.Run)))
	if err != nil {
		return fmt.Errorf("%w: audit: %w", ErrBroker, err)
	}
	return nil
}
