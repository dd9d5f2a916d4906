package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/kycflow/kycflow/internal/erasure"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/pkg/events"
)

func init() {
	register(&Command{
		Name:    "replay",
		Summary: "re-feed a stage from its input stream",
		Usage:   "enrich|notify [flags]",
		Description: `Re-publishes the messages a stage read into the stream it reads, so that
it processes them again: "enrich" re-feeds JUMIO_CALLBACKS to the enricher
(which fetches the results from Jumio again), "notify" re-feeds
JUMIO_ENRICHED to the notifier's routes. Select by time (--since, --until),
stream sequence (--from-seq, --to-seq), account or execution. The copies a
replay or redrive wrote (header Kycflow-Refed) are never selected; results
the enricher made from them are. A notify replay re-feeds, per execution
and status, only the newest result selected (after "replay enrich" that is
the result it made).

Each copy carries the Kycflow-Replay header with a replay id derived from
the command as given (stage, the selection flags as typed, --redeliver,
--route; "--since 2h" stays "2h"), and the message id of the original
combined with the replay id. Running the same command again is the same
replay: what it re-fed already is stored once (JetStream's duplicate
window) and delivered once (the notifier's records), so a replay that was
interrupted is finished by running it again. --replay-id NAME makes a new
replay of the same selection. Without --redeliver the notifier suppresses
results identical to those it delivered (after a fix in the mapping: only
changed results go out); with it they are delivered again, marked as a
replay, to every route or the --route ones.`,
		Example: `  kycflow replay notify --since 2h --dry-run
  kycflow replay notify --since 2026-03-04T00:00:00Z --until 2026-03-05 --redeliver --route crm-webhook
  kycflow replay enrich --execution 9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f
  kycflow replay enrich --account 4a1b2c3d-5e6f-4711-8899-aabbccddeeff --rate 5
  kycflow replay notify --execution 9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f --redeliver --replay-id resend-2`,
		Flags: func(fs *flag.FlagSet) {
			natsFlag(fs)
			selectionFlags(fs)
			fs.Uint64("from-seq", 0, "first stream sequence to replay")
			fs.Uint64("to-seq", 0, "last stream sequence to replay")
			fs.Bool("dry-run", false, "only count what would be replayed")
			fs.Float64("rate", 0, "messages per second (0: as fast as the server stores them)")
			fs.Bool("redeliver", false, "deliver results again even when identical to those delivered (notify; enrich: passed on to the notifier)")
			fs.Var(&listFlag{}, "route", "only these notifier routes (repeat or comma-separate; default all)")
			fs.String("replay-id", "", "name of this replay: another name re-feeds what the same command re-fed already (default: the command's own)")
		},
		Check: checkReplay,
		Run:   runReplay,
	})
}

// selectionFlags registers the selection flags replay and dlq share.
func selectionFlags(fs *flag.FlagSet) {
	fs.String("since", "", "only messages stored since this time or duration ago (2026-03-04T05:00:00Z, 2026-03-04, 2h)")
	fs.String("until", "", "only messages stored before this time or duration ago")
	fs.String("account", "", "only this Jumio account id")
	fs.String("execution", "", "only this workflow execution id (Netverify: scan reference)")
}

// window is a time range read from --since and --until.
type window struct{ since, until time.Time }

func readWindow(fs *flag.FlagSet, now time.Time) (window, error) {
	var w window
	var err error
	if s := strFlag(fs, "since"); s != "" {
		if w.since, err = parseWhen(s, now); err != nil {
			return w, usageError("--since: %v", err)
		}
	}
	if s := strFlag(fs, "until"); s != "" {
		if w.until, err = parseWhen(s, now); err != nil {
			return w, usageError("--until: %v", err)
		}
	}
	if !w.since.IsZero() && !w.until.IsZero() && !w.until.After(w.since) {
		return w, usageError("--until must be after --since")
	}
	return w, nil
}

// stageStream is the stream a stage reads.
func stageStream(stage string) (string, error) {
	switch events.Stage(stage) {
	case events.StageEnrich:
		return events.StreamCallbacks, nil
	case events.StageNotify:
		return events.StreamEnriched, nil
	}
	return "", usageError("unknown stage %q (want enrich or notify)", stage)
}

