package migration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// Bucket is the JetStream key-value bucket of the migration: one record
// per scan (ScanKey), per batch (BatchKey) and per account group
// (GroupKey). Renaming it forgets what was migrated: "kycflow
// migrate-data" would ask Jumio again (Jumio refuses the scans it
// migrated already), and callbacks of migrated scans would no longer be
// linked to their Netverify originals.
const Bucket = "kycflow_migration"

// ScanKey is the key of a scan's record: "scan.<scan reference>".
func ScanKey(scanReference string) string { return "scan." + scanReference }

// BatchKey is the key of a batch: "batch.<batch id>".
func BatchKey(id string) string { return "batch." + id }

// GroupKey is the key of an account group's record: "group.<sha256 of
// the group>", so that a user reference is not a key.
func GroupKey(group string) string {
	h := sha256.Sum256([]byte(group))
	return "group." + hex.EncodeToString(h[:16])
}

// Key filters.
const (
	scanKeys  = "scan.>"
	batchKeys = "batch.>"
)

// State is what became of a scan.
type State string

// Scan states. A scan in a batch that has not been sent yet has no record
// of its own: it is queued (see Progress).
const (
	// StateRequested: kycflow asked Jumio to migrate it (or is about to:
	// the record is written before the request leaves). Its callback has
	// not arrived.
	StateRequested State = "requested"
	// StateMigrated: the callback of its migrated copy arrived.
	StateMigrated State = "migrated"
	// StateFailed: Jumio refused it; Class says why.
	StateFailed State = "failed"
)

// Scan is the record of one scan.
type Scan struct {
	State State `json:"state"`
	// Class is Jumio's refusal (StateFailed).
	Class jumio.MigrationClass `json:"class,omitempty"`
	// Batch is the batch that asked for it.
	Batch string `json:"batch,omitempty"`
	// AccountID is the Platform account of the migrated copy, once known
	// (from the callback).
	AccountID string `json:"accountId,omitempty"`
	// Conflict: Jumio answered that the scan was in progress or migrated
	// already when the batch was sent again after an earlier attempt
	// whose request for it may have got through; it counts as requested
	// by that attempt.
	Conflict bool `json:"conflict,omitempty"`
	// Sent: a request of Batch naming the scan may have reached Jumio
	// without an answer saying what became of it (a timeout, a broken
	// connection, a 5xx). Pending: a request naming it is under way (set
	// before it leaves, cleared by its answer); one left pending by a
	// run that stopped counts as sent. Only such a scan's "in progress"
	// or "migrated already" on a later attempt is its own request's doing;
	// Jumio refusing a request whole (a 429, a 503, a 4xx) took nothing.
	Sent    bool `json:"sent,omitempty"`
	Pending bool `json:"pending,omitempty"`
	// Updated is when the record last changed.
	Updated time.Time `json:"updated"`
}

// BatchState is how far a batch is.
type BatchState string

// Batch states.
const (
	// BatchQueued: in the work stream, not taken up yet.
	BatchQueued BatchState = "queued"
	// BatchSent: a runner took it up (requests may have left).
	BatchSent BatchState = "sent"
	// BatchDone: every group was answered.
	BatchDone BatchState = "done"
)

// Batch is one unit of work: account groups whose scans go to Jumio
// together.
type Batch struct {
	ID     string     `json:"id"`
	State  BatchState `json:"state"`
	Groups []Group    `json:"groups"`
	// Attempts counts the runs that took the batch up.
	Attempts int       `json:"attempts,omitempty"`
	Queued   time.Time `json:"queued"`
	Updated  time.Time `json:"updated"`
}

