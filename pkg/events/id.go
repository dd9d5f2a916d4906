package events

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"
	"time"
)

// EventIDPattern is the pattern every event id matches: 64 lower-case hex
// digits, what EventID gives. The JSON Schemas (callback-event.v1.json,
// result.v1.json) state it, and the enricher refuses a callback event whose
// id does not match it, so a result never carries an id its schema
// refuses.
const EventIDPattern = `^[0-9a-f]{64}$`

// EventID derives a deterministic event id from its parts: the hex SHA-256
// of the parts, each followed by a zero byte. The same parts always give the
// same id, so a repeated Jumio callback carries the same Nats-Msg-Id and
// JetStream's duplicate window stores it once.
func EventID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// PlatformEventID is the event id of a Jumio Platform callback:
// sha256(workflow execution id, status, callbackSentAt). The time is
// normalised to UTC RFC 3339 with nanoseconds, so "…:30.1Z" and
// "…:30.100Z" are the same callback; a zero time counts as absent.
func PlatformEventID(executionID, status string, callbackSentAt time.Time) string {
	return EventID(string(APIPlatform), executionID, status, stamp(callbackSentAt))
}

// FormField is one field of a form-encoded callback: its name and value
// as decoded.
type FormField struct{ Name, Value string }

// NetverifyEventID is the event id of a Netverify callback: the hex
// SHA-256 of the whole callback in canonical form, which is every field,
// name and value as decoded, ordered by name (byte order; the values of
// one name in the order they came, the body's before the query string's),
// each name and value preceded by its length in bytes. Jumio's repeats of
// a callback are the same fields and get the same id, so JetStream's
// duplicate window stores them once; a copy that differs in any field, a
// forged or altered one, gets another id, so that it cannot pass for the
// genuine callback's repeat (and have the genuine callback dropped as a
// duplicate) by arriving first. fields is sorted in place.
func NetverifyEventID(fields []FormField) string {
	slices.SortStableFunc(fields, func(a, b FormField) int { return strings.Compare(a.Name, b.Name) })
	h := sha256.New()
	h.Write([]byte("netverify/v2\x00"))
	var n [8]byte
	for _, f := range fields {
		binary.BigEndian.PutUint64(n[:], uint64(len(f.Name)))
		h.Write(n[:])
		h.Write([]byte(f.Name))
		binary.BigEndian.PutUint64(n[:], uint64(len(f.Value)))
		h.Write(n[:])
		h.Write([]byte(f.Value))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// DerivedID is the id of a message derived from event eventID by a step
// named by parts (for example a route name): one id per event and step, so
// that a repeated step is de-duplicated by JetStream as well.
func DerivedID(eventID string, parts ...string) string {
	return EventID(append([]string{eventID}, parts...)...)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
