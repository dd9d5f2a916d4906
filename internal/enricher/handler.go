package enricher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
)

// handle enriches one stored callback and settles its message. What
// becomes of the message is decided here, in one place:
//
//   - enriched (published, then recorded), a duplicate or stale: ack;
//   - a failure: retryPolicy.decide says redeliver later (the message
//     waits on the server, holding no worker) or dead-letter; a dead
//     letter is acked only once JUMIO_DLQ stored it, else the message is
//     redelivered.
func (e *Enricher) handle(msg *message.Message) error {
	ctx := msg.Context()
	started := e.now()
	c, err := decodeCallback(msg, broker.Timestamp(msg))
	if err == nil && dropForFaultTest(c.ev.EventID) {
		return nil // lost on purpose: a test build's fault hook (faulthooks_on.go)
	}
	if err == nil {
		err = e.enrich(ctx, c, started)
	}
	api := events.API("unknown")
	if c != nil {
		api = c.ev.API
	}
	mctx := context.WithoutCancel(ctx)
	switch {
	case err == nil:
		e.metrics.results.Add(mctx, 1, apiAttr(api))
		if e.logger.Enabled(ctx, slog.LevelDebug) { // the attributes cost more than the test
			e.logger.DebugContext(ctx, "callback enriched", e.attrs(msg, c)...)
		}
		if c.tombstone {
			e.dropErased(ctx, msg, c)
		}
		return nil
	case errors.Is(err, errDuplicate):
		e.metrics.duplicates.Add(mctx, 1, apiAttr(api))
		e.logger.DebugContext(ctx, "callback dropped: event already enriched", e.attrs(msg, c)...)
		return nil
	case errors.Is(err, errCollapsed):
		e.metrics.collapsed.Add(mctx, 1, apiAttr(api))
		// The fault suite's ledger reads this line as the enricher's word
		// for the drop (internal/bench/rig, evidenceCollapsed): keep its
		// message and event_id.
		e.logger.DebugContext(ctx, "callback dropped: its status was enriched across a reconciliation", e.attrs(msg, c)...)
		return nil
	case errors.Is(err, errStale):
		e.metrics.stale.Add(mctx, 1, apiAttr(api))
		// The fault suite's ledger reads this line as the enricher's word
		// for the drop (internal/bench/rig, evidenceStale): keep its
		// message and event_id.
		e.logger.DebugContext(ctx, "callback dropped: a newer callback of the execution came first", e.attrs(msg, c)...)
		return nil
	}

	now := e.now()
	d := delivery{attempt: broker.Attempt(msg), age: now.Sub(broker.Timestamp(msg)), stopping: ctx.Err() != nil}
	if c != nil {
		d.sinceCallback = max(now.Sub(c.since), 0)
	}
	v := e.policy.decide(err, d)
	if v.kind == verdictDeadLetter && c != nil {
		// A failure after the publish (the state record, the migration
		// mark) must not also dead-letter the callback: one callback, one
		// result or one dead letter.
		switch stored, serr := e.resultStored(ctx, c); {
		case serr != nil:
			v = verdict{kind: verdictRedeliver, reason: reasonBroker, delay: e.policy.backoff(d.attempt), err: serr}
		case stored:
			// The migration mark matters beyond this callback (without it
			// the scan would be migrated again): it is written before the
			// ack, or the callback waits for it on the server.
			if merr := e.markIfMigrated(ctx, c); merr != nil {
				v = verdict{kind: verdictRedeliver, reason: reasonBroker, delay: e.policy.backoff(d.attempt), err: merr}
				break
			}
			e.metrics.results.Add(mctx, 1, apiAttr(api))
			e.logger.WarnContext(ctx, "callback's result is stored; its state record was not written", append(e.attrs(msg, c), "error", v.err)...)
			return nil
		}
	}
	if v.kind == verdictDeadLetter {
		derr := e.deadLetter(ctx, msg, c, v)
		if derr == nil {
			e.metrics.deadLetters.Add(mctx, 1, apiAttr(api), metricClass(v.class))
			e.logger.WarnContext(ctx, "callback dead-lettered", append(e.attrs(msg, c), "class", v.class, "error", v.err)...)
			return nil
		}
		// Not stored in the DLQ: never ack, try again later.
		v = verdict{kind: verdictRedeliver, reason: reasonBroker, delay: e.policy.backoff(d.attempt), err: derr}
		e.logger.WarnContext(ctx, "dead letter not stored; the callback will be redelivered", append(e.attrs(msg, c), "error", derr)...)
	}
	broker.Redeliver(msg, v.delay)
	e.metrics.retries.Add(mctx, 1, metricReason(v.reason))
	level := slog.LevelDebug
	if v.reason == reasonAuth {
		level = slog.LevelError // credentials refused: every callback waits
	}
	e.logger.Log(ctx, level, "callback redelivered later", append(e.attrs(msg, c), "reason", v.reason, "delay", v.delay, "error", v.err)...)
	return nil
}