// inputFilters are the subject filters of an account and an execution in
// a stage's input stream; nil selects the whole stream.
func inputFilters(stream, account, execution string) []string {
	if account == "" && execution == "" {
		return nil
	}
	a, e := "*", "*"
	if account != "" {
		a = events.AccountToken(account)
	}
	if execution != "" {
		e = events.Token(execution)
	}
	if stream == events.StreamCallbacks {
		return []string{events.SubjectCallbacks + ".*." + a + "." + e}
	}
	return []string{events.SubjectEnriched + "." + a + "." + e}
}

// replayRequest is a replay as it was asked for. Its id is derived from
// it, never from what the stream holds when the replay runs: the same
// command gives the same replay id, so running it again (after an
// interruption, or by mistake) re-feeds each message under the same
// message id and JetStream stores it once.
type replayRequest struct {
	stage events.Stage
	// since and until are the flags as given: an absolute time in UTC
	// RFC 3339, a duration before now as typed ("2h"), so that
	// "--since 2h" names the same replay an hour later.
	since, until       string
	fromSeq, toSeq     uint64
	account, execution string
	redeliver          bool
	routes             []string
	// name is --replay-id: another name makes another replay of the same
	// selection.
	name string
}

// id is the replay id.
func (r replayRequest) id() string {
	routes := slices.Compact(slices.Sorted(slices.Values(r.routes)))
	id := events.EventID("replay", string(r.stage), r.since, r.until,
		strconv.FormatUint(r.fromSeq, 10), strconv.FormatUint(r.toSeq, 10), r.account, r.execution,
		strconv.FormatBool(r.redeliver), strings.Join(routes, ","), r.name)
	return id[:32]
}

// whenKey is a --since or --until value as it names a replay: an absolute
// time normalized to UTC, a duration before now as typed.
func whenKey(s string) string {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Format(time.RFC3339Nano)
		}
	}
	return s
}

// refed reports whether a message of stream is a copy that a replay or a
// redrive wrote: never selected, the original is. (Copies written before
// Kycflow-Refed existed carry only Kycflow-Replay; in JUMIO_CALLBACKS no
// stage writes that header, so it marks them too.)
func refed(stream string, h nats.Header) bool {
	return h.Get(events.HeaderRefed) != "" || stream == events.StreamCallbacks && h.Get(events.HeaderReplay) != ""
}

// resultKey is the execution status an enriched message carries, "" when
// it does not decode.
func resultKey(data []byte) string {
	var ev struct {
		Result struct {
			IDs struct {
				AccountID           string `json:"accountId"`
				WorkflowExecutionID string `json:"workflowExecutionId"`
			} `json:"ids"`
			Status string `json:"status"`
		} `json:"result"`
	}
	if json.Unmarshal(data, &ev) != nil || ev.Result.IDs.WorkflowExecutionID == "" {
		return ""
	}
	r := ev.Result
	return r.IDs.AccountID + "\x00" + r.IDs.WorkflowExecutionID + "\x00" + r.Status
}

// selection is what a replay re-feeds, in stream order.
type selection struct {
	seqs []uint64
	// older counts the enriched messages left out because a newer one of
	// the same execution status is selected.
	older int
}

// selectMessages scans the stage's input stream for the messages a replay
// re-feeds: the originals in the window, never a copy a replay or redrive
// wrote. For the notify stage it keeps, per execution and status, only
// the newest enriched message (a result made by an enrich replay after a
// mapping fix replaces the one before it).
func selectMessages(ctx context.Context, js jetstream.JetStream, stream string, filters []string, win window, fromSeq, toSeq uint64) (selection, error) {
	var sel selection
	newest := map[string]int{} // execution status -> index in sel.seqs
	sc := scan{stream: stream, filters: filters, fromSeq: fromSeq, since: win.since}
	err := each(ctx, js, sc, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		if toSeq > 0 && md.Sequence.Stream > toSeq || !win.until.IsZero() && !md.Timestamp.Before(win.until) {
			return errStop
		}
		if !win.since.IsZero() && md.Timestamp.Before(win.since) || refed(stream, m.Headers()) {
			return nil
		}
		if stream == events.StreamEnriched {
			if k := resultKey(m.Data()); k != "" {
				if i, ok := newest[k]; ok {
					sel.seqs[i] = 0 // superseded
					sel.older++
				}
				newest[k] = len(sel.seqs)
			}
		}
		sel.seqs = append(sel.seqs, md.Sequence.Stream)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return selection{}, err
	}
	sel.seqs = slices.DeleteFunc(sel.seqs, func(s uint64) bool { return s == 0 })
	return sel, nil
}

