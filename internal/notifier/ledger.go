package notifier

import (
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
// that differ between repeats of the same fact: the event id and the
// callback-sent, received and enriched times. Two results with the same
// hash are the same delivery for a route.
func ContentHash(projected events.Result) string {
	r := projected // Project's copy: the pointer fields are not shared
	r.IDs.EventID = ""
	r.Timestamps.CallbackSent = nil
	r.Timestamps.Received = nil
	r.Timestamps.Enriched = nil
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

// maxDelivered bounds the history of one record.
const maxDelivered = 32

// seen reports whether w repeats a delivered result: the last one
// delivered, or an older one that a newer fact superseded (a stale
// repeat, as when a stream is read again from its start). A result equal
// to an older one but sent after the newest (a decision that changed and
// changed back) is a new fact. A replay asking for redelivery repeats
// only what that replay delivered itself.
func (rec record) seen(w want) bool {
	if len(rec.Delivered) == 0 {
		return false
	}
	if w.redeliver {
		return slices.ContainsFunc(rec.Delivered, func(d delivered) bool { return d.Hash == w.hash && d.Replay == w.replay })
	}
	if rec.Delivered[len(rec.Delivered)-1].Hash == w.hash {
		return true
	}
	var newest time.Time
	for _, d := range rec.Delivered {
		if d.Sent.After(newest) {
			newest = d.Sent
		}
	}
	return !w.sent.After(newest) && slices.ContainsFunc(rec.Delivered, func(d delivered) bool { return d.Hash == w.hash })
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
	ID     string    `json:"id"`
	Hash   string    `json:"hash"`
	Replay string    `json:"replay,omitempty"`
	Until  time.Time `json:"until"`
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
	key  string
	rev  uint64
	prev []delivered
}

// want describes the delivery begin is asked about.
type want struct {
	id, hash, eventID string
	replay            string    // replay id, "" when not replayed
	redeliver         bool      // a replay that asks for redelivery
	sent              time.Time // the callback's time, zero when unknown
	hold              time.Duration
}

const ledgerTries = 5

// begin decides whether w is delivered, and when it is, claims the key
// for w.hold. A result identical to the one delivered is suppressed,
// unless the replay asks for redelivery and has not delivered it yet.
func (l *ledger) begin(ctx context.Context, key string, w want) (verdict, attempt, time.Duration, error) {
	for range ledgerTries {
		rec, rev, err := l.get(ctx, key)
		if err != nil {
			return 0, attempt{}, 0, err
		}
		now := l.now()
		if rec.seen(w) {
			return suppress, attempt{}, 0, nil
		}
		if c := rec.Claim; c != nil && c.ID != w.id && now.Before(c.Until) {
			if c.Hash == w.hash && c.Replay == w.replay {
				return inFlight, attempt{}, 0, nil
			}
			return busy, attempt{}, min(c.Until.Sub(now), busyPoll), nil
		}
		next := record{Delivered: rec.Delivered, Claim: &claim{ID: w.id, Hash: w.hash, Replay: w.replay, Until: now.Add(w.hold)}}
		b, err := json.Marshal(next)
		if err != nil {
			return 0, attempt{}, 0, err
		}
		var newRev uint64
		if rev == 0 {
			newRev, err = l.kv.Create(ctx, key, b)
		} else {
			newRev, err = l.kv.Update(ctx, key, b, rev)
		}
		if conflict(err) {
			continue // changed under us: look again
		}
		if err != nil {
			return 0, attempt{}, 0, fmt.Errorf("notifier: delivery record: %w", err)
		}
		return deliver, attempt{key: key, rev: newRev, prev: rec.Delivered}, 0, nil
	}
	return busy, attempt{}, busyPoll, nil
}

// done records a delivery made under a.
func (l *ledger) done(ctx context.Context, a attempt, d delivered) error {
	rev := a.rev
	for range ledgerTries {
		b, err := json.Marshal(record{Delivered: with(a.prev, d)})
		if err != nil {
			return err
		}
		_, err = l.kv.Update(ctx, a.key, b, rev)
		if !conflict(err) {
			if err != nil {
				return fmt.Errorf("notifier: delivery record: %w", err)
			}
			return nil
		}
		// Our claim ran out and another delivery took the key: record
		// ours, keeping its claim.
		rec, r, err := l.get(ctx, a.key)
		if err != nil {
			return err
		}
		rev, a.prev = r, rec.Delivered
		if rec.Claim != nil {
			b, err = json.Marshal(record{Delivered: with(rec.Delivered, d), Claim: rec.Claim})
			if err != nil {
				return err
			}
			if _, err = l.kv.Update(ctx, a.key, b, rev); err == nil {
				return nil
			} else if !conflict(err) {
				return fmt.Errorf("notifier: delivery record: %w", err)
			}
			continue
		}
	}
	return fmt.Errorf("notifier: delivery record: %w", jetstream.ErrKeyRevisionMismatch)
}

// release gives up the claim of a failed attempt, keeping the record of
// the previous delivery. A claim that another delivery took over already
// is left alone.
func (l *ledger) release(ctx context.Context, a attempt) error {
	b, err := json.Marshal(record{Delivered: a.prev})
	if err != nil {
		return err
	}
	if _, err := l.kv.Update(ctx, a.key, b, a.rev); err != nil && !conflict(err) {
		return fmt.Errorf("notifier: delivery record: %w", err)
	}
	return nil
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
