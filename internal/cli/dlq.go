package cli

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/erasure"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/pkg/events"
)

func init() {
	register(&Command{
		Name:    "dlq",
		Summary: "list, show, re-drive and purge dead letters",
		Usage:   "list|show|redrive|purge [sequence...] [flags]",
		Description: `Works on JUMIO_DLQ, where a stage puts what it gave up on: the original
message with the error, its class, the attempts and where it came from.
Select by --stage (enrich, notify, reconcile), --route (a notifier route), time,
account, execution, or sequences (the first column of "dlq list") given
after the action or with --seq.

  list     one line per dead letter: sequence, when, stage, route, class,
           attempts, ids and the error (error texts hold no personal data).
  show     the error headers and the payload, personal data masked
           (names, dates of birth, document numbers, addresses, image
           links, Netverify form values other than ids and statuses)
           unless --reveal.
  redrive  re-publishes each dead letter to the subject it came from, with
           a Kycflow-Replay marker (for a notifier route: redeliver, to that
           route only), and deletes it once the re-published message is
           stored. If it fails again it becomes a new dead letter. It
           refuses (and keeps every dead letter) when a notifier route's
           consumer is missing or nobody reads it: a route renamed,
           removed, disabled after a 410, or a notifier not running.
  purge    deletes the dead letters, after a confirmation (--yes skips it).`,
		Example: `  kycflow dlq list
  kycflow dlq list --route crm-webhook --since 24h
  kycflow dlq show 42
  kycflow dlq redrive --route crm-webhook          # after fixing the endpoint
  kycflow dlq purge --stage enrich --until 30d --yes`,
		Flags: func(fs *flag.FlagSet) {
			natsFlag(fs)
			selectionFlags(fs)
			fs.String("stage", "", "only dead letters of this stage: enrich, notify, reconcile or work (migration batches)")
			fs.String("route", "", "only dead letters of this notifier route")
			fs.Var(&listFlag{}, "seq", "only these JUMIO_DLQ sequences (repeat or comma-separate)")
			fs.Bool("reveal", false, "show: print the payload with its personal data")
			fs.Bool("json", false, "list: print JSON, one dead letter per line")
			fs.Bool("dry-run", false, "redrive, purge: only say what would be done")
			fs.Bool("yes", false, "purge: do not ask for confirmation")
		},
		Check: checkDLQ,
		Run:   runDLQ,
	})
}

// deadLetter is a stored dead letter.
type deadLetter struct {
	Seq             uint64    `json:"seq"`
	Subject         string    `json:"subject"`
	At              time.Time `json:"deadLetteredAt"`
	Stage           string    `json:"stage"`
	Route           string    `json:"route,omitempty"`
	Class           string    `json:"class,omitempty"`
	Attempts        int       `json:"attempts,omitempty"`
	AccountID       string    `json:"accountId,omitempty"`
	ExecutionID     string    `json:"workflowExecutionId,omitempty"`
	Error           string    `json:"error,omitempty"`
	OriginalSubject string    `json:"originalSubject,omitempty"`

	header nats.Header
	data   []byte
}

func newDeadLetter(m jetstream.Msg, md *jetstream.MsgMetadata) deadLetter {
	h := m.Headers()
	d := deadLetter{Seq: md.Sequence.Stream, Subject: m.Subject(), At: md.Timestamp, Stage: h.Get(events.HeaderStage),
		Route: h.Get(events.HeaderRoute), Class: h.Get(events.HeaderErrorClass), Error: h.Get(events.HeaderError),
		OriginalSubject: h.Get(events.HeaderOriginalSubject), header: h, data: m.Data()}
	d.Attempts, _ = strconv.Atoi(h.Get(events.HeaderAttempts))
	if t, err := time.Parse(time.RFC3339Nano, h.Get(events.HeaderDeadLetteredAt)); err == nil {
		d.At = t
	}
	// jumio.dlq.<stage>.<account>.<execution>
	if p := strings.Split(d.Subject, "."); len(p) == 5 {
		if p[3] != events.LegacyAccount {
			d.AccountID = p[3]
		}
		d.ExecutionID = p[4]
	}
	return d
}

