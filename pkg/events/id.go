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
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	var stack [512]byte
	b := stack[:0]
	if n > len(stack) {
		b = make([]byte, 0, n)
	}
	for _, p := range parts {
		b = append(b, p...)
		b = append(b, 0)
	}
	return hexID(sha256.Sum256(b))
}

// hexID is sum in lower-case hex, with the string as its one allocation.
func hexID(sum [sha256.Size]byte) string {
	var h [2 * sha256.Size]byte
	hex.Encode(h[:], sum[:])
	return string(h[:])
}

// PlatformEventID is the event id of a Jumio Platform callback:
// sha256(account id, workflow execution id, status, callbackSentAt). The
// time is normalised to UTC RFC 3339 with nanoseconds, so "…:30.1Z" and
// "…:30.100Z" are the same callback; a zero time counts as absent. The
// account is part of it: a copy of a callback naming another account
// (forged, with the execution's ids and time) is stored under an id of
// its own, not as the id the genuine callback then repeats and is
// dropped as.
func PlatformEventID(accountID, executionID, status string, callbackSentAt time.Time) string {
	return EventID(string(APIPlatform), accountID, executionID, status, stamp(callbackSentAt))
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
// duplicate) by arriving first. fields is not changed.
//
// Ingest computes it for every Netverify callback, so it sorts the
// fields' positions rather than the fields (moving a field moves two
// strings, each a write barrier while the collector runs) and hashes the
// canonical form in one piece from a stack buffer: one allocation, the id,
// where sorting in place and writing each part to a sha256.New made three
// (BenchmarkNetverifyEventID, 30 fields; the times are within the noise of
// the shared machine). TestEventIDsAsFirstWritten keeps it equal to that
// streamed form.
func NetverifyEventID(fields []FormField) string {
	const prefix = "netverify/v2\x00"
	n := len(prefix)
	for _, f := range fields {
		n += 16 + len(f.Name) + len(f.Value)
	}
	var (
		stackOrder [64]int32
		stackBuf   [2048]byte
	)
	order := stackOrder[:0]
	if len(fields) > len(stackOrder) {
		order = make([]int32, 0, len(fields))
	}
	for i := range fields {
		order = append(order, int32(i))
	}
	slices.SortStableFunc(order, func(a, b int32) int { return strings.Compare(fields[a].Name, fields[b].Name) })
	b := stackBuf[:0]
	if n > len(stackBuf) {
		b = make([]byte, 0, n)
	}
	b = append(b, prefix...)
	for _, i := range order {
		f := &fields[i]
		b = binary.BigEndian.AppendUint64(b, uint64(len(f.Name)))
		b = append(b, f.Name...)
		b = binary.BigEndian.AppendUint64(b, uint64(len(f.Value)))
		b = append(b, f.Value...)
	}
	return hexID(sha256.Sum256(b))
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
