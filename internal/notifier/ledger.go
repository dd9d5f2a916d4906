package notifier

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/pkg/events"
)

// DeliveriesBucket is the JetStream key-value bucket of delivery records:
// one key per route, account, execution and status, holding the content
// hash of what was delivered. Renaming it forgets every record, so
// identical repeats (replays without redeliver, duplicate events) would be
// delivered again.
const DeliveriesBucket = "kycflow_notifier_deliveries"

// ContentHash is the hex SHA-256 of a projected result without the fields
// that differ between repeats of the same fact: the event id, the
// callback-sent, received and enriched times, and the mark a "migrated:
// mark" route sets when it delivered the Netverify original
// (Migration.NetverifyDelivered, which may turn true between two attempts
// of one delivery). Two results with the same hash are the same delivery
// for a route, under one delivery id.
func ContentHash(projected events.Result) string {
	r := projected // Project's copy: the pointer fields are not shared
	r.IDs.EventID = ""
	r.Timestamps.CallbackSent = nil
	r.Timestamps.Received = nil
	r.Timestamps.Enriched = nil
	if m := r.Migration; m != nil && m.NetverifyDelivered {
		unmarked := *m
		unmarked.NetverifyDelivered = false
		r.Migration = &unmarked
	}
	b, err := json.Marshal(r)
	if err != nil {
		// A Result always encodes; keep the hash total regardless.
		b = []byte(err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// LedgerKey is the delivery record key of a result for a route:
// <route>.<account>.<execution>.<status>, each part a valid key token.
func LedgerKey(route string, r events.Result) string {
	return route + "." + kvToken(events.AccountToken(r.IDs.AccountID)) + "." + kvToken(r.IDs.WorkflowExecutionID) + "." + kvToken(string(r.Status))
}

// LedgerAccountFilter and LedgerExecutionFilter are the key filters of
// DeliveriesBucket that select every record of an account (of every
// route, execution and status) and of one execution.
func LedgerAccountFilter(accountID string) string {
	return "*." + kvToken(events.AccountToken(accountID)) + ".*.*"
}

// LedgerExecutionFilter: see LedgerAccountFilter.
func LedgerExecutionFilter(executionID string) string {
	return "*.*." + kvToken(executionID) + ".*"
}

// deliveredAny reports whether the route delivered (not dead-lettered) a
// Netverify result of the scan: any record under
// <route>.legacy.<scan reference>.* that holds a delivery.
func (l *ledger) deliveredAny(ctx context.Context, route, scanReference string) (bool, error) {
	keys, err := l.kv.ListKeysFiltered(ctx, route+"."+events.LegacyAccount+"."+kvToken(scanReference)+".*")
	if err != nil {
		return false, fmt.Errorf("notifier: delivery records: %w", err)
	}
	defer keys.Stop() //nolint:errcheck // nothing to do about it
	for key := range keys.Keys() {
		e, err := l.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("notifier: delivery records: %w", err)
		}
		var rec record
		if json.Unmarshal(e.Value(), &rec) != nil {
			continue
		}
		if slices.ContainsFunc(rec.Delivered, func(d delivered) bool { return !d.DeadLettered }) {
			return true, nil
		}
	}
	return false, nil
}

// kvToken keeps s when it holds only letters, digits, '-' and '_' (UUIDs,
// statuses), else writes it "=<base64url>", so that distinct values give
// distinct keys.
func kvToken(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		return s
	}
	return "=" + base64.RawURLEncoding.EncodeToString([]byte(s))
}

// record is the value of a delivery record.
type record struct {
	// Delivered are the results delivered for the key, oldest first (at
	// most maxDelivered).
	Delivered []delivered `json:"delivered,omitempty"`
	// Claim is held while a delivery is being attempted, so that two
	// messages carrying the same result (a duplicate event, two replicas)
	// are not delivered side by side.
	Claim *claim `json:"claim,omitempty"`
	// Failures count the failed sink calls of deliveries not finished yet
	// (at most maxFailures). The retry budget is spent by these, not by
	// JetStream's delivery count, which also counts the waits for a busy
	// key or an unavailable record.
	Failures []failures `json:"failures,omitempty"`
}

type delivered struct {
	Hash    string `json:"hash"`
	ID      string `json:"id"`
	EventID string `json:"eventId"`
	Replay  string `json:"replay,omitempty"`
	// Sent is when Jumio sent the callback of the delivered result.
	Sent time.Time `json:"sent,omitzero"`
	At   time.Time `json:"at"`
	// DeadLettered marks a result that went to the DLQ instead of the
	// sink; for suppression it counts like a delivery.
	DeadLettered bool `json:"deadLettered,omitempty"`
}

// failures are the failed sink calls of one delivery id, and the result
// it carries (Hash, Replay, Sent): a repeat of that result (Jumio's
// callback sent again, with an event id of its own) that comes while the
// delivery waits for its retry goes out under the same id
// (record.pendingID).
type failures struct {
	ID     string `json:"id"`
	N      int    `json:"n"`
	Hash   string `json:"hash,omitempty"`
	Replay string `json:"replay,omitempty"`
	// Sent is the callback time of the result (zero when unknown).
	Sent time.Time `json:"sent,omitzero"`
}

const (
	// maxDelivered bounds the history of one record.
	maxDelivered = 32
	// maxFailures bounds the failure counts of one record.
	maxFailures = 16
)

// check decides about w from the record:
//
//   - suppress: w repeats a delivered result: the last one delivered, or
//     an older one not sent after the newest (a stale repeat, as when a
//     stream is read again from its start). A replay asking for
//     redelivery repeats only what that replay delivered itself.
//   - stale: w is a different result whose callback was sent before the
//     newest one delivered or dead-lettered for the key: delivering it
//     would leave the receiver on an outdated decision (an older result
//     that was retrying while a newer one went through). A replay asking
//     for redelivery is never stale.
//   - deliver: anything else, a result equal to an older one but sent
//     after the newest (a decision that changed and changed back)
//     included.
func (rec record) check(w want) verdict {
	if len(rec.Delivered) == 0 {
		return deliver
	}
	if w.redeliver {
		// A replay delivers a result once; what it dead-lettered it may
		// try again (a redrive of that dead letter).
		if slices.ContainsFunc(rec.Delivered, func(d delivered) bool { return d.Hash == w.hash && d.Replay == w.replay && !d.DeadLettered }) {
			return suppress
		}
		if w.redrive {
			return rec.checkRedrive(w)
		}
		return deliver
	}
	if rec.Delivered[len(rec.Delivered)-1].Hash == w.hash {
		return suppress
	}
	var newest time.Time
	for _, d := range rec.Delivered {
		if d.Sent.After(newest) {
			newest = d.Sent
		}
	}
	switch {
	case !w.sent.IsZero() && w.sent.Before(newest):
		return stale
	case !w.sent.After(newest) && slices.ContainsFunc(rec.Delivered, func(d delivered) bool { return d.Hash == w.hash }):
		return suppress
	}
	return deliver
}

// catchUp notes that w, suppressed as identical to the last result
// delivered, was sent after every result of the record: that delivery
// now stands for the receiver's decision as of w's time, so that a result
// sent between the two (a decision that changed and changed back, its
// middle one late) is stale rather than delivered last. It reports
// whether it changed rec.
func (rec *record) catchUp(w want) bool {
	n := len(rec.Delivered)
	if w.redeliver || w.sent.IsZero() || n == 0 || rec.Delivered[n-1].Hash != w.hash {
		return false
	}
	for _, d := range rec.Delivered {
		if !w.sent.After(d.Sent) {
			return false
		}
	}
	rec.Delivered = slices.Clone(rec.Delivered)
	rec.Delivered[n-1].Sent = w.sent
	return true
}

// checkRedrive decides about the redrive of a dead letter of w: the route
// has moved on when, after the dead letter (its newest entry of w's hash),
// it delivered the same result (suppress: a replay ran first) or one whose
// callback was not sent before w's (stale: the same callback mapped again,
// as after a mapping fix and an enrich replay), or when it ever delivered
// a result sent after w's (stale): delivering the dead letter would leave
// the receiver on an outdated decision. An older result delivered since (an operator's replay of it)
// leaves the redrive standing; so does a record that no longer holds the
// dead letter (its history is bounded).
func (rec record) checkRedrive(w want) verdict {
	at := -1
	for i, d := range slices.Backward(rec.Delivered) {
		if d.DeadLettered && d.Hash == w.hash {
			at = i
			break
		}
	}
	if at < 0 {
		return deliver
	}
	for i, d := range rec.Delivered {
		switch {
		case d.DeadLettered:
		case i > at && d.Hash == w.hash:
			return suppress
		case !w.sent.IsZero() && d.Sent.After(w.sent):
			return stale
		case i > at && (w.sent.IsZero() || d.Sent.IsZero() || !d.Sent.Before(w.sent)):
			return stale
		}
	}
	return deliver
}

// deadLetteredID is the delivery id of the newest dead letter of the
// result with hash, or "" when the record holds none.
func (rec record) deadLetteredID(hash string) string {
	for _, d := range slices.Backward(rec.Delivered) {
		if d.DeadLettered && d.Hash == hash {
			return d.ID
		}
	}
	return ""
}

// pendingID is the id of the newest delivery of the result with hash
// (within replay) whose sink calls failed and which is not finished, or
// "" when there is none. The receiver may have processed one of those
// calls (answered too late, a reset): a repeat goes out under the same
// webhook-id, which it de-duplicates by. A failed delivery whose callback
// was sent before the newest result delivered (or dead-lettered) is
// finished, though its count stays: its retry is stale, and its id is
// one the receiver may have processed and moved on from, so a repeat
// under it would be dropped as a duplicate and the receiver left on the
// result delivered since.
func (rec record) pendingID(hash, replay string) string {
	var newest time.Time
	for _, d := range rec.Delivered {
		if d.Sent.After(newest) {
			newest = d.Sent
		}
	}
	for _, f := range slices.Backward(rec.Failures) {
		// A failure without a time (written before failures had one,
		// or of a result whose callback time is unknown) stays pending,
		// as it was.
		if f.Hash == hash && f.Replay == replay && (f.Sent.IsZero() || !f.Sent.Before(newest)) {
			return f.ID
		}
	}
	return ""
}

// failed returns how many sink calls of delivery id failed.
func (rec record) failed(id string) int {
	for _, f := range rec.Failures {
		if f.ID == id {
			return f.N
		}
	}
	return 0
}

// setFailed sets the failure count of a's delivery; 0 removes it.
func (rec *record) setFailed(a attempt, n int) {
	rec.Failures = slices.DeleteFunc(slices.Clone(rec.Failures), func(f failures) bool { return f.ID == a.id })
	if n > 0 {
		rec.Failures = append(rec.Failures, failures{ID: a.id, N: n, Hash: a.hash, Replay: a.replay, Sent: a.sent})
		if len(rec.Failures) > maxFailures {
			rec.Failures = rec.Failures[len(rec.Failures)-maxFailures:]
		}
	}
}

// with returns the history with d appended, the oldest dropped past
// maxDelivered.
func with(history []delivered, d delivered) []delivered {
	out := append(slices.Clone(history), d)
	if len(out) > maxDelivered {
		out = out[len(out)-maxDelivered:]
	}
	return out
}

type claim struct {
	ID string `json:"id"`
	// Own is the delivery id of the message being delivered (want.id)
	// when ID is another's: a repeat of a result that failed carries the
	// failed delivery's id (pendingID), a redrive its dead letter's, and
	// the id alone does not tell the two messages apart then.
	Own    string `json:"own,omitempty"`
	Hash   string `json:"hash"`
	Replay string `json:"replay,omitempty"`
	// Sent is the callback time of the result being delivered.
	Sent  time.Time `json:"sent,omitzero"`
	Until time.Time `json:"until"`
}

// ledger keeps the delivery records.
type ledger struct {
	kv  jetstream.KeyValue
	now func() time.Time
}

// verdict is what begin decided.
type verdict int

const (
	// deliver: the claim is ours, deliver and then call done or release.
	deliver verdict = iota
	// suppress: the same result was delivered already.
	suppress
	// stale: a newer result was delivered (or dead-lettered) already.
	stale
	// inFlight: another message with the same result is being delivered
	// (a duplicate event racing the first). Its message stays until it is
	// delivered or dead-lettered, so this one adds nothing.
	inFlight
	// busy: a different result for the key is being delivered; try again
	// after the wait.
	busy
)

// busyPoll is the longest wait before a busy key is looked at again.
const busyPoll = time.Second

// attempt is a claim on a key for one delivery.
type attempt struct {
	key string
	rev uint64
	id  string
	// own is the message's own delivery id (want.id; id may be
	// another's, see claim.Own).
	own string
	// hash, replay and sent are the result's (want's).
	hash, replay string
	sent         time.Time
	// prev is the record as it was before the claim.
	prev record
}

// failed is how many sink calls of this delivery failed before.
func (a attempt) failed() int { return a.prev.failed(a.id) }

// repeat reports whether the route delivered this result before: another
// result of the key does not count (a redrive of a result the receiver
// never got, after it got an older one, is news to it), nor does a dead
// letter.
func (a attempt) repeat() bool {
	return slices.ContainsFunc(a.prev.Delivered, func(d delivered) bool { return d.Hash == a.hash && !d.DeadLettered })
}

// want describes the delivery begin is asked about.
type want struct {
	id, hash, eventID string
	replay            string    // replay id, "" when not replayed
	redeliver         bool      // a replay that asks for redelivery
	redrive           bool      // redeliver of a dead letter (events.ReplayMarker.Redrive)
	sent              time.Time // the callback's time, zero when unknown
	hold              time.Duration
}

const ledgerTries = 5

// claim is w's claim under delivery id, held from now for w.hold.
func (w want) claim(id string, now time.Time) *claim {
	c := &claim{ID: id, Hash: w.hash, Replay: w.replay, Sent: w.sent, Until: now.Add(w.hold)}
	if id != w.id {
		c.Own = w.id
	}
	return c
}

// attempt is w's attempt under delivery id, holding key at rev.
func (w want) attempt(key string, rev uint64, id string, prev record) attempt {
	return attempt{key: key, rev: rev, id: id, own: w.id, hash: w.hash, replay: w.replay, sent: w.sent, prev: prev}
}

// owner is the delivery id of the message that holds c.
func (c *claim) owner() string { return cmp.Or(c.Own, c.ID) }

// of reports whether c is the claim of w's own message.
func (c *claim) of(w want) bool { return c.owner() == w.id }

// begin decides whether w is delivered, and when it is, claims the key
// for w.hold. A result identical to the one delivered is suppressed,
// unless the replay asks for redelivery and has not delivered it yet; one
// older than the newest delivered is stale.
func (l *ledger) begin(ctx context.Context, key string, w want) (verdict, attempt, time.Duration, error) {
	// Most results are the first for their key, and an empty record lets
	// every result through (record.check): the claim is written outright,
	// create-only, without reading the record first. Update at revision 0
	// writes only if the key has no record (unlike Create, it does not read
	// the key back when it has one); when it has, the record is read and
	// decided on as usual.
	first := record{Claim: w.claim(w.id, l.now())}
	b, err := json.Marshal(first)
	if err != nil {
		return 0, attempt{}, 0, err
	}
	switch rev, err := l.kv.Update(ctx, key, b, 0); {
	case err == nil:
		return deliver, w.attempt(key, rev, w.id, record{}), 0, nil
	case !conflict(err):
		return 0, attempt{}, 0, fmt.Errorf("notifier: delivery record: %w", err)
	}
	for range ledgerTries {
		rec, rev, err := l.get(ctx, key)
		if err != nil {
			return 0, attempt{}, 0, err
		}
		now := l.now()
		// A delivery in flight for the key is waited for before the
		// record is asked: what it records decides about w. Only a
		// repeat of it, sent no later, is settled at once. The claim of
		// w's own message (a redelivery after its delivery was not
		// recorded) is taken over.
		if c := rec.Claim; c != nil && !c.of(w) && now.Before(c.Until) {
			if c.Hash == w.hash && c.Replay == w.replay && !w.sent.After(c.Sent) {
				return inFlight, attempt{}, 0, nil
			}
			return busy, attempt{}, min(c.Until.Sub(now), busyPoll), nil
		}
		v := rec.check(w)
		if v == suppress && rec.catchUp(w) {
			// The receiver's decision is w's too, as of w's time: a
			// result sent before it is stale from now on.
			if _, err := l.put(ctx, key, rec, rev); conflict(err) {
				continue
			} else if err != nil {
				return 0, attempt{}, 0, err
			}
		}
		if v != deliver {
			return v, attempt{}, 0, nil
		}
		id := w.id
		if w.redrive {
			// A redrive retries the delivery that failed: it carries the
			// id its failed attempts carried (a receiver may have
			// processed one of them; it de-duplicates by webhook-id).
			id = cmp.Or(rec.deadLetteredID(w.hash), id)
		}
		// A repeat of a delivery that failed and waits for its retry
		// is that delivery.
		id = cmp.Or(rec.pendingID(w.hash, w.replay), id)
		prev := rec
		prev.Claim = nil
		next := prev
		next.Claim = w.claim(id, now)
		newRev, err := l.put(ctx, key, next, rev)
		if conflict(err) {
			continue // changed under us: look again
		}
		if err != nil {
			return 0, attempt{}, 0, err
		}
		return deliver, w.attempt(key, newRev, id, prev), 0, nil
	}
	return busy, attempt{}, busyPoll, nil
}

// done records a delivery (or a dead letter) made under a.
func (l *ledger) done(ctx context.Context, a attempt, d delivered) error {
	return l.settle(ctx, a, func(rec *record) {
		rec.Delivered = with(rec.Delivered, d)
		rec.setFailed(a, 0)
	})
}

// release gives up the claim of an attempt that did not deliver; failed
// counts one more failed sink call of its delivery.
func (l *ledger) release(ctx context.Context, a attempt, failed bool) error {
	return l.settle(ctx, a, func(rec *record) {
		if failed {
			rec.setFailed(a, rec.failed(a.id)+1)
		}
	})
}

// settle ends the claim of a: it writes the record as change makes it
// from the record before the claim. When the record changed meanwhile
// (the claim ran out and another delivery took the key), change applies
// to the record as it is now, whose claim is kept while it runs and is
// another delivery's; a claim that is a's own or ran out is cleared, so
// that no other result waits for it.
func (l *ledger) settle(ctx context.Context, a attempt, change func(*record)) error {
	rec, rev := a.prev, a.rev
	for range ledgerTries {
		change(&rec)
		_, err := l.put(ctx, a.key, rec, rev)
		if !conflict(err) {
			return err
		}
		cur, r, err := l.get(ctx, a.key)
		if err != nil || r == 0 {
			return err // r == 0: erased meanwhile, nothing to keep
		}
		if c := cur.Claim; c != nil && (c.ID == a.id && c.owner() == a.own || !l.now().Before(c.Until)) {
			cur.Claim = nil
		}
		rec, rev = cur, r
	}
	return fmt.Errorf("notifier: delivery record: %w", jetstream.ErrKeyRevisionMismatch)
}

// put writes rec under key if its revision is still rev (0: the key does
// not exist) and returns the new revision.
func (l *ledger) put(ctx context.Context, key string, rec record, rev uint64) (uint64, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return 0, err
	}
	if rev == 0 {
		rev, err = l.kv.Create(ctx, key, b)
	} else {
		rev, err = l.kv.Update(ctx, key, b, rev)
	}
	if err != nil && !conflict(err) {
		return 0, fmt.Errorf("notifier: delivery record: %w", err)
	}
	return rev, err
}

// get reads a record; a missing key is an empty record with revision 0.
// A record that does not decode counts as empty and is overwritten.
func (l *ledger) get(ctx context.Context, key string) (record, uint64, error) {
	e, err := l.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return record{}, 0, nil
	}
	if err != nil {
		return record{}, 0, fmt.Errorf("notifier: delivery record: %w", err)
	}
	var rec record
	if json.Unmarshal(e.Value(), &rec) != nil {
		rec = record{}
	}
	return rec, e.Revision(), nil
}

func conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}
