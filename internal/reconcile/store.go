package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// Sources of a tracked execution.
const (
	// SourceCallback: a non-final callback (INITIATED, ACQUIRED).
	SourceCallback = "callback"
	// SourceEvent: an InitiatedEvent, kycflow initiate's or another
	// service's.
	SourceEvent = "event"
	// SourceOperator: named by an operator ("kycflow reconcile
	// --execution"), whose callbacks were lost (an outage of ingest that
	// Jumio's retries did not cover); due at once.
	SourceOperator = "operator"
)

// Execution is one tracked execution: the value of its key in Bucket
// (JSON). It holds ids and times only.
type Execution struct {
	AccountID           string `json:"accountId"`
	WorkflowExecutionID string `json:"workflowExecutionId"`
	DefinitionKey       string `json:"definitionKey,omitempty"`
	// Source is how it was learnt (SourceCallback, SourceEvent); Origin
	// the announcing service, when the event named one.
	Source string `json:"source"`
	Origin string `json:"origin,omitempty"`
	// Status is the newest status known: INITIATED, ACQUIRED, or what the
	// last status request answered.
	Status string `json:"status"`
	// Since is when the execution was initiated, or when it was first
	// heard of.
	Since time.Time `json:"since"`
	// Deadline is when it is overdue without a final callback.
	Deadline time.Time `json:"deadline"`
	// Checks counts the status requests made; NextCheck, when set, is
	// when the next one is due (after a non-final answer or a failure).
	Checks    int       `json:"checks,omitempty"`
	NextCheck time.Time `json:"nextCheck,omitzero"`
	// LeaseOwner holds the execution until LeaseUntil while it checks it.
	LeaseOwner string    `json:"leaseOwner,omitempty"`
	LeaseUntil time.Time `json:"leaseUntil,omitzero"`
}

// Due is when the execution is next to be checked.
func (x Execution) Due() time.Time {
	if x.NextCheck.After(x.Deadline) {
		return x.NextCheck
	}
	return x.Deadline
}

// Overdue reports whether the execution's deadline passed at now.
func (x Execution) Overdue(now time.Time) bool { return now.After(x.Deadline) }

// leased reports whether another pass holds the execution at now.
func (x Execution) leased(now time.Time) bool { return x.LeaseOwner != "" && now.Before(x.LeaseUntil) }

// Key is the bucket key of an execution, "<account>.<execution>"; ok is
// false when either id is not a UUID (only Platform executions are
// tracked).
func Key(accountID, executionID string) (string, bool) {
	if !wire.ValidID(accountID) || !wire.ValidID(executionID) {
		return "", false
	}
	return strings.ToLower(accountID) + "." + strings.ToLower(executionID), true
}

// Final reports whether a workflow status is final: anything but
// INITIATED and ACQUIRED (and empty). A status Jumio adds later counts as
// final, so that it ends tracking rather than being asked about forever.
func Final(status string) bool {
	switch strings.ToUpper(status) {
	case "", string(events.StatusInitiated), string(events.StatusAcquired):
		return false
	}
	return true
}

// errGone: the key holds no execution any more (ended, or never there).
var errGone = errors.New("reconcile: execution not tracked")

// store is the bucket.
type store struct {
	kv     jetstream.KeyValue
	forget time.Duration
}

// ensureStore creates the bucket or updates it to the configuration;
// idempotent. LimitMarkerTTL lets ended executions be remembered for
// Forget (purge markers with a TTL) without a bucket-wide TTL, which would
// drop executions with long token lifetimes.
func ensureStore(ctx context.Context, js jetstream.JetStream, c Config) (*store, error) {
	storage := jetstream.FileStorage
	if c.Storage == "memory" {
		storage = jetstream.MemoryStorage
	}
	kv, err := broker.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:         Bucket,
		Description:    "kycflow reconciler: workflow executions due a final callback",
		History:        1,
		Storage:        storage,
		Replicas:       c.Replicas,
		LimitMarkerTTL: c.Forget,
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	return &store{kv: kv, forget: c.Forget}, nil
}

// openStore opens an existing bucket (operator commands).
func openStore(ctx context.Context, js jetstream.JetStream) (*store, error) {
	kv, err := js.KeyValue(ctx, Bucket)
	if err != nil {
		return nil, fmt.Errorf("reconcile: bucket %s: %w", Bucket, err)
	}
	return &store{kv: kv}, nil
}

