package enricher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/pkg/events"
)

// recentEvents bounds the event ids remembered per execution. An
// execution gets a callback per status change, a handful at most; an
// event older than the ones remembered is older than the newest too, so
// it is dropped as stale instead of as a duplicate.
const recentEvents = 16

// casAttempts bounds the compare-and-set rounds of one state update; each
// lost round means another worker updated the same execution meanwhile.
const casAttempts = 8

// execState is the value of one execution in StateBucket (JSON).
type execState struct {
	// Newest is the newest callbackSentAt enriched or being enriched
	// (claimed) for the execution.
	Newest time.Time `json:"newest"`
	// Enriched are the event ids recently enriched, oldest first.
	Enriched []string `json:"enriched,omitempty"`
	// Statuses are the workflow statuses enriched for the execution, and
	// Reconciled those of them enriched from a reconciled callback
	// (events.CallbackEvent.Reconciled): the two sides of collapses.
	Statuses   []string `json:"statuses,omitempty"`
	Reconciled []string `json:"reconciled,omitempty"`
	// LastSeq is the sequence in JUMIO_ENRICHED of the newest result
	// recorded for the execution: the next one is published only if its
	// subject still ends there (publishInOrder).
	LastSeq uint64 `json:"lastSeq,omitempty"`
}

// mark is one callback as the state sees it.
type mark struct {
	eventID string
	// sentAt orders the callbacks of the execution (callback.sentAt).
	sentAt     time.Time
	status     string
	reconciled bool
	// seq is where the callback's result is stored in JUMIO_ENRICHED
	// (known once it is published).
	seq uint64
}

func (s execState) enriched(eventID string) bool { return slices.Contains(s.Enriched, eventID) }

// collapses reports whether a callback repeats a status of the execution
// across a reconciliation: a reconciled callback for a status already
// enriched (Jumio's callback came after all, or another reconciliation
// did), or Jumio's callback for a status already enriched from a
// reconciled one (it arrived late). Either is a duplicate: Jumio's status
// API gives no callbackSentAt, so the two cannot share an event id (see
// docs/architecture.md#reconciliation-of-missed-callbacks). Two
// callbacks from Jumio with one status are not collapsed here: the newer
// is enriched again, and the notifier suppresses an identical result.
func (s execState) collapses(m mark) bool {
	if m.status == "" {
		return false
	}
	if m.reconciled {
		return slices.Contains(s.Statuses, m.status)
	}
	return slices.Contains(s.Reconciled, m.status)
}

// stale reports whether a callback sent at t is older than the newest
// one enriched or claimed. One sent at the same time is not stale: it is
// the claim itself, redelivered.
func (s execState) stale(t time.Time) bool { return t.Before(s.Newest) }

// record notes the callback as enriched and moves Newest forward (never
// back).
func (s *execState) record(m mark) {
	if m.sentAt.After(s.Newest) {
		s.Newest = m.sentAt
	}
	s.LastSeq = max(s.LastSeq, m.seq)
	if !s.enriched(m.eventID) {
		s.Enriched = append(s.Enriched, m.eventID)
		if n := len(s.Enriched) - recentEvents; n > 0 {
			s.Enriched = slices.Delete(s.Enriched, 0, n)
		}
	}
	if m.status != "" && !slices.Contains(s.Statuses, m.status) {
		s.Statuses = append(s.Statuses, m.status)
	}
	if m.reconciled && m.status != "" && !slices.Contains(s.Reconciled, m.status) {
		s.Reconciled = append(s.Reconciled, m.status)
	}
}

// errDuplicate, errCollapsed and errStale end processing without output:
// the message is acked and counted.
var (
	errDuplicate = errors.New("event already enriched")
	errCollapsed = errors.New("status already enriched across a reconciliation")
	errStale     = errors.New("a newer callback of the execution was enriched or claimed")
)

// stateStore is the per-execution state in a JetStream key-value bucket.
type stateStore struct {
	kv jetstream.KeyValue
}

// ensureState creates the state bucket, or updates it to the
// configuration; idempotent.
func ensureState(ctx context.Context, js jetstream.JetStream, c Config) (*stateStore, error) {
	storage := jetstream.FileStorage
	if c.NATS.Streams.Storage == "memory" {
		storage = jetstream.MemoryStorage
	}
	kv, err := broker.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      StateBucket,
		Description: "kycflow enricher: newest callback and recent event ids per workflow execution",
		History:     1,
		TTL:         c.StateTTL,
		Storage:     storage,
		Replicas:    max(1, c.NATS.Streams.Replicas),
	})
	if err != nil {
		return nil, fmt.Errorf("enricher: state bucket: %w", err)
	}
	return &stateStore{kv: kv}, nil
}

var kvKeyRE = regexp.MustCompile(`^[-/_=a-zA-Z0-9]+$`)

// StateKey is the key of an execution in StateBucket:
// "<account>.<execution>" ("legacy" for Netverify's missing account),
// readable for operators ("nats kv get kycflow_enricher_executions
// <account>.<execution>"). Ids that cannot be key tokens are hashed
// ("h.<sha256>").
func StateKey(accountID, executionID string) string {
	a, e := events.AccountToken(accountID), events.Token(executionID)
	if kvKeyRE.MatchString(a) && kvKeyRE.MatchString(e) {
		return a + "." + e
	}
	h := sha256.Sum256([]byte(accountID + "\x00" + executionID))
	return "h." + hex.EncodeToString(h[:])
}