// Group is the scans of one end user (or one scan), migrated into one
// Platform account.
type Group struct {
	// Key names the group: "user:<user reference>" or "scan:<scan
	// reference>". It is kept in the batch (user references hold no
	// personal data, Jumio requires), and only hashed in GroupKey.
	Key string `json:"key"`
	// AccountID is the Platform account to migrate into: one kycflow
	// knew for the user, or the one the group's first request made.
	AccountID      string   `json:"accountId,omitempty"`
	ScanReferences []string `json:"scanReferences"`
	// Done: Jumio answered every scan of the group.
	Done bool `json:"done,omitempty"`
}

// Scans returns the scan references of every group.
func (b Batch) Scans() []string {
	var out []string
	for _, g := range b.Groups {
		out = append(out, g.ScanReferences...)
	}
	return out
}

// groupRecord is the value of a GroupKey.
type groupRecord struct {
	AccountID string    `json:"accountId"`
	Updated   time.Time `json:"updated"`
}

// Errors.
var (
	// ErrBroker wraps failures of the bucket: retry.
	ErrBroker = errors.New("migration: broker")
	// ErrInvalid: a record or a batch that cannot be read or used.
	// Permanent.
	ErrInvalid = errors.New("migration: invalid")
)

// Store is the migration bucket. Its methods are safe for concurrent use;
// updates are compare-and-set.
type Store struct {
	kv  jetstream.KeyValue
	now func() time.Time
}

// StoreConfig places the bucket.
type StoreConfig struct {
	// Storage is "file" (default) or "memory"; Replicas 1 or 3.
	Storage  string
	Replicas int
}

// Ensure creates the bucket, or updates it to cfg; idempotent. Records are
// kept until erased: they hold ids only.
func Ensure(ctx context.Context, js jetstream.JetStream, cfg StoreConfig) (*Store, error) {
	storage := jetstream.FileStorage
	if cfg.Storage == "memory" {
		storage = jetstream.MemoryStorage
	}
	kv, err := broker.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "kycflow migration: per scan, batch and account group, what Jumio was asked and answered",
		History:     1,
		Storage:     storage,
		Replicas:    max(1, cfg.Replicas),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBroker, err)
	}
	return &Store{kv: kv, now: time.Now}, nil
}

// Open returns the bucket if it exists; ok is false when it does not.
func Open(ctx context.Context, js jetstream.JetStream) (*Store, bool, error) {
	kv, err := js.KeyValue(ctx, Bucket)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("%w: bucket %s: %w", ErrBroker, Bucket, err)
	}
	return &Store{kv: kv, now: time.Now}, true, nil
}

// get reads key into v; it returns the revision, 0 when the key does not
// exist.
func (s *Store) get(ctx context.Context, key string, v any) (uint64, error) {
	e, err := s.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("%w: get: %w", ErrBroker, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, fmt.Errorf("%w: record %s does not decode", ErrInvalid, key)
	}
	return e.Revision(), nil
}

// casAttempts bounds the rounds of one compare-and-set update.
const casAttempts = 8

// update applies change to the record of key (decoded into a fresh T,
// zero when absent) with compare-and-set; change reports whether to
// write.
func update[T any](ctx context.Context, s *Store, key string, change func(v *T, exists bool) bool) error {
	for range casAttempts {
		var v T
		rev, err := s.get(ctx, key, &v)
		if err != nil {
			return err
		}
		if !change(&v, rev > 0) {
			return nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("%w: encode %s: %w", ErrInvalid, key, err)
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, key, b)
		} else {
			_, err = s.kv.Update(ctx, key, b, rev)
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			continue
		default:
			return fmt.Errorf("%w: write %s: %w", ErrBroker, key, err)
		}
	}
	return fmt.Errorf("%w: %s contended", ErrBroker, key)
}

// Lookup returns the record of a scan; ok is false when kycflow never
// asked to migrate it.
func (s *Store) Lookup(ctx context.Context, scanReference string) (Scan, bool, error) {
	if !wire.ValidID(scanReference) {
		return Scan{}, false, nil
	}
	var sc Scan
	rev, err := s.get(ctx, ScanKey(scanReference), &sc)
	return sc, rev > 0, err
}