// entry is an execution and the revision it was read at.
type entry struct {
	key string
	x   Execution
	rev uint64
}

func decode(e jetstream.KeyValueEntry) (entry, bool) {
	var x Execution
	if e.Operation() != jetstream.KeyValuePut || json.Unmarshal(e.Value(), &x) != nil {
		return entry{}, false
	}
	return entry{key: e.Key(), x: x, rev: e.Revision()}, true
}

func (s *store) get(ctx context.Context, key string) (entry, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return entry{}, errGone
	}
	if err != nil {
		return entry{}, fmt.Errorf("reconcile: get: %w", err)
	}
	en, ok := decode(e)
	if !ok {
		return entry{}, errGone
	}
	return en, nil
}

// list returns every execution tracked.
func (s *store) list(ctx context.Context) ([]entry, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("reconcile: list: %w", err)
	}
	defer lister.Stop() //nolint:errcheck // the listing is read to its end
	var out []entry
	for key := range lister.Keys() {
		en, err := s.get(ctx, key)
		if errors.Is(err, errGone) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, en)
	}
	slices.SortFunc(out, func(a, b entry) int { return a.x.Due().Compare(b.x.Due()) })
	return out, nil
}

func conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// casAttempts bounds the compare-and-set rounds of one write.
const casAttempts = 8

// track starts tracking x, or merges it into the execution already
// tracked under its key: an ACQUIRED callback brings the deadline forward
// (processing follows acquisition) and the status along, an operator's
// naming it makes it due now. An execution the
// bucket remembers as ended (its purge marker) is not tracked again. It
// reports whether the bucket changed.
func (s *store) track(ctx context.Context, key string, x Execution) (bool, error) {
	b, _ := json.Marshal(x)
	for range casAttempts {
		_, err := s.kv.Update(ctx, key, b, 0)
		if err == nil {
			return true, nil
		}
		if !conflict(err) {
			return false, fmt.Errorf("reconcile: track: %w", err)
		}
		cur, err := s.get(ctx, key)
		if errors.Is(err, errGone) {
			return false, nil // ended (a purge marker), or being replaced
		}
		if err != nil {
			return false, err
		}
		next := cur.x
		if x.Source == SourceOperator {
			// Asked about now, whatever was scheduled.
			if x.Deadline.Before(next.Deadline) {
				next.Deadline = x.Deadline
			}
			next.NextCheck = time.Time{}
		}
		if strings.EqualFold(x.Status, string(events.StatusAcquired)) {
			next.Status = x.Status
			if x.Deadline.Before(next.Deadline) {
				next.Deadline = x.Deadline
			}
		}
		next.DefinitionKey = cmpOr(next.DefinitionKey, x.DefinitionKey)
		next.Origin = cmpOr(next.Origin, x.Origin)
		if next == cur.x {
			return false, nil
		}
		if _, err := s.update(ctx, cur, next); err == nil {
			return true, nil
		} else if !conflict(err) {
			return false, err
		}
	}
	return false, fmt.Errorf("reconcile: track %s: contended", key)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// update writes next over cur if nobody wrote in between.
func (s *store) update(ctx context.Context, cur entry, next Execution) (entry, error) {
	b, _ := json.Marshal(next)
	rev, err := s.kv.Update(ctx, cur.key, b, cur.rev)
	if err != nil {
		if conflict(err) {
			return entry{}, err
		}
		return entry{}, fmt.Errorf("reconcile: update: %w", err)
	}
	return entry{key: cur.key, x: next, rev: rev}, nil
}

// end forgets the execution under key, remembering that it ended for
// Forget. rev, when not 0, makes it conditional on the entry being
// unchanged since read; 0 ends it whatever its state (a final callback
// came).
func (s *store) end(ctx context.Context, key string, rev uint64) error {
	opts := []jetstream.KVDeleteOpt{jetstream.PurgeTTL(s.forget)}
	if rev != 0 {
		opts = append(opts, jetstream.LastRevision(rev))
	}
	if err := s.kv.Purge(ctx, key, opts...); err != nil {
		if conflict(err) {
			return err
		}
		return fmt.Errorf("reconcile: end: %w", err)
	}
	return nil
}