// enrich claims the callback's execution, fetches and maps, checks the
// claim again, publishes the enriched event and records it. A replay
// skips the duplicate and stale checks (it must reproduce its results) but
// still records, never moving the newest callback back.
//
// The Jumio requests wait in the callback's lane of the budget (lane);
// the callback of a migrated scan is linked to its Netverify original and
// recorded as migrated once its result is stored. A transaction that was
// erased gives a tombstone (retrieve).
func (e *Enricher) enrich(ctx context.Context, c *callback, started time.Time) error {
	key, m := c.key(), c.mark()
	if c.replay == nil {
		if err := e.state.claim(ctx, key, m); err != nil {
			return err
		}
	}
	if e.hook != nil {
		e.hook(c.ev.EventID)
	}
	lane, migrated, err := e.lane(ctx, c)
	if err != nil {
		return err
	}
	ee, err := e.retrieve(jumio.WithLane(ctx, lane), c, started)
	if err != nil {
		return err
	}
	if migrated {
		ref := c.ev.WorkflowExecutionID
		ee.Result.IDs.ScanReference = ref
		ee.Result.Migration = &events.Migration{ScanReference: ref}
	}
	at := e.now().UTC()
	ee.Result.Timestamps.Enriched = &at
	var checked *seen
	if c.replay == nil {
		s, err := e.state.check(ctx, key, m)
		if err != nil {
			return err
		}
		checked = &s
	}
	stored, seq, err := e.publishInOrder(ctx, c, ee, at, checked)
	if err != nil {
		return err
	}
	m.seq = seq
	// Before the record: a failure here redelivers the callback, whose
	// publish is then dropped as a duplicate and whose mark is written.
	if migrated {
		if err := e.markMigrated(ctx, c); err != nil {
			return fmt.Errorf("%w: %w", ErrBroker, err)
		}
	}
	e.unreadable(ctx, c, ee.Result)
	// A crash here leaves the event unrecorded: its redelivery is fetched
	// again and its publish dropped by JetStream's duplicate window
	// (Nats-Msg-Id), then recorded.
	if err := e.state.record(ctx, key, m, checked); err != nil {
		return err
	}
	if !stored {
		// Another worker (or an earlier attempt) stored this event's
		// result: one result, counted once.
		return errDuplicate
	}
	return nil
}

// lane is the lane of the budget a callback's Jumio requests wait in,
// and whether it is the callback of a scan kycflow asked Jumio to migrate
// (its execution id is a scan reference of the migration bucket): a
// replay waits in the replay lane, a migrated scan in the migrate lane, a
// callback kycflow fed with a Kycflow-Lane header in that bulk lane,
// anything else in the live lane.
func (e *Enricher) lane(ctx context.Context, c *callback) (jumio.Lane, bool, error) {
	migrated := false
	if c.ev.API == events.APIPlatform {
		_, ok, err := e.migrations.Lookup(ctx, c.ev.WorkflowExecutionID)
		if err != nil {
			return "", false, fmt.Errorf("%w: %w", ErrBroker, err)
		}
		migrated = ok
	}
	switch l := jumio.Lane(c.lane); {
	case c.replay != nil:
		return jumio.LaneReplay, migrated, nil
	case migrated:
		return jumio.LaneMigrate, true, nil
	case slices.Contains(jumio.BulkLanes, l):
		return l, false, nil
	}
	return jumio.LaneLive, false, nil
}