// readReplay reads a replay's arguments and flags; now anchors relative
// times.
func readReplay(fs *flag.FlagSet, args []string, now time.Time) (replayRequest, window, error) {
	if len(args) != 1 {
		return replayRequest{}, window{}, usageError("replay: name one stage: enrich or notify")
	}
	if _, err := stageStream(args[0]); err != nil {
		return replayRequest{}, window{}, fmt.Errorf("replay: %w", err)
	}
	win, err := readWindow(fs, now)
	if err != nil {
		return replayRequest{}, window{}, fmt.Errorf("replay: %w", err)
	}
	req := replayRequest{stage: events.Stage(args[0]), since: whenKey(strFlag(fs, "since")), until: whenKey(strFlag(fs, "until")),
		fromSeq: uintFlag(fs, "from-seq"), toSeq: uintFlag(fs, "to-seq"),
		account: strings.TrimSpace(strFlag(fs, "account")), execution: strings.TrimSpace(strFlag(fs, "execution")),
		redeliver: boolFlag(fs, "redeliver"), routes: listOf(fs, "route"), name: strFlag(fs, "replay-id")}
	switch {
	case req.toSeq > 0 && req.toSeq < req.fromSeq:
		return req, win, usageError("replay: --to-seq is before --from-seq")
	case floatFlag(fs, "rate") < 0:
		return req, win, usageError("replay: --rate must not be negative")
	case flagSet(fs, "replay-id") && strings.TrimSpace(req.name) == "":
		return req, win, usageError("replay: --replay-id must not be empty")
	}
	return req, win, nil
}

func checkReplay(fs *flag.FlagSet, args []string) error {
	_, _, err := readReplay(fs, args, time.Now())
	return err
}

