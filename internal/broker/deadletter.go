package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/pkg/events"
)

// ErrInvalidDeadLetter is returned by PublishDeadLetter for a dead letter without
// a stage or without anything to derive its id from.
var ErrInvalidDeadLetter = errors.New("invalid dead letter")

// MaxErrorHeaderLen caps the Kycflow-Error header; longer error texts are
// cut.
const MaxErrorHeaderLen = 1024

// DeadLetter is a message a stage gives up on.
type DeadLetter struct {
	// Stage that gives up (events.StageEnrich, events.StageNotify).
	// Required.
	Stage events.Stage
	// Route names the notifier route; "" for the enricher.
	Route string
	// AccountID and ExecutionID place the dead letter under
	// jumio.dlq.<stage>.<account>.<execution>.
	AccountID   string
	ExecutionID string
	// EventID is the id of the event the message carries; the dead
	// letter's Nats-Msg-Id is derived from it, stage and route, so that
	// dead-lettering the same message twice stores one dead letter. When
	// empty, the id is derived from OriginalStream and OriginalSeq.
	EventID string
	// Payload is the original message body, unchanged.
	Payload []byte
	// Headers are the original message headers (Headers(msg) for a
	// Watermill message); kept except Nats-* and reserved keys.
	Headers nats.Header
	// Err is why the stage gave up. Its text goes into Kycflow-Error: the
	// caller guarantees it holds no personal data. Line breaks become
	// spaces and it is cut at MaxErrorHeaderLen bytes.
	Err error
	// Class is the error class ("permanent", "retry_budget", ClassPanic,
	// …).
	Class string
	// Stack, for a panic (PanicError.Stack), goes into
	// Kycflow-Error-Stack: frames joined by " < ", cut at
	// MaxStackHeaderLen bytes. It names functions and lines only.
	Stack string
	// Attempts is how many times the stage tried.
	Attempts int
	// OriginalSubject, OriginalStream and OriginalSeq say where the
	// message came from.
	OriginalSubject string
	OriginalStream  string
	OriginalSeq     uint64
	// At is when it was dead-lettered (zero: now).
	At time.Time
}

// ID returns the dead letter's Nats-Msg-Id. It is derived from the event
// id (else the original stream and sequence), the stage and the route,
// from the replay id when the message carries a Kycflow-Replay marker, and
// from the copy's stream and sequence when it is a copy (Kycflow-Refed):
// a message that "kycflow dlq redrive" or "kycflow replay" re-fed and that
// fails again is a new dead letter, not a repeat of the one the redrive
// deletes, which JetStream's duplicate window would drop.
func (dl DeadLetter) ID() string {
	var replay []string
	if m, err := events.ParseReplayMarker(dl.Headers.Get(events.HeaderReplay)); err == nil {
		replay = []string{"replay", m.ID}
	}
	if dl.Headers.Get(events.HeaderRefed) != "" && dl.OriginalSeq > 0 {
		// A copy a replay or redrive wrote (the redrives of one result
		// to one route share a replay id): its own position, so that each
		// copy that fails is a dead letter of its own, and the same copy
		// failing twice is one.
		replay = append(replay, "copy", dl.OriginalStream, strconv.FormatUint(dl.OriginalSeq, 10))
	}
	if dl.EventID != "" {
		return events.DerivedID(dl.EventID, append([]string{"dlq", string(dl.Stage), dl.Route}, replay...)...)
	}
	return events.EventID(append([]string{"dlq", dl.OriginalStream, strconv.FormatUint(dl.OriginalSeq, 10), string(dl.Stage), dl.Route}, replay...)...)
}

// Subject returns the subject PublishDeadLetter publishes dl to.
func (dl DeadLetter) Subject() string {
	return events.DLQSubject(dl.Stage, dl.Route, dl.AccountID, dl.ExecutionID)
}