// dlqSelection reads the selection flags.
type dlqSelection struct {
	scan  scan
	win   window
	stage string
	seqs  []uint64
	// route, account and execution are the flags as given.
	route, account, execution string
}

// dlqActions are the actions of "kycflow dlq".
var dlqActions = []string{"list", "show", "redrive", "purge"}

// readDLQ reads the action and the selection: the flags, and the
// sequences given as arguments after the action ("dlq show 42").
func readDLQ(fs *flag.FlagSet, args []string) (string, dlqSelection, error) {
	if len(args) == 0 || !slices.Contains(dlqActions, args[0]) {
		return "", dlqSelection{}, usageError("dlq: name one action: list, show, redrive or purge")
	}
	sel, err := readDLQSelection(fs, args[1:])
	if err != nil {
		return "", sel, fmt.Errorf("dlq: %w", err)
	}
	return args[0], sel, nil
}

func checkDLQ(fs *flag.FlagSet, args []string) error {
	_, _, err := readDLQ(fs, args)
	return err
}

// redriveMarker is the replay marker of a dead letter's redrive. A
// notifier dead letter asks its route for redelivery (its record counts
// the dead letter as delivered) as a redrive, which the route suppresses
// when it delivered the result, or a newer one of its key, since the dead
// letter (events.ReplayMarker.Redrive), under an id made of the route and
// the event: two dead letters of one result for one route (the result and a
// replay's copy of it) redriven together are one redrive, which the
// route's record delivers once. Other dead letters get an id of their
// own message.
func redriveMarker(d deadLetter) events.ReplayMarker {
	m := events.ReplayMarker{ID: events.EventID("redrive", d.header.Get(events.HeaderMsgID), strconv.FormatUint(d.Seq, 10))[:32]}
	if d.Stage != string(events.StageNotify) {
		return m
	}
	m.Redeliver, m.Redrive = true, true
	if d.Route != "" {
		m.Routes = []string{d.Route}
		if ev := d.header.Get(events.HeaderEventID); ev != "" {
			m.ID = events.EventID("redrive", d.Route, ev)[:32]
		}
	}
	return m
}

// allFound fails when a sequence named on the command line ("dlq show
// 42") is not among the dead letters found: a mistyped number must not
// read as "no dead letters" and exit 0.
func (sel dlqSelection) allFound(dls []deadLetter) error {
	var missing []string
	for _, seq := range sel.seqs {
		if !slices.ContainsFunc(dls, func(d deadLetter) bool { return d.Seq == seq }) {
			missing = append(missing, strconv.FormatUint(seq, 10))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("dlq: no dead letter at sequence %s (of those the other flags select)", strings.Join(missing, ", "))
	}
	return nil
}

// readDLQSelection reads the selection flags and the sequences seqArgs.
func readDLQSelection(fs *flag.FlagSet, seqArgs []string) (dlqSelection, error) {
	var sel dlqSelection
	win, err := readWindow(fs, time.Now())
	if err != nil {
		return sel, err
	}
	sel.win = win
	stage, route := strFlag(fs, "stage"), strFlag(fs, "route")
	token := "*"
	switch {
	case route != "":
		if stage != "" && stage != string(events.StageNotify) {
			return sel, usageError("--route is a notifier route: it needs --stage notify or none")
		}
		stage = string(events.StageNotify)
		token = events.DLQStageToken(events.StageNotify, route)
	case stage == string(events.StageEnrich), stage == string(events.StageReconcile), stage == string(events.StageWork):
		token = events.DLQStageToken(events.Stage(stage), "")
	case stage == string(events.StageNotify), stage == "":
	default:
		return sel, usageError("--stage %q: want enrich, notify, reconcile or work", stage)
	}
	sel.stage, sel.route = stage, route
	sel.account, sel.execution = strFlag(fs, "account"), strFlag(fs, "execution")
	a, e := "*", "*"
	if v := strFlag(fs, "account"); v != "" {
		a = events.AccountToken(v)
	}
	if v := strFlag(fs, "execution"); v != "" {
		e = events.Token(v)
	}
	sel.scan = scan{stream: events.StreamDLQ, since: win.since}
	if f := events.SubjectDLQ + "." + token + "." + a + "." + e; f != events.SubjectDLQ+".*.*.*" {
		sel.scan.filters = []string{f}
	}
	for _, s := range append(listOf(fs, "seq"), seqArgs...) {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return sel, usageError("%q is not a JUMIO_DLQ sequence (the first column of dlq list)", s)
		}
		sel.seqs = append(sel.seqs, n)
	}
	return sel, nil
}