// MarkMigrated records that the callback of a migrated scan arrived, with
// the account of its copy. A scan marked already stays as it is.
func (s *Store) MarkMigrated(ctx context.Context, scanReference, accountID string) error {
	var batch string
	err := update(ctx, s, ScanKey(scanReference), func(sc *Scan, exists bool) bool {
		batch = sc.Batch
		if sc.State == StateMigrated {
			return false
		}
		sc.State, sc.Class, sc.AccountID, sc.Updated = StateMigrated, "", accountID, s.now().UTC()
		return true
	})
	if err != nil || batch == "" || !wire.ValidID(accountID) {
		return err
	}
	return s.learnGroupAccount(ctx, batch, scanReference, accountID)
}

// learnGroupAccount records accountID as the account of the group of
// batch that holds the scan, when the group has none yet: the answer of
// the request that made the account was lost (the retry was told "in
// progress"), and the callback is the first to name it. Without it, the
// end user's next batch would make a second account.
func (s *Store) learnGroupAccount(ctx context.Context, batch, scanReference, accountID string) error {
	b, ok, err := s.Batch(ctx, batch)
	if err != nil || !ok {
		return err
	}
	for _, g := range b.Groups {
		if !slices.Contains(g.ScanReferences, scanReference) {
			continue
		}
		known, err := s.GroupAccount(ctx, g.Key)
		if err != nil || known != "" {
			return err
		}
		return s.setGroupAccount(ctx, g.Key, accountID)
	}
	return nil
}