// orderTries bounds publishInOrder's rounds: each lost one means another
// result of the execution was stored meanwhile.
const orderTries = 4

// publishInOrder publishes c's result only if its execution's subject in
// JUMIO_ENRICHED still ends where the state check read it
// (Nats-Expected-Last-Subject-Sequence): the check and the publish are two
// steps, and a publish that stalled between them (a replica's link to
// NATS, a slow acknowledgement) would otherwise store an older result
// after the newer one another replica stored meanwhile. When the subject
// moved on, its last result decides: newer, c is stale; c's own (stored
// by an earlier attempt: the server checks the sequence before the
// duplicate id), stored; older or none (a state that expired, an
// erasure), published after it. A replay is published without the check.
func (e *Enricher) publishInOrder(ctx context.Context, c *callback, ee events.EnrichedEvent, at time.Time, checked *seen) (stored bool, seq uint64, err error) {
	if checked == nil {
		return e.publish(ctx, c, ee, at, nil)
	}
	expect := checked.st.LastSeq
	for range orderTries {
		stored, seq, err = e.publish(ctx, c, ee, at, &expect)
		if !wrongLastSequence(err) {
			return stored, seq, err
		}
		last, found, err := e.lastResult(ctx, c)
		switch {
		case err != nil:
			return false, 0, err
		case !found:
			expect = 0
		case last.msgID == c.ev.EventID:
			return false, last.seq, nil
		case last.sentAt.After(c.sentAt):
			return false, 0, errStale
		default:
			expect = last.seq
		}
	}
	return false, 0, fmt.Errorf("%w: results of execution kept arriving while publishing", ErrBroker)
}

// wrongLastSequence reports a publish refused because its subject did not
// end at the expected sequence (10164 on replicated streams).
func wrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// resultsOf is JUMIO_ENRICHED and the subject of c's execution there.
func (e *Enricher) resultsOf(ctx context.Context, c *callback) (jetstream.Stream, string, error) {
	st, err := e.js.Stream(ctx, events.StreamEnriched)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrBroker, err)
	}
	return st, events.EnrichedSubject(c.ev.AccountID, c.ev.WorkflowExecutionID), nil
}

// storedResult is what publishInOrder reads of an execution's last result.
type storedResult struct {
	seq    uint64
	msgID  string
	sentAt time.Time
}

// lastResult reads the last result stored on c's execution subject.
func (e *Enricher) lastResult(ctx context.Context, c *callback) (storedResult, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.NATS.PublishTimeout)
	defer cancel()
	st, subject, err := e.resultsOf(ctx, c)
	if err != nil {
		return storedResult{}, false, err
	}
	m, err := st.GetLastMsgForSubject(ctx, subject)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return storedResult{}, false, nil
	case err != nil:
		return storedResult{}, false, fmt.Errorf("%w: %w", ErrBroker, err)
	}
	r := storedResult{seq: m.Sequence, msgID: m.Header.Get(nats.MsgIdHdr)}
	// A result that does not read has no time: it is not newer, and c is
	// published after it.
	var ev events.EnrichedEvent
	if json.Unmarshal(m.Data, &ev) == nil {
		r.sentAt = ev.Result.Timestamps.OrderTime()
	}
	return r, true, nil
}

