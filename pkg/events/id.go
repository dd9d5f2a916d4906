package events

import (
	"crypto/sha256"
	"encoding/hex"
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

// NetverifyEventID is the event id of a Netverify callback:
// sha256(scan reference, verificationStatus, callbackDate). For
// authentication callbacks the status is the transactionResult, for
// document verification callbacks the document status.
func NetverifyEventID(scanReference, verificationStatus string, callbackDate time.Time) string {
	return EventID(string(APINetverify), scanReference, verificationStatus, stamp(callbackDate))
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