// PublishDeadLetter stores dl in the JUMIO_DLQ stream: the original payload and
// headers plus the Kycflow-Error, -Stage, -Attempts, -Original-Subject,
// -Route, -Error-Class, -Dead-Lettered-At and -Original-Stream/-Sequence
// headers. It waits for the PubAck (bounded by ctx, else by js's default
// timeout) and fails unless the dead letter is stored, so the caller acks
// the original only after it. Dead-lettering the same message again is
// stored once within the stream's duplicate window (same Nats-Msg-Id),
// unless that dead letter was deleted meanwhile (storeDeadLetter).
func PublishDeadLetter(ctx context.Context, js jetstream.JetStream, dl DeadLetter) error {
	if dl.Stage == "" {
		return fmt.Errorf("broker: dead letter: %w: no stage", ErrInvalidDeadLetter)
	}
	if dl.EventID == "" && (dl.OriginalStream == "" || dl.OriginalSeq == 0) {
		return fmt.Errorf("broker: dead letter: %w: no event id and no original stream sequence", ErrInvalidDeadLetter)
	}
	nm := nats.NewMsg(dl.Subject())
	nm.Data = dl.Payload
	for k, v := range dl.Headers {
		if Reserved(k) || strings.HasPrefix(k, "Nats-") || len(v) == 0 {
			continue
		}
		nm.Header[k] = append([]string(nil), v...)
	}
	at := dl.At
	if at.IsZero() {
		at = time.Now()
	}
	set := func(k, v string) {
		if v != "" {
			nm.Header.Set(k, v)
		}
	}
	errText := ""
	if dl.Err != nil {
		errText = headerText(dl.Err.Error(), MaxErrorHeaderLen)
	}
	set(events.HeaderError, errText)
	set(events.HeaderErrorClass, dl.Class)
	if dl.Stack != "" {
		set(events.HeaderErrorStack, headerText(strings.ReplaceAll(dl.Stack, "\n", " < "), MaxStackHeaderLen))
	}
	set(events.HeaderStage, string(dl.Stage))
	set(events.HeaderRoute, dl.Route)
	set(events.HeaderAttempts, strconv.Itoa(dl.Attempts))
	set(events.HeaderOriginalSubject, dl.OriginalSubject)
	set(events.HeaderOriginalStream, dl.OriginalStream)
	if dl.OriginalSeq > 0 {
		set(events.HeaderOriginalSequence, strconv.FormatUint(dl.OriginalSeq, 10))
	}
	set(events.HeaderDeadLetteredAt, at.UTC().Format(time.RFC3339Nano))
	if nm.Header.Get(events.HeaderEventID) == "" {
		set(events.HeaderEventID, dl.EventID)
	}
	return storeDeadLetter(ctx, js, nm, dl.ID())
}

// deadLetterTries bounds the ids storeDeadLetter tries: one more for each
// dead letter of the same id that was re-driven or purged inside the
// duplicate window.
const deadLetterTries = 8

// storeDeadLetter publishes nm with Nats-Msg-Id id and waits for the ack.
// A duplicate is stored only while the dead letter it repeats is still in
// JUMIO_DLQ: a re-drive or a purge deletes it, and JetStream's duplicate
// window would then drop the new one while the caller acks the original
// (a result neither delivered nor dead-lettered). So a duplicate of a
// deleted dead letter is published again under an id derived from the
// deleted one's sequence: the same for every attempt of this failure,
// new for each deleted predecessor.
func storeDeadLetter(ctx context.Context, js jetstream.JetStream, nm *nats.Msg, id string) error {
	for range deadLetterTries {
		nm.Header.Set(nats.MsgIdHdr, id)
		ack, err := js.PublishMsg(ctx, nm)
		if err != nil {
			return fmt.Errorf("broker: dead letter %s: %w", nm.Subject, err)
		}
		if !ack.Duplicate {
			return nil
		}
		kept, err := deadLetterKept(ctx, js, ack)
		if err != nil || kept {
			return err
		}
		id = events.DerivedID(id, "after", strconv.FormatUint(ack.Sequence, 10))
	}
	return fmt.Errorf("broker: dead letter %s: not stored: dead letters of its id were deleted %d times within the duplicate window", nm.Subject, deadLetterTries)
}

// deadLetterKept reports whether the dead letter a duplicate ack names is
// still stored.
func deadLetterKept(ctx context.Context, js jetstream.JetStream, ack *jetstream.PubAck) (bool, error) {
	st, err := js.Stream(ctx, ack.Stream)
	if err != nil {
		return false, fmt.Errorf("broker: dead letter: %w", err)
	}
	_, err = st.GetMsg(ctx, ack.Sequence)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("broker: dead letter: %w", err)
	}
	return true, nil
}

// headerText makes s one header line of at most n bytes.
func headerText(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	// A UTF-8 sequence cut in half is dropped.
	return strings.ToValidUTF8(s[:n], "")
}