// publish stores the enriched event in JUMIO_ENRICHED and returns once it
// is stored, with its sequence; stored is false when JetStream had it
// already (the same Nats-Msg-Id from another worker or an earlier
// attempt). ce-id is the callback's event id (same lineage); so is
// Nats-Msg-Id, except for replays, whose outputs get the replay's message
// id so that they are stored next to the original. With expect, the
// subject must end at that sequence (0: hold nothing).
func (e *Enricher) publish(ctx context.Context, c *callback, ee events.EnrichedEvent, at time.Time, expect *uint64) (stored bool, seq uint64, err error) {
	payload, err := json.Marshal(ee)
	if err != nil {
		return false, 0, permanent(fmt.Errorf("enricher: encode the enriched event: %w", err))
	}
	id := c.ev.EventID
	msgID := id
	if c.replay != nil {
		msgID = c.replay.MessageID(id)
	}
	out := message.NewMessage(msgID, payload)
	out.SetContext(ctx)
	md := out.Metadata
	md.Set(events.HeaderCESpecVersion, events.CESpecVersion)
	md.Set(events.HeaderCEID, id)
	md.Set(events.HeaderCEType, events.TypeEnriched)
	md.Set(events.HeaderCESource, events.SourceEnricher)
	md.Set(events.HeaderCETime, at.Format(time.RFC3339Nano))
	md.Set(events.HeaderCESubject, c.ev.WorkflowExecutionID)
	md.Set(events.HeaderContentType, events.ContentTypeJSON)
	md.Set(events.HeaderEventID, id)
	if c.replay != nil {
		md.Set(events.HeaderReplay, c.replayHeader)
	}
	if expect != nil {
		md.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(*expect, 10))
	}
	broker.SetPublishSubject(out, events.EnrichedSubject(c.ev.AccountID, c.ev.WorkflowExecutionID))
	if err := e.pub.Publish(events.SubjectEnriched, out); err != nil {
		if errors.Is(err, nats.ErrMaxPayload) {
			return false, 0, permanent(fmt.Errorf("%w: %d bytes", ErrTooLarge, len(payload)))
		}
		return false, 0, fmt.Errorf("%w: publish: %w", ErrBroker, err)
	}
	return !broker.PublishedDuplicate(out), broker.PublishedSeq(out), nil
}

// markIfMigrated marks c's scan migrated when it is the callback of a
// scan kycflow asked Jumio to migrate.
func (e *Enricher) markIfMigrated(ctx context.Context, c *callback) error {
	if c.ev.API != events.APIPlatform {
		return nil
	}
	if _, ok, err := e.migrations.Lookup(ctx, c.ev.WorkflowExecutionID); err != nil || !ok {
		return err
	}
	return e.markMigrated(ctx, c)
}

// markMigrated records c's scan as migrated by c's execution.
func (e *Enricher) markMigrated(ctx context.Context, c *callback) error {
	if e.markFault != nil {
		if err := e.markFault(); err != nil {
			return err
		}
	}
	return e.migrations.MarkMigrated(ctx, c.ev.WorkflowExecutionID, c.ev.AccountID)
}

// maxResultsScanned bounds the results of one execution resultStored reads.
const maxResultsScanned = 256

// resultStored reports whether JUMIO_ENRICHED holds c's result: a message
// on its execution's subject with c's message id (the event id, or the
// replay's id of it). A dead letter is decided only after the retry
// budget or a permanent error, so the look-up, a read per result of the
// execution, is rare; JetStream's duplicate window may be over by then.
func (e *Enricher) resultStored(ctx context.Context, c *callback) (bool, error) {
	id := c.ev.EventID
	if c.replay != nil {
		id = c.replay.MessageID(id)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.NATS.PublishTimeout)
	defer cancel()
	st, subject, err := e.resultsOf(ctx, c)
	if err != nil {
		return false, err
	}
	seq := uint64(1)
	for range maxResultsScanned {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			return false, nil
		case err != nil:
			return false, fmt.Errorf("%w: %w", ErrBroker, err)
		case m.Header.Get(nats.MsgIdHdr) == id:
			return true, nil
		}
		seq = m.Sequence + 1
	}
	return false, nil
}