func runReplay(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error {
	req, win, err := readReplay(fs, args, time.Now())
	if err != nil {
		return err
	}
	stream, _ := stageStream(string(req.stage))
	marker := events.ReplayMarker{ID: req.id(), Redeliver: req.redeliver, Routes: req.routes}

	s, err := connect(ctx, env, fs)
	if err != nil {
		return err
	}
	defer s.Close()
	// A dry run checks the routes as the replay does: it says what the
	// replay would do, a refusal included.
	if err := checkReplayRoutes(ctx, s.js, req.routes); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if err := checkIDCase(ctx, s.js, "replay", erasure.Target{Account: req.account, Execution: req.execution}, true); err != nil {
		return err
	}
	sel, err := selectMessages(ctx, s.js, stream, inputFilters(stream, req.account, req.execution), win, req.fromSeq, req.toSeq)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if len(sel.seqs) == 0 {
		fmt.Fprintf(env.Stdout, "nothing to replay: no message of %s matches\n", stream)
		return nil
	}
	span := fmt.Sprintf("sequences %d to %d", sel.seqs[0], sel.seqs[len(sel.seqs)-1])
	if sel.older > 0 {
		span += fmt.Sprintf("; %s of the same execution status left out", count(sel.older, "older result"))
	}
	if boolFlag(fs, "dry-run") {
		fmt.Fprintf(env.Stdout, "would replay %s of %s (%s) to the %s stage, replay id %s\n", count(len(sel.seqs), "message"), stream, span, req.stage, marker.ID)
		return nil
	}

	var lim *rate.Limiter
	if r := floatFlag(fs, "rate"); r > 0 {
		lim = rate.NewLimiter(rate.Limit(r), 1)
	}
	st, err := s.js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	interrupted := func(done int) error {
		return fmt.Errorf("replay: interrupted after %d of %d messages; run the same command again to finish: it is the same replay (id %s), which stores each message once", done, len(sel.seqs), marker.ID)
	}
	replaySelected(sel.seqs)
	bar := newProgress(env.Stderr, "replay "+string(req.stage), len(sel.seqs))
	stored, dups, gone := 0, 0, 0
	for i, seq := range sel.seqs {
		if lim != nil {
			if err := lim.Wait(ctx); err != nil {
				bar.finish()
				return interrupted(i)
			}
		}
		cctx, cancel := ctxCall(ctx)
		m, err := st.GetMsg(cctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			cancel()
			gone++ // removed meanwhile (erased, or past retention)
			bar.update(i + 1)
			continue
		}
		if err != nil {
			cancel()
			bar.finish()
			if ctx.Err() != nil {
				return interrupted(i)
			}
			return fmt.Errorf("replay: message %d: %w", seq, err)
		}
		dup, err := republish(cctx, s.js, m.Subject, m.Data, m.Header, marker, originalID(m), nil)
		cancel()
		if err != nil {
			bar.finish()
			if ctx.Err() != nil {
				return interrupted(i)
			}
			return fmt.Errorf("replay: message %d: %w", seq, err)
		}
		if dup {
			dups++
		} else {
			stored++
		}
		bar.update(i + 1)
	}
	bar.finish()
	fmt.Fprintf(env.Stdout, "replayed %s of %s (%s) to the %s stage, replay id %s: %d stored", count(stored+dups, "message"), stream, span, req.stage, marker.ID, stored)
	if dups > 0 {
		fmt.Fprintf(env.Stdout, ", %d already stored by an earlier run of this replay", dups)
	}
	if gone > 0 {
		fmt.Fprintf(env.Stdout, "; %d of the %d selected left %s meanwhile (erased, or past its retention) and were not replayed", gone, len(sel.seqs), stream)
	}
	fmt.Fprintln(env.Stdout)
	return nil
}

// replaySelected is called with the sequences a replay selected, before
// it reads them. (A variable for tests: they remove messages there, as an
// erasure or the stream's retention can while a replay runs.)
var replaySelected = func([]uint64) {}

// originalID is the id a stored message was published with.
func originalID(m *jetstream.RawStreamMsg) string {
	if id := m.Header.Get(events.HeaderMsgID); id != "" {
		return id
	}
	if id := m.Header.Get(events.HeaderCEID); id != "" {
		return id
	}
	return events.EventID(m.Subject, strconv.FormatUint(m.Sequence, 10))
}

// republish stores data on subject again with the replay marker, the
// Kycflow-Refed mark of a copy, the original headers (those for which drop is true and JetStream's own left
// out) and Nats-Msg-Id marker.MessageID(origID); it returns once the
// server stored it, and dup when it was stored before.
func republish(ctx context.Context, js jetstream.JetStream, subject string, data []byte, hdr nats.Header, marker events.ReplayMarker, origID string, drop func(string) bool) (bool, error) {
	nm := nats.NewMsg(subject)
	nm.Data = data
	for k, v := range hdr {
		if strings.HasPrefix(k, "Nats-") || k == events.HeaderReplay || k == events.HeaderRefed || drop != nil && drop(k) {
			continue
		}
		nm.Header[k] = append([]string(nil), v...)
	}
	nm.Header.Set(events.HeaderReplay, marker.String())
	nm.Header.Set(events.HeaderRefed, marker.ID)
	nm.Header.Set(events.HeaderMsgID, marker.MessageID(origID))
	ack, err := js.PublishMsg(ctx, nm)
	if err != nil {
		return false, err
	}
	return ack.Duplicate, nil
}

// checkReplayRoutes refuses --route names no notifier route has: a copy
// marked for them only would be dropped by every route, a replay that
// stores copies and delivers nothing. It also refuses a route whose
// consumer no notifier reads (routeRead): one removed from the routes
// file keeps its consumer.
func checkReplayRoutes(ctx context.Context, js jetstream.JetStream, routes []string) error {
	if err := checkRouteNames(ctx, js, routes); err != nil {
		return err
	}
	for _, route := range routes {
		if err := routeRead(ctx, js, route); err != nil {
			return fmt.Errorf("--route %s, nothing was replayed: %w", route, err)
		}
	}
	return nil
}

// checkRouteNames refuses route names without a consumer.
func checkRouteNames(ctx context.Context, js jetstream.JetStream, routes []string) error {
	for _, route := range routes {
		cctx, cancel := ctxCall(ctx)
		_, err := js.Consumer(cctx, events.StreamEnriched, notifier.DurablePrefix+route)
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			return usageError("--route %s: no route of that name (%s has no consumer %s%s; kycflow streams lists the routes' consumers)",
				route, events.StreamEnriched, notifier.DurablePrefix, route)
		case err != nil:
			return err
		}
	}
	return nil
}