// StateKeyFilters are the key filters of StateBucket that select the
// state of an account (accountID set; executions, the account's, each with
// the accounts it appeared under, "" for Netverify's none) or of one
// execution (accountID empty): the account's or the execution's keys with
// a wildcard, and each execution's exact keys, which hashed keys and the
// Netverify originals of migrated executions need.
func StateKeyFilters(accountID string, executions map[string][]string) []string {
	var out []string
	if accountID != "" {
		out = append(out, events.AccountToken(accountID)+".*")
	}
	for x, accounts := range executions {
		if accountID == "" {
			out = append(out, "*."+events.Token(x))
		}
		for _, a := range accounts {
			out = append(out, StateKey(a, x))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// get returns the state of key and its revision (0: none).
func (s *stateStore) get(ctx context.Context, key string) (execState, uint64, error) {
	var st execState
	e, err := s.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return st, 0, nil
	case err != nil:
		return st, 0, fmt.Errorf("%w: state get: %w", ErrBroker, err)
	}
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		// A value this version cannot read is replaced: losing the state
		// of one execution is better than never enriching it.
		return execState{}, e.Revision(), nil
	}
	return st, e.Revision(), nil
}

// update applies change to the state of key with compare-and-set,
// re-reading and re-applying it when another writer got there first.
// change returns whether to write; an error from change ends the update
// and is returned as is.
func (s *stateStore) update(ctx context.Context, key string, change func(*execState) (bool, error)) error {
	for range casAttempts {
		st, rev, err := s.get(ctx, key)
		if err != nil {
			return err
		}
		write, err := change(&st)
		if err != nil || !write {
			return err
		}
		if err := s.put(ctx, key, st, rev); !conflict(err) {
			return err
		}
	}
	return fmt.Errorf("%w: state of %s contended", ErrBroker, key)
}

// put writes st under key if its revision is still rev (0: the key does
// not exist, or holds a deletion marker). A lost race is returned as is
// (conflict).
func (s *stateStore) put(ctx context.Context, key string, st execState, rev uint64) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("enricher: state encode: %w", err)
	}
	if rev == 0 {
		_, err = s.kv.Create(ctx, key, b)
	} else {
		_, err = s.kv.Update(ctx, key, b, rev)
	}
	if err != nil && !conflict(err) {
		return fmt.Errorf("%w: state write: %w", ErrBroker, err)
	}
	return err
}

func conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// claim checks a callback against the state of its execution before it is
// fetched: errDuplicate when its event id was enriched, errCollapsed when
// it collapses with a status enriched across a reconciliation, errStale
// when a newer callback was enriched or claimed; otherwise it claims the
// execution for callbacks sent at m.sentAt (later ones stay welcome).
//
// Most callbacks are the first of their execution: the state is created
// outright, a single write without a read. Only when the execution has a
// state already is it read and updated with compare-and-set.
func (s *stateStore) claim(ctx context.Context, key string, m mark) error {
	b, err := json.Marshal(execState{Newest: m.sentAt})
	if err != nil {
		return fmt.Errorf("enricher: state encode: %w", err)
	}
	// Update with revision 0 writes only if the key has no value; unlike
	// Create it does not read the key back when it has one.
	_, err = s.kv.Update(ctx, key, b, 0)
	switch {
	case err == nil:
		return nil
	case !conflict(err):
		return fmt.Errorf("%w: state write: %w", ErrBroker, err)
	}
	return s.update(ctx, key, func(st *execState) (bool, error) {
		switch {
		case st.enriched(m.eventID):
			return false, errDuplicate
		case st.collapses(m):
			return false, errCollapsed
		case st.stale(m.sentAt):
			return false, errStale
		case m.sentAt.After(st.Newest):
			st.Newest = m.sentAt
			return true, nil
		}
		return false, nil
	})
}

// seen is the state of an execution as check read it, for record.
type seen struct {
	st  execState
	rev uint64
}

// check is claim's second look, after fetching and before publishing: a
// newer callback may have claimed the execution meanwhile, or the same
// event been enriched by another worker. It returns what it read.
func (s *stateStore) check(ctx context.Context, key string, m mark) (seen, error) {
	st, rev, err := s.get(ctx, key)
	switch {
	case err != nil:
		return seen{}, err
	case st.enriched(m.eventID):
		return seen{}, errDuplicate
	case st.collapses(m):
		return seen{}, errCollapsed
	case st.stale(m.sentAt):
		return seen{}, errStale
	}
	return seen{st: st, rev: rev}, nil
}

// record notes the callback m as enriched. With what check read
// (prev, nil for a replay, which does not check) it writes at once with
// compare-and-set on that revision, without reading the state again;
// when another writer changed it meanwhile, it reads and updates as usual.
func (s *stateStore) record(ctx context.Context, key string, m mark, prev *seen) error {
	if prev != nil {
		st := prev.st
		st.Enriched = slices.Clone(st.Enriched)
		st.record(m)
		if err := s.put(ctx, key, st, prev.rev); !conflict(err) {
			return err
		}
	}
	return s.update(ctx, key, func(st *execState) (bool, error) {
		st.record(m)
		return true, nil
	})
}