// deadLetterPanic stores msg in JUMIO_DLQ with class panic and the stack
// (broker.Recoverer calls it once a delivery at the budget panicked).
func (e *Enricher) deadLetterPanic(ctx context.Context, msg *message.Message, pe *broker.PanicError) error {
	c, _ := decodeCallback(msg, broker.Timestamp(msg))
	if c != nil {
		// A panic after the publish: the result stands, no dead letter.
		stored, err := e.resultStored(ctx, c)
		if err != nil {
			return err
		}
		if stored {
			e.logger.ErrorContext(ctx, "callback's result is stored; handling it panicked after the publish", append(e.attrs(msg, c), "error", pe)...)
			return nil
		}
	}
	return e.deadLetter(ctx, msg, c, verdict{kind: verdictDeadLetter, class: broker.ClassPanic, err: pe, stack: pe.Stack})
}

// countPanic counts a panic: a retry, or a dead letter.
func (e *Enricher) countPanic(msg *message.Message, _ *broker.PanicError, deadLettered bool) {
	ctx := context.WithoutCancel(msg.Context())
	api := events.API("unknown")
	if parts := strings.Split(broker.Subject(msg), "."); len(parts) == 5 {
		api = events.API(parts[2])
	}
	if deadLettered {
		e.metrics.deadLetters.Add(ctx, 1, apiAttr(api), metricClass(broker.ClassPanic))
		return
	}
	e.metrics.retries.Add(ctx, 1, metricReason(reasonPanic))
}

// deadLetter stores msg in JUMIO_DLQ with the verdict's error and class.
// The error texts are the enricher's and pkg/jumio's, which hold no
// personal data.
func (e *Enricher) deadLetter(ctx context.Context, msg *message.Message, c *callback, v verdict) error {
	dl := broker.DeadLetter{
		Stage:           events.StageEnrich,
		Payload:         msg.Payload,
		Headers:         broker.Headers(msg),
		Err:             v.err,
		Class:           v.class,
		Stack:           v.stack,
		Attempts:        broker.Attempt(msg),
		OriginalSubject: broker.Subject(msg),
		OriginalStream:  broker.Stream(msg),
		OriginalSeq:     broker.StreamSeq(msg),
	}
	if c != nil {
		dl.AccountID, dl.ExecutionID, dl.EventID = c.ev.AccountID, c.ev.WorkflowExecutionID, c.ev.EventID
		if c.replay != nil {
			// A replay's dead letter is another one than the original's.
			dl.EventID = c.replay.MessageID(c.ev.EventID)
		}
	} else {
		// Undecodable: place it by its subject,
		// jumio.callbacks.<api>.<account>.<execution>.
		if parts := strings.Split(broker.Subject(msg), "."); len(parts) == 5 {
			dl.AccountID, dl.ExecutionID = parts[3], parts[4]
			if dl.AccountID == events.LegacyAccount {
				dl.AccountID = ""
			}
		}
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.NATS.PublishTimeout)
	defer cancel()
	return broker.PublishDeadLetter(dctx, e.js, dl)
}

// dropErased deletes the stored callback of an erased transaction from
// JUMIO_CALLBACKS once its tombstone is stored: a late Netverify callback
// carries the personal data the erasure removed. A failure is logged; the
// callback then stays until the stream's retention or the next erasure
// run removes it.
func (e *Enricher) dropErased(ctx context.Context, msg *message.Message, c *callback) {
	seq := broker.StreamSeq(msg)
	if seq == 0 || broker.Stream(msg) != events.StreamCallbacks {
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.NATS.PublishTimeout)
	defer cancel()
	st, err := e.js.Stream(dctx, events.StreamCallbacks)
	if err == nil {
		// Gone already is done: the erasure purged it first.
		_, err = broker.DeleteMsg(dctx, st, seq)
	}
	if err != nil {
		e.logger.WarnContext(ctx, "callback of an erased transaction not deleted", append(e.attrs(msg, c), "error", err)...)
	}
}

// attrs are the log attributes of a message: ids only.
func (e *Enricher) attrs(msg *message.Message, c *callback) []any {
	a := []any{"subject", broker.Subject(msg), "attempt", broker.Attempt(msg)}
	if c != nil {
		a = append(a, "event_id", c.ev.EventID, "account_id", c.ev.AccountID, "workflow_execution_id", c.ev.WorkflowExecutionID)
		if c.replay != nil {
			a = append(a, "replay_id", c.replay.ID)
		}
	}
	return a
}
