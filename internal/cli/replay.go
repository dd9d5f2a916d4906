package cli

import (
	"context"
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
stream sequence (--from-seq, --to-seq), account or execution; messages that
an earlier replay or redrive wrote are never selected.

Each re-fed message carries the Kycflow-Replay header with a replay id
derived from the selection (stage, filter, first and last message, count,
--redeliver, --route): running the same replay again gives the same message
ids, which JetStream stores once, so it is safe to repeat. Without
--redeliver the notifier suppresses results identical to those it delivered
(useful after a fix in the mapping: only changed results go out); with it
they are delivered again, carrying the marker, to every route or the
--route ones.`,
		Example: `  kycflow replay notify --since 2h --dry-run
  kycflow replay notify --since 2026-03-04T00:00:00Z --until 2026-03-05 --redeliver --route crm-webhook
  kycflow replay enrich --execution 9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f
  kycflow replay enrich --account 4a1b2c3d-5e6f-4711-8899-aabbccddeeff --rate 5`,
		Flags: func(fs *flag.FlagSet) {
			natsFlag(fs)
			selectionFlags(fs)
			fs.Uint64("from-seq", 0, "first stream sequence to replay")
			fs.Uint64("to-seq", 0, "last stream sequence to replay")
			fs.Bool("dry-run", false, "only count what would be replayed")
			fs.Float64("rate", 0, "messages per second (0: as fast as the server stores them)")
			fs.Bool("redeliver", false, "deliver results again even when identical to those delivered (notify; enrich: passed on to the notifier)")
			fs.Var(&listFlag{}, "route", "only these notifier routes (repeat or comma-separate; default all)")
		},
		Run: runReplay,
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

// selection is what a replay re-feeds.
type selection struct {
	stage   events.Stage
	stream  string
	filters []string
	seqs    []uint64
}

// replayID derives the replay id from what is replayed and how.
func (s selection) replayID(redeliver bool, routes []string) string {
	first, last := uint64(0), uint64(0)
	if len(s.seqs) > 0 {
		first, last = s.seqs[0], s.seqs[len(s.seqs)-1]
	}
	routes = slices.Sorted(slices.Values(routes))
	id := events.EventID("replay", string(s.stage), strings.Join(s.filters, " "),
		strconv.FormatUint(first, 10), strconv.FormatUint(last, 10), strconv.Itoa(len(s.seqs)),
		strconv.FormatBool(redeliver), strings.Join(routes, ","))
	return id[:32]
}

func runReplay(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error {
	if len(args) != 1 {
		return usageError("replay: name one stage: enrich or notify")
	}
	stream, err := stageStream(args[0])
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	win, err := readWindow(fs, time.Now())
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	fromSeq, toSeq := uintFlag(fs, "from-seq"), uintFlag(fs, "to-seq")
	if toSeq > 0 && toSeq < fromSeq {
		return usageError("replay: --to-seq is before --from-seq")
	}
	routes := listOf(fs, "route")
	redeliver := boolFlag(fs, "redeliver")
	if floatFlag(fs, "rate") < 0 {
		return usageError("replay: --rate must not be negative")
	}
	sel := selection{stage: events.Stage(args[0]), stream: stream,
		filters: inputFilters(stream, strFlag(fs, "account"), strFlag(fs, "execution"))}

	s, err := connect(ctx, env, fs)
	if err != nil {
		return err
	}
	defer s.Close()
	sc := scan{stream: stream, filters: sel.filters, fromSeq: fromSeq, since: win.since}
	err = each(ctx, s.js, sc, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		if toSeq > 0 && md.Sequence.Stream > toSeq || !win.until.IsZero() && !md.Timestamp.Before(win.until) {
			return errStop
		}
		if !win.since.IsZero() && md.Timestamp.Before(win.since) {
			return nil
		}
		if m.Headers().Get(events.HeaderReplay) == "" {
			sel.seqs = append(sel.seqs, md.Sequence.Stream)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return fmt.Errorf("replay: %w", err)
	}
	marker := events.ReplayMarker{ID: sel.replayID(redeliver, routes), Redeliver: redeliver, Routes: routes}
	if len(sel.seqs) == 0 {
		fmt.Fprintf(env.Stdout, "nothing to replay: no message of %s matches\n", stream)
		return nil
	}
	span := fmt.Sprintf("sequences %d to %d", sel.seqs[0], sel.seqs[len(sel.seqs)-1])
	if boolFlag(fs, "dry-run") {
		fmt.Fprintf(env.Stdout, "would replay %d messages of %s (%s) to the %s stage, replay id %s\n", len(sel.seqs), stream, span, sel.stage, marker.ID)
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
	bar := newProgress(env.Stderr, "replay "+string(sel.stage), len(sel.seqs))
	stored, dups := 0, 0
	for i, seq := range sel.seqs {
		if lim != nil {
			if err := lim.Wait(ctx); err != nil {
				bar.finish()
				return fmt.Errorf("replay: interrupted after %d of %d messages; run it again to finish (the done ones are stored once)", i, len(sel.seqs))
			}
		}
		cctx, cancel := ctxCall(ctx)
		m, err := st.GetMsg(cctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			cancel()
			continue // removed meanwhile (erased, or past retention)
		}
		if err != nil {
			cancel()
			bar.finish()
			return fmt.Errorf("replay: message %d: %w", seq, err)
		}
		dup, err := republish(cctx, s.js, m.Subject, m.Data, m.Header, marker, originalID(m), nil)
		cancel()
		if err != nil {
			bar.finish()
			if ctx.Err() != nil {
				return fmt.Errorf("replay: interrupted after %d of %d messages; run it again to finish (the done ones are stored once)", i, len(sel.seqs))
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
	fmt.Fprintf(env.Stdout, "replayed %d messages of %s (%s) to the %s stage, replay id %s: %d stored", len(sel.seqs), stream, span, sel.stage, marker.ID, stored)
	if dups > 0 {
		fmt.Fprintf(env.Stdout, ", %d already stored by an earlier run of this replay", dups)
	}
	fmt.Fprintln(env.Stdout)
	return nil
}

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
// original headers (those for which drop is true and JetStream's own left
// out) and Nats-Msg-Id marker.MessageID(origID); it returns once the
// server stored it, and dup when it was stored before.
func republish(ctx context.Context, js jetstream.JetStream, subject string, data []byte, hdr nats.Header, marker events.ReplayMarker, origID string, drop func(string) bool) (bool, error) {
	nm := nats.NewMsg(subject)
	nm.Data = data
	for k, v := range hdr {
		if strings.HasPrefix(k, "Nats-") || k == events.HeaderReplay || drop != nil && drop(k) {
			continue
		}
		nm.Header[k] = append([]string(nil), v...)
	}
	nm.Header.Set(events.HeaderReplay, marker.String())
	nm.Header.Set(events.HeaderMsgID, marker.MessageID(origID))
	ack, err := js.PublishMsg(ctx, nm)
	if err != nil {
		return false, err
	}
	return ack.Duplicate, nil
}