// setScans moves each scan to state (with class for StateFailed), unless
// it is migrated already or in that state for that batch already.
func (s *Store) setScans(ctx context.Context, refs []string, batch string, state State, class jumio.MigrationClass, conflict bool) error {
	for _, ref := range refs {
		err := update(ctx, s, ScanKey(ref), func(sc *Scan, exists bool) bool {
			if sc.State == StateMigrated || exists && sc.State == state && sc.Class == class && sc.Batch == batch && sc.Conflict == conflict {
				return false
			}
			if sc.Batch != batch {
				sc.Sent, sc.Pending = false, false // another batch's request
			}
			sc.State, sc.Class, sc.Batch, sc.Conflict, sc.Updated = state, class, batch, conflict, s.now().UTC()
			return true
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// request notes what became of a request of batch naming refs: under
// way (pending), or answered (not pending), its answer lost (sent).
func (s *Store) request(ctx context.Context, refs []string, batch string, pending, lost bool) error {
	for _, ref := range refs {
		err := update(ctx, s, ScanKey(ref), func(sc *Scan, exists bool) bool {
			if !exists || sc.State == StateMigrated || sc.Batch != batch || sc.Pending == pending && (sc.Sent || !lost) {
				return false
			}
			sc.Pending, sc.Sent, sc.Updated = pending, sc.Sent || lost, s.now().UTC()
			return true
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Batch returns a batch; ok is false when there is none with the id.
func (s *Store) Batch(ctx context.Context, id string) (Batch, bool, error) {
	var b Batch
	rev, err := s.get(ctx, BatchKey(id), &b)
	return b, rev > 0, err
}

// QueueBatch records a batch as queued; a batch recorded already is left
// as it is (the same batch queued again by a resumed run).
func (s *Store) QueueBatch(ctx context.Context, b Batch) error {
	return update(ctx, s, BatchKey(b.ID), func(v *Batch, exists bool) bool {
		if exists {
			return false
		}
		now := s.now().UTC()
		b.State, b.Queued, b.Updated = BatchQueued, now, now
		*v = b
		return true
	})
}

// saveBatch writes the runner's progress on a batch.
func (s *Store) saveBatch(ctx context.Context, b Batch) error {
	return update(ctx, s, BatchKey(b.ID), func(v *Batch, exists bool) bool {
		b.Updated = s.now().UTC()
		*v = b
		return true
	})
}

// DropScans takes the scans refs out of batch id, left unfinished (an
// erasure of them), and the groups left with none; it returns how many
// it took. A batch that is no longer left as it was ("sent") is not
// changed: ErrBatchBusy.
func (s *Store) DropScans(ctx context.Context, id string, refs []string) (int, error) {
	n := 0
	var busy bool
	err := update(ctx, s, BatchKey(id), func(b *Batch, exists bool) bool {
		n, busy = 0, false
		if !exists {
			return false
		}
		if b.State != BatchSent {
			busy = true
			return false
		}
		for i := range b.Groups {
			g := &b.Groups[i]
			before := len(g.ScanReferences)
			g.ScanReferences = slices.DeleteFunc(slices.Clone(g.ScanReferences), func(ref string) bool { return slices.Contains(refs, ref) })
			n += before - len(g.ScanReferences)
		}
		b.Groups = slices.DeleteFunc(b.Groups, func(g Group) bool { return len(g.ScanReferences) == 0 })
		b.Updated = s.now().UTC()
		return n > 0
	})
	if err == nil && busy {
		err = ErrBatchBusy
	}
	return n, err
}

// ErrBatchBusy: the batch is being sent.
var ErrBatchBusy = errors.New("migration: the batch is being sent")

// GroupAccount returns the account a group's scans were migrated into, ""
// when none yet.
func (s *Store) GroupAccount(ctx context.Context, group string) (string, error) {
	var g groupRecord
	_, err := s.get(ctx, GroupKey(group), &g)
	return g.AccountID, err
}

func (s *Store) setGroupAccount(ctx context.Context, group, accountID string) error {
	return update(ctx, s, GroupKey(group), func(g *groupRecord, exists bool) bool {
		if g.AccountID == accountID {
			return false
		}
		g.AccountID, g.Updated = accountID, s.now().UTC()
		return true
	})
}

// Scans yields every scan record, with its scan reference, as the bucket
// holds them now.
func (s *Store) Scans(ctx context.Context) iter.Seq2[string, Scan] {
	return func(yield func(string, Scan) bool) {
		each(ctx, s, scanKeys, func(key string, sc Scan) bool {
			return yield(strings.TrimPrefix(key, "scan."), sc)
		})
	}
}

// Batches yields every batch as the bucket holds them now.
func (s *Store) Batches(ctx context.Context) iter.Seq[Batch] {
	return func(yield func(Batch) bool) {
		each(ctx, s, batchKeys, func(_ string, b Batch) bool { return yield(b) })
	}
}

// each calls fn for every decodable record under filter, until fn
// returns false; the watcher stops at the last record present.
func each[T any](ctx context.Context, s *Store, filter string, fn func(key string, v T) bool) {
	w, err := s.kv.Watch(ctx, filter, jetstream.IgnoreDeletes())
	if err != nil {
		return
	}
	defer w.Stop() //nolint:errcheck // nothing to do about it
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok || e == nil {
				return
			}
			var v T
			if json.Unmarshal(e.Value(), &v) != nil {
				continue
			}
			if !fn(e.Key(), v) {
				return
			}
		}
	}
}

// Watch follows the scan records: fn gets every record present, then each
// change, until ctx ends or fn returns false. It returns once ctx ends or
// fn stops, or at once with an error when the watch cannot start.
func (s *Store) Watch(ctx context.Context, fn func(scanReference string, sc Scan, initial bool) bool) error {
	w, err := s.kv.Watch(ctx, scanKeys, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("%w: watch: %w", ErrBroker, err)
	}
	defer w.Stop() //nolint:errcheck // nothing to do about it
	initial := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return nil
			}
			if e == nil {
				initial = false
				if !fn("", Scan{}, false) {
					return nil
				}
				continue
			}
			var sc Scan
			if json.Unmarshal(e.Value(), &sc) != nil {
				continue
			}
			if !fn(strings.TrimPrefix(e.Key(), "scan."), sc, initial) {
				return nil
			}
		}
	}
}