// find returns the selected dead letters, oldest first.
func (sel dlqSelection) find(ctx context.Context, js jetstream.JetStream) ([]deadLetter, error) {
	var out []deadLetter
	err := each(ctx, js, sel.scan, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		if !sel.win.until.IsZero() && !md.Timestamp.Before(sel.win.until) {
			return errStop
		}
		if len(sel.seqs) > 0 && !slices.Contains(sel.seqs, md.Sequence.Stream) {
			return nil
		}
		d := newDeadLetter(m, md)
		if sel.stage != "" && d.Stage != sel.stage {
			return nil
		}
		out = append(out, d)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	return out, nil
}

func runDLQ(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error {
	action, sel, err := readDLQ(fs, args)
	if err != nil {
		return err
	}
	s, err := connect(ctx, env, fs)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := checkIDCase(ctx, s.js, "dlq", erasure.Target{Account: sel.account, Execution: sel.execution}, true); err != nil {
		return err
	}
	dls, err := sel.find(ctx, s.js)
	if err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	if len(dls) == 0 && sel.route != "" {
		// A route removed since keeps its dead letters, listed and
		// purged by name; a name that selects none and is no route's is
		// a typo, not "nothing to do".
		if err := checkRouteNames(ctx, s.js, []string{sel.route}); err != nil {
			return fmt.Errorf("dlq: no dead letters of that route, and %w", err)
		}
	}
	if err := sel.allFound(dls); err != nil {
		return err
	}
	switch action {
	case "list":
		return listDeadLetters(env.Stdout, dls, boolFlag(fs, "json"))
	case "show":
		return showDeadLetters(env.Stdout, dls, boolFlag(fs, "reveal"))
	case "redrive":
		return redrive(ctx, env, s.js, dls, boolFlag(fs, "dry-run"))
	}
	return purgeDeadLetters(ctx, env, s.js, dls, boolFlag(fs, "dry-run"), boolFlag(fs, "yes"))
}

func listDeadLetters(w io.Writer, dls []deadLetter, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, d := range dls {
			if err := enc.Encode(d); err != nil {
				return err
			}
		}
		return nil
	}
	if len(dls) == 0 {
		fmt.Fprintln(w, "no dead letters")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tDEAD-LETTERED\tSTAGE\tROUTE\tCLASS\tATTEMPTS\tACCOUNT\tEXECUTION\tERROR")
	for _, d := range dls {
		errText := d.Error
		if len(errText) > 100 {
			errText = errText[:100] + "…"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", d.Seq, d.At.UTC().Format(time.RFC3339), d.Stage, cmp.Or(d.Route, "-"),
			cmp.Or(d.Class, "-"), d.Attempts, cmp.Or(d.AccountID, events.LegacyAccount), d.ExecutionID, errText)
	}
	tw.Flush()
	fmt.Fprintln(w, count(len(dls), "dead letter"))
	return nil
}

func showDeadLetters(w io.Writer, dls []deadLetter, reveal bool) error {
	if len(dls) == 0 {
		fmt.Fprintln(w, "no dead letters")
		return nil
	}
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	for i, d := range dls {
		if i > 0 {
			fmt.Fprintln(bw)
		}
		fmt.Fprintf(bw, "dead letter %d on %s\n", d.Seq, d.Subject)
		keys := make([]string, 0, len(d.header))
		for k := range d.header {
			if !strings.HasPrefix(k, "Nats-") {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(bw, "  %s: %s\n", k, strings.Join(d.header[k], ", "))
		}
		if reveal {
			fmt.Fprintf(bw, "payload (%d bytes, personal data included):\n%s\n", len(d.data), d.data)
			continue
		}
		fmt.Fprintf(bw, "payload (%d bytes, personal data masked; --reveal shows it):\n%s\n", len(d.data), maskPayload(d.data))
	}
	return nil
}

// dlqHeaders are the headers a stage adds when it dead-letters a message;
// a redrive leaves them out.
var dlqHeaders = []string{events.HeaderError, events.HeaderErrorClass, events.HeaderErrorStack, events.HeaderStage, events.HeaderRoute,
	events.HeaderAttempts, events.HeaderOriginalSubject, events.HeaderOriginalStream, events.HeaderOriginalSequence,
	events.HeaderDeadLetteredAt}

// afterRepublish runs between a dead letter's copy and its deletion (a
// test's Ctrl-C there).
var afterRepublish = func() {}

// redrive re-publishes each dead letter where it came from, then deletes
// it; a dead letter is deleted only once its copy is stored.
func redrive(ctx context.Context, env Env, js jetstream.JetStream, dls []deadLetter, dryRun bool) error {
	if len(dls) == 0 {
		fmt.Fprintln(env.Stdout, "no dead letters to re-drive")
		return nil
	}
	if err := checkRedriveRoutes(ctx, js, dls); err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	if err := checkRedrivePayloads(dls); err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	st, err := js.Stream(ctx, events.StreamDLQ)
	if err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	done, others, finished := 0, 0, 0
	for _, d := range dls {
		if !dryRun && ctx.Err() != nil {
			note := byOthers(others, "re-driven")
			if finished > 0 {
				note += fmt.Sprintf(", %d stored already and deleted", finished)
			}
			return fmt.Errorf("dlq: %w; %d of %d re-driven%s, the rest kept: run the same command again", errInterrupted, done, len(dls), note)
		}
		if d.OriginalSubject == "" {
			return fmt.Errorf("dlq: dead letter %d has no %s header; %d of %d re-driven", d.Seq, events.HeaderOriginalSubject, done, len(dls))
		}
		marker := redriveMarker(d)
		if dryRun {
			fmt.Fprintf(env.Stdout, "would re-drive dead letter %d to %s (%s)\n", d.Seq, d.OriginalSubject, marker)
			continue
		}
		// Once begun, a dead letter's redrive is finished whatever
		// Ctrl-C (a copy and a deletion, milliseconds): cut between
		// the two, or with both done and unanswered, the counts would
		// not say what the server holds.
		cctx, cancel := ctxCall(context.WithoutCancel(ctx))
		deleted := false
		dup, err := republishDeadLetter(cctx, js, d)
		if err == nil {
			afterRepublish()
			deleted, err = deleteDeadLetter(cctx, st, d.Seq)
		}
		cancel()
		if err != nil {
			return fmt.Errorf("dlq: re-drive dead letter %d: %w; %d of %d re-driven", d.Seq, err, done, len(dls))
		}
		switch {
		case dup && !deleted:
			// Another redrive stored the same copy (its message id is
			// the dead letter's) and deleted the dead letter: its own.
			others++
			fmt.Fprintf(env.Stdout, "dead letter %d was re-driven by another run meanwhile\n", d.Seq)
			continue
		case dup:
			// Its copy was stored already, by a run beside this one or
			// by an earlier one that stopped before it deleted the dead
			// letter; this run finished it. Counted apart, so that two
			// runs at once never both count it re-driven.
			finished++
			fmt.Fprintf(env.Stdout, "dead letter %d: its copy was stored already (by another run, or an earlier one that stopped); deleted\n", d.Seq)
			continue
		}
		// A copy this run stored is its own redrive, whoever deleted the
		// dead letter (a purge beside it).
		done++
		fmt.Fprintf(env.Stdout, "re-drove dead letter %d to %s\n", d.Seq, d.OriginalSubject)
	}
	if !dryRun {
		note := byOthers(others, "re-driven")
		if finished > 0 {
			note += fmt.Sprintf(", %d stored already and deleted", finished)
		}
		fmt.Fprintf(env.Stdout, "%s re-driven%s\n", count(done, "dead letter"), note)
	}
	return nil
}

// republishDeadLetter stores d's copy where it came from, under a message
// id of d's own: a second store of it within the duplicate window, by
// another run, is reported a duplicate.
func republishDeadLetter(ctx context.Context, js jetstream.JetStream, d deadLetter) (dup bool, err error) {
	origID := cmp.Or(d.header.Get(events.HeaderCEID), d.header.Get(events.HeaderEventID), events.EventID("dlq", strconv.FormatUint(d.Seq, 10)))
	if d.Stage == string(events.StageNotify) {
		// The marker is the same for every redrive of a result to a
		// route (redriveMarker); the message of each dead letter is a
		// message of its own, or a result that failed again after a
		// redrive would never be stored again (duplicate window).
		origID += "@" + strconv.FormatUint(d.Seq, 10)
	}
	return republish(ctx, js, d.OriginalSubject, d.data, d.header, redriveMarker(d), origID, func(k string) bool { return slices.Contains(dlqHeaders, k) })
}

// deleteDeadLetter deletes the dead letter at seq and reports whether
// this call deleted it: false, without an error, when it was gone already
// (a redrive or purge running beside this one).
func deleteDeadLetter(ctx context.Context, st jetstream.Stream, seq uint64) (bool, error) {
	return broker.DeleteMsg(ctx, st, seq)
}

// byOthers is the note of a count that another run did instead.
func byOthers(n int, what string) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", %d %s by another run meanwhile", n, what)
}

// checkRedrivePayloads refuses to re-drive a notifier dead letter that
// kept no payload: its route's policy is not full and the message was not
// an enriched event it could project (the notifier keeps no more personal
// data than the route may deliver). Re-driving nothing would only
// dead-letter it again; the original is re-fed from JUMIO_ENRICHED
// instead. Nothing is re-driven when one fails the check.
func checkRedrivePayloads(dls []deadLetter) error {
	for _, d := range dls {
		if d.Stage != string(events.StageNotify) || len(d.data) > 0 {
			continue
		}
		seq := d.header.Get(events.HeaderOriginalSequence)
		return fmt.Errorf("dead letter %d keeps no payload (route %s keeps none of a message it cannot project by its policy), nothing was re-driven: "+
			"re-feed the original while %s keeps it with: kycflow replay notify --from-seq %s --to-seq %s --redeliver --route %s",
			d.Seq, d.Route, events.StreamEnriched, seq, seq, d.Route)
	}
	return nil
}

// routeReadWait is how long a redrive watches a route's consumer for a
// notifier reading it. (A variable for tests.)
var routeReadWait = 3 * time.Second

// errRouteNotRead: no notifier reads the route a dead letter would be
// re-driven to.
var errRouteNotRead = errors.New("no notifier reads the route")

// checkRedriveRoutes refuses to re-drive notifier dead letters to a route
// that no notifier reads. A re-driven result is marked for its route only,
// so every other route drops it; if its own route was renamed or removed,
// or is disabled (after a 410) or not running, the result would sit
// unread while its dead letter is gone. Nothing is re-driven when one
// route fails the check.
func checkRedriveRoutes(ctx context.Context, js jetstream.JetStream, dls []deadLetter) error {
	n := map[string]int{}
	for _, d := range dls {
		if d.Stage == string(events.StageNotify) && d.Route != "" {
			n[d.Route]++
		}
	}
	for _, route := range slices.Sorted(maps.Keys(n)) {
		if err := routeRead(ctx, js, route); err != nil {
			return fmt.Errorf("%s of route %s not re-driven (nothing was): %w", count(n[route], "dead letter"), route, err)
		}
	}
	return nil
}

// routeRead checks that the route's durable consumer on JUMIO_ENRICHED
// exists and that a notifier reads it: it has a pull request waiting, or
// delivers or acknowledges messages, within routeReadWait.
func routeRead(ctx context.Context, js jetstream.JetStream, route string) error {
	durable := notifier.DurablePrefix + route
	var first *jetstream.ConsumerInfo
	for deadline := time.Now().Add(routeReadWait); ; {
		cctx, cancel := ctxCall(ctx)
		c, err := js.Consumer(cctx, events.StreamEnriched, durable)
		var info *jetstream.ConsumerInfo
		if err == nil {
			info, err = c.Info(cctx)
		}
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			return fmt.Errorf("%w: %s has no consumer %s (the route was renamed or removed; add it back to the routes file, or purge its dead letters)", errRouteNotRead, events.StreamEnriched, durable)
		case err != nil:
			return fmt.Errorf("consumer %s: %w", durable, err)
		case info.NumWaiting > 0:
			return nil
		case first == nil:
			first = info
		case info.Delivered.Stream != first.Delivered.Stream || info.AckFloor.Stream != first.AckFloor.Stream:
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w: nothing read consumer %s for %s (the route was removed from the routes file, disabled after a 410 Gone, or the notifier is not running; run the command again once a notifier reads the route)", errRouteNotRead, durable, routeReadWait)
		}
		select {
		case <-ctx.Done():
			return errInterrupted
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func purgeDeadLetters(ctx context.Context, env Env, js jetstream.JetStream, dls []deadLetter, dryRun, yes bool) error {
	if len(dls) == 0 {
		fmt.Fprintln(env.Stdout, "no dead letters to purge")
		return nil
	}
	if dryRun {
		fmt.Fprintf(env.Stdout, "would delete %s\n", count(len(dls), "dead letter"))
		return nil
	}
	ok, err := confirm(env, yes, fmt.Sprintf("Delete %s? They cannot be re-driven afterwards.", count(len(dls), "dead letter")))
	if err != nil || !ok {
		return err
	}
	st, err := js.Stream(ctx, events.StreamDLQ)
	if err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	done, others := 0, 0
	for _, d := range dls {
		cctx, cancel := ctxCall(ctx)
		deleted, err := deleteDeadLetter(cctx, st, d.Seq)
		cancel()
		switch {
		case err != nil:
			return fmt.Errorf("dlq: delete dead letter %d: %w; %d of %d deleted", d.Seq, err, done, len(dls))
		case deleted:
			done++
		default:
			others++
		}
	}
	fmt.Fprintf(env.Stdout, "%s deleted%s\n", count(done, "dead letter"), byOthers(others, "removed"))
	return nil
}

// errNotConfirmed is returned when a destructive command was not
// confirmed.
var errNotConfirmed = errors.New("not confirmed (answer y, or pass --yes)")

// confirm asks a yes/no question on standard input unless yes is set.
func confirm(env Env, yes bool, question string) (bool, error) {
	if yes {
		return true, nil
	}
	if env.Stdin == nil {
		return false, errNotConfirmed
	}
	fmt.Fprintf(env.Stdout, "%s [y/N] ", question)
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(env.Stdout)
		return false, errNotConfirmed
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, errNotConfirmed
}
