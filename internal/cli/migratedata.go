package cli

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/migration"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

func init() {
	register(&Command{
		Name:    "migrate-data",
		Summary: "have Jumio migrate Netverify transactions to the Platform, resumably",
		Usage:   "[status] [file|-] [flags]",
		Description: `Asks Jumio to migrate Netverify scans to the Jumio Platform (its data
migration API): each scan reference becomes the workflow execution id of its
migrated copy, and Jumio sends one callback per scan, which flows through
kycflow like any other; its result says which Netverify scan it is
(migration.scanReference).

The scans come from a file (one scan reference per line, optionally
followed by a comma and the user reference; "-" reads standard input) or
from kycflow's own Netverify history: --since/--until select the Netverify
callbacks JUMIO_CALLBACKS stored in that time (--from results: the
Netverify results in JUMIO_RESULTS).

Scans of one end user go into one Platform account (--group-by user: by
the Netverify customerId/userReference, or a kycflow-signed token's user
id; scans without one get an account each), into the account kycflow
already knows for that user when it has seen a Platform callback of theirs.
--group-by scan gives every scan its own account.

The Jumio requests are made by the enricher, in the migrate lane of its
Jumio budget, so the migration uses what live callbacks leave: this
command queues batches (--batch scans each) in the work stream, keeps at
most --max-pending scans waiting for their callback, and shows the
progress. Every scan's state is kept in the key-value bucket
kycflow_migration (requested, migrated once its callback arrived, or
failed with Jumio's reason: wiped_out, not_found, not_final,
already_migrated, in_progress, account_not_found), so running the same
command again finishes what is left and asks for nothing twice; batches
already queued go on in the enricher after an interruption. Failed scans
are asked for again only with --retry-failed naming their class.

"kycflow migrate-data status" prints the counts by state and the failures
by class.`,
		Example: `  kycflow migrate-data --since 2025-01-01 --dry-run
  kycflow migrate-data --since 2025-01-01 --until 2026-01-01
  kycflow migrate-data scans.txt --group-by scan --batch 100
  cut -d, -f1 export.csv | kycflow migrate-data - --retry-failed not_final
  kycflow migrate-data status`,
		Flags: func(fs *flag.FlagSet) {
			natsFlag(fs)
			fs.String("since", "", "select the Netverify scans kycflow stored since this time or duration ago (2025-01-01, 30d)")
			fs.String("until", "", "select the Netverify scans stored before this time or duration ago")
			fs.String("from", "callbacks", "history to select from: callbacks (JUMIO_CALLBACKS) or results (JUMIO_RESULTS)")
			fs.String("group-by", "user", "account groups: user (one account per user reference, one per scan without) or scan (one account per scan)")
			fs.Int("batch", 50, "scans per batch (per work item of the enricher)")
			fs.Int("max-pending", 8, "scans asked for and not called back yet, at most (batches are cut to it); keep it at most half of the enricher's KYCFLOW_ENRICHER_CONCURRENCY (times its replicas; the default suits the default 16), so that live callbacks always find a worker")
			fs.Var(&listFlag{}, "retry-failed", "ask again for scans that failed with these classes (not_final, in_progress, ...)")
			fs.Duration("stall", 10*time.Minute, "give up when no scan changed state for this long")
			fs.Bool("dry-run", false, "only show what would be queued")
			fs.Bool("json", false, "status: print the counts and failures as JSON")
		},
		Check: checkMigrateData,
		Run:   runMigrateData,
	})
}

// migrateRequest is a migrate-data command line, read.
type migrateRequest struct {
	status     bool
	file       string // "" for history, "-" for standard input
	win        window
	from       string
	groupBy    string
	batch      int
	maxPending int
	retry      []jumio.MigrationClass
	stall      time.Duration
}

func readMigrateData(fs *flag.FlagSet, args []string, now time.Time) (migrateRequest, error) {
	r := migrateRequest{from: strFlag(fs, "from"), groupBy: strFlag(fs, "group-by"), batch: intFlag(fs, "batch"),
		maxPending: intFlag(fs, "max-pending"), stall: getFlag(fs, "stall").(time.Duration)}
	if len(args) > 0 && args[0] == "status" {
		r.status, args = true, args[1:]
		if len(args) > 0 {
			return r, usageError("migrate-data status: unexpected argument %q", args[0])
		}
		return r, nil
	}
	switch {
	case len(args) > 1:
		return r, usageError("migrate-data: one file at most")
	case len(args) == 1:
		r.file = args[0]
	}
	var err error
	if r.win, err = readWindow(fs, now); err != nil {
		return r, fmt.Errorf("migrate-data: %w", err)
	}
	history := strFlag(fs, "since") != "" || strFlag(fs, "until") != ""
	switch {
	case r.file != "" && history:
		return r, usageError("migrate-data: give a file or --since/--until, not both")
	case r.file == "" && !history:
		return r, usageError("migrate-data: give a file of scan references (- for standard input) or --since to select from kycflow's history")
	case r.from != "callbacks" && r.from != "results":
		return r, usageError("migrate-data: --from %q: want callbacks or results", r.from)
	case r.groupBy != "user" && r.groupBy != "scan":
		return r, usageError("migrate-data: --group-by %q: want user or scan", r.groupBy)
	case r.batch < 1 || r.batch > 1000:
		return r, usageError("migrate-data: --batch must be 1 to 1000")
	case r.maxPending < 1:
		return r, usageError("migrate-data: --max-pending must be at least 1")
	case r.stall <= 0:
		return r, usageError("migrate-data: --stall must be positive")
	}
	for _, c := range listOf(fs, "retry-failed") {
		class := jumio.MigrationClass(strings.ToLower(c))
		if !slices.Contains(jumio.MigrationClasses, class) {
			return r, usageError("migrate-data: --retry-failed %q: want one of %s", c, joinClasses(jumio.MigrationClasses))
		}
		r.retry = append(r.retry, class)
	}
	return r, nil
}

func joinClasses(cs []jumio.MigrationClass) string {
	var s []string
	for _, c := range cs {
		s = append(s, string(c))
	}
	return strings.Join(s, ", ")
}

func checkMigrateData(fs *flag.FlagSet, args []string) error {
	_, err := readMigrateData(fs, args, time.Now())
	return err
}

func runMigrateData(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error {
	req, err := readMigrateData(fs, args, time.Now())
	if err != nil {
		return err
	}
	s, err := connect(ctx, env, fs)
	if err != nil {
		return err
	}
	defer s.Close()
	if req.status {
		return migrationStatus(ctx, env, s, boolFlag(fs, "json"))
	}
	scans, source, err := selectScans(ctx, env, s, req)
	if err != nil {
		return fmt.Errorf("migrate-data: %w", err)
	}
	if len(scans) == 0 {
		fmt.Fprintf(env.Stdout, "nothing to migrate: no Netverify scan in %s\n", source)
		return nil
	}
	dry := boolFlag(fs, "dry-run")
	store, err := openMigration(ctx, s, dry)
	if err != nil {
		return fmt.Errorf("migrate-data: %w", err)
	}
	m := newMigrationRun(req, scans)
	if store != nil {
		if err := m.load(ctx, store); err != nil {
			return fmt.Errorf("migrate-data: %w", err)
		}
	}
	known := map[string]string{}
	if req.groupBy == "user" && m.hasUsers() {
		if known, err = knownAccounts(ctx, s.js); err != nil {
			return fmt.Errorf("migrate-data: %w", err)
		}
	}
	batches := m.plan(known)
	m.printPlan(env.Stdout, source, batches)
	if dry {
		fmt.Fprintln(env.Stdout, "dry run: nothing queued")
		return nil
	}
	if len(batches) == 0 && m.finished() {
		fmt.Fprintln(env.Stdout, "every selected scan is migrated or failed already (kycflow migrate-data status lists the failures)")
		return nil
	}
	if _, err := s.js.Consumer(ctx, migration.StreamWork, migration.WorkDurable); err != nil {
		fmt.Fprintf(env.Stderr, "warning: no enricher has read the work stream yet (%s/%s: %v); the batches wait in it until one runs\n",
			migration.StreamWork, migration.WorkDurable, err)
	}
	return m.drive(ctx, env, s.js, store, batches)
}

// openMigration opens the migration bucket; unless dry, it creates the
// bucket and the work stream when they are missing. A dry run on a
// server without them returns nil.
func openMigration(ctx context.Context, s *session, dry bool) (*migration.Store, error) {
	if dry {
		st, _, err := migration.Open(ctx, s.js)
		return st, err
	}
	st, err := migration.Ensure(ctx, s.js, migration.StoreConfig{Storage: s.streams.Storage, Replicas: s.streams.Replicas})
	if err != nil {
		return nil, err
	}
	if err := migration.EnsureWorkStream(ctx, s.js, migration.WorkStreamConfig{Storage: s.streams.Storage, Replicas: s.streams.Replicas}); err != nil {
		return nil, err
	}
	return st, nil
}

// scanRef is one selected scan and the user reference it belongs to ("":
// unknown).
type scanRef struct {
	ref, user string
}

// selectScans reads the scans to migrate from the file or the history.
func selectScans(ctx context.Context, env Env, s *session, req migrateRequest) ([]scanRef, string, error) {
	if req.file == "" {
		return historyScans(ctx, s.js, req)
	}
	in, name := env.Stdin, "standard input"
	if req.file != "-" {
		f, err := os.Open(req.file)
		if err != nil {
			return nil, "", err
		}
		defer f.Close()
		in, name = f, req.file
	}
	if in == nil {
		return nil, "", errors.New("nothing on standard input")
	}
	scans, err := readScanList(in, name)
	if err != nil {
		return nil, "", err
	}
	if req.groupBy == "user" {
		if err := lookUpUsers(ctx, s.js, scans); err != nil {
			return nil, "", err
		}
	}
	return scans, name, nil
}

// readScanList reads "<scan reference>[,<user reference>]" lines; blank
// lines and lines starting with # are skipped, repeats kept once. A line
// that is not a scan reference is an error naming its line, never its
// content.
func readScanList(r io.Reader, name string) ([]scanRef, error) {
	var out []scanRef
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 {
			// A byte order mark, as spreadsheets write one.
			line = strings.TrimPrefix(line, "\ufeff")
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ref, user, _ := strings.Cut(line, ",")
		ref, user = strings.TrimSpace(ref), strings.TrimSpace(user)
		if !wire.ValidID(ref) {
			return nil, fmt.Errorf("%s:%d: not a scan reference (a UUID)", name, n)
		}
		// A UUID in another case is the same scan: selected once, as
		// first spelled.
		if key := strings.ToLower(ref); !seen[key] {
			seen[key] = true
			out = append(out, scanRef{ref: ref, user: user})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return out, nil
}

// lookUpUsers fills in the user reference of scans that have none from
// the newest Netverify callback of each in JUMIO_CALLBACKS.
func lookUpUsers(ctx context.Context, js jetstream.JetStream, scans []scanRef) error {
	st, err := js.Stream(ctx, events.StreamCallbacks)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for i := range scans {
		if scans[i].user != "" {
			continue
		}
		cctx, cancel := ctxCall(ctx)
		m, err := st.GetLastMsgForSubject(cctx, events.CallbackSubject(events.APINetverify, "", scans[i].ref))
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			continue
		case err != nil:
			return fmt.Errorf("stream %s: %w", events.StreamCallbacks, err)
		}
		_, scans[i].user = netverifyScan(m.Data)
	}
	return nil
}

// netverifyScan reads the scan reference and user reference of a stored
// Netverify callback ("" when it is not one).
func netverifyScan(data []byte) (ref, user string) {
	var ev events.CallbackEvent
	if json.Unmarshal(data, &ev) != nil || ev.API != events.APINetverify || !wire.ValidID(ev.WorkflowExecutionID) {
		return "", ""
	}
	values, err := url.ParseQuery(ev.Form)
	if err != nil {
		return ev.WorkflowExecutionID, ""
	}
	m, err := wire.ParseNetverifyCallback(values)
	if err != nil {
		return ev.WorkflowExecutionID, ""
	}
	return ev.WorkflowExecutionID, m.UserReference()
}

// historyScans selects the Netverify scans of kycflow's history in the
// window.
func historyScans(ctx context.Context, js jetstream.JetStream, req migrateRequest) ([]scanRef, string, error) {
	var out []scanRef
	index := map[string]int{}
	add := func(ref, user string) {
		if i, ok := index[ref]; ok {
			if out[i].user == "" {
				out[i].user = user
			}
			return
		}
		index[ref] = len(out)
		out = append(out, scanRef{ref: ref, user: user})
	}
	sc := scan{stream: events.StreamCallbacks, filters: []string{events.SubjectCallbacks + "." + string(events.APINetverify) + ".>"}, since: req.win.since}
	what := "Netverify callbacks in " + events.StreamCallbacks
	if req.from == "results" {
		sc = scan{stream: events.StreamResults, filters: events.ResultAccountFilters(""), since: req.win.since}
		what = "Netverify results in " + events.StreamResults
	}
	err := each(ctx, js, sc, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		if !req.win.until.IsZero() && !md.Timestamp.Before(req.win.until) {
			return errStop
		}
		if !req.win.since.IsZero() && md.Timestamp.Before(req.win.since) || refed(sc.stream, m.Headers()) {
			return nil
		}
		if req.from == "results" {
			var r events.Result
			if json.Unmarshal(m.Data(), &r) == nil && r.Source.API == events.APINetverify && wire.ValidID(r.IDs.WorkflowExecutionID) {
				add(r.IDs.WorkflowExecutionID, r.IDs.UserReference)
			}
			return nil
		}
		if ref, user := netverifyScan(m.Data()); ref != "" {
			add(ref, user)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, "", err
	}
	return out, what + windowText(req.win), nil
}

func windowText(w window) string {
	var s string
	if !w.since.IsZero() {
		s += " stored since " + w.since.UTC().Format(time.RFC3339)
	}
	if !w.until.IsZero() {
		s += " before " + w.until.UTC().Format(time.RFC3339)
	}
	return s
}

// userKey is the user a reference names: the user id of a kycflow-signed
// token (u=<id>,t=…,v1=…), else the reference itself; "" for none (a
// signed token without a user id names nobody).
func userKey(ref string) string {
	ref = strings.TrimSpace(ref)
	if !strings.Contains(ref, "v1=") || !strings.Contains(ref, "t=") {
		return ref
	}
	for part := range strings.SplitSeq(ref, ",") {
		if id, ok := strings.CutPrefix(part, "u="); ok {
			return id
		}
	}
	return ""
}

// knownAccounts maps users to the Platform accounts kycflow knows for
// them, from the Platform callbacks in JUMIO_CALLBACKS (their
// userReference). The accounts earlier migrations made are the runner's
// to look up, per group.
func knownAccounts(ctx context.Context, js jetstream.JetStream) (map[string]string, error) {
	out := map[string]string{}
	sc := scan{stream: events.StreamCallbacks, filters: []string{events.SubjectCallbacks + "." + string(events.APIPlatform) + ".>"}}
	err := each(ctx, js, sc, func(m jetstream.Msg, _ *jetstream.MsgMetadata) error {
		var ev events.CallbackEvent
		if json.Unmarshal(m.Data(), &ev) != nil || !wire.ValidID(ev.AccountID) {
			return nil
		}
		var cb struct {
			UserReference string `json:"userReference"`
		}
		if json.Unmarshal(ev.JSON, &cb) == nil {
			if u := userKey(cb.UserReference); u != "" {
				out[u] = ev.AccountID
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, err
	}
	return out, nil
}

// migrationRun is one run of migrate-data: the scans it selected, what
// the bucket says about them, and what it queues.
type migrationRun struct {
	req   migrateRequest
	scans []scanRef
	// state of each selected scan that has a record; inBatch: the scans of
	// batches not done yet, with their batch.
	state   map[string]migration.Scan
	inBatch map[string]string
	// asked: the scans this run queued; one that fails again is not
	// asked for again by the same run (--retry-failed).
	asked map[string]bool
	// unqueued are the open batches whose work item is missing.
	unqueued []migration.Batch
	known    int // groups going into an account kycflow knows
	groups   int
}

func newMigrationRun(req migrateRequest, scans []scanRef) *migrationRun {
	return &migrationRun{req: req, scans: scans, state: map[string]migration.Scan{}, inBatch: map[string]string{}, asked: map[string]bool{}}
}

func (m *migrationRun) hasUsers() bool {
	return slices.ContainsFunc(m.scans, func(s scanRef) bool { return userKey(s.user) != "" })
}

// load reads what the bucket knows of the selected scans and of the open
// batches.
func (m *migrationRun) load(ctx context.Context, store *migration.Store) error {
	selected := map[string]bool{}
	for _, s := range m.scans {
		selected[s.ref] = true
	}
	for ref, sc := range store.Scans(ctx) {
		if selected[ref] {
			m.state[ref] = sc
		}
	}
	for b := range store.Batches(ctx) {
		if b.State == migration.BatchDone {
			continue
		}
		open := false
		for _, ref := range b.Scans() {
			if selected[ref] {
				m.inBatch[ref] = b.ID
				open = true
			}
		}
		// Queued and never taken up, or taken up and left (its work
		// item dead-lettered after Jumio refused it or its retries ran
		// out): each goes on once its work item is queued again.
		if open && (b.State == migration.BatchQueued || b.State == migration.BatchSent) {
			m.unqueued = append(m.unqueued, b)
		}
	}
	return ctx.Err()
}

// todo reports whether a selected scan still has to be queued.
func (m *migrationRun) todo(ref string) bool {
	if _, open := m.inBatch[ref]; open || m.asked[ref] {
		return false
	}
	sc, ok := m.state[ref]
	switch {
	case !ok:
		return true
	case sc.State == migration.StateFailed:
		return slices.Contains(m.req.retry, sc.Class)
	}
	return false // requested or migrated
}

// finished reports whether every selected scan is migrated or failed for
// good.
func (m *migrationRun) finished() bool {
	for _, s := range m.scans {
		sc, ok := m.state[s.ref]
		_, open := m.inBatch[s.ref] // a failed scan asked for again
		if !ok || open || sc.State == migration.StateRequested || m.todo(s.ref) {
			return false
		}
	}
	return true
}

// plan groups the scans still to queue into accounts and batches.
func (m *migrationRun) plan(known map[string]string) []migration.Batch {
	var order []string
	groups := map[string]*migration.Group{}
	for _, s := range m.scans {
		if !m.todo(s.ref) {
			continue
		}
		key := "scan:" + s.ref
		if u := userKey(s.user); m.req.groupBy == "user" && u != "" {
			key = "user:" + u
		}
		g, ok := groups[key]
		if !ok {
			g = &migration.Group{Key: key}
			if u, isUser := strings.CutPrefix(key, "user:"); isUser {
				g.AccountID = known[u]
			}
			groups[key] = g
			order = append(order, key)
		}
		g.ScanReferences = append(g.ScanReferences, s.ref)
	}
	m.groups = len(order)
	var out []migration.Batch
	var cur migration.Batch
	size := 0
	flush := func() {
		if len(cur.Groups) > 0 {
			cur.ID = batchID(cur, m.state)
			out = append(out, cur)
		}
		cur, size = migration.Batch{}, 0
	}
	limit := m.req.batch
	if m.req.maxPending > 0 {
		limit = min(limit, m.req.maxPending)
	}
	for _, key := range order {
		g := groups[key]
		if g.AccountID != "" {
			m.known++
		}
		// A batch is queued whole: one larger than --max-pending would
		// have more scans waiting than it allows. (An end user with
		// more scans than that goes alone, and waits alone.)
		if size > 0 && size+len(g.ScanReferences) > limit {
			flush()
		}
		cur.Groups = append(cur.Groups, *g)
		size += len(g.ScanReferences)
	}
	flush()
	return out
}

// batchID derives a batch's id from its scans: the same batch planned
// again (a resumed run that crashed between recording and queuing it) has
// the same id, and its work item the same message id. A scan asked for
// again after it failed (--retry-failed) adds the batch that failed it:
// the retry is a batch of its own, not the finished one, which would be
// taken for done and ask Jumio nothing.
func batchID(b migration.Batch, state map[string]migration.Scan) string {
	refs := b.Scans()
	slices.Sort(refs)
	parts := slices.Clone(refs)
	for _, ref := range refs {
		if sc, ok := state[ref]; ok && sc.State == migration.StateFailed && sc.Batch != "" {
			parts = append(parts, ref+"@"+sc.Batch)
		}
	}
	h := sha256.Sum256([]byte(strings.Join(parts, ",")))
	return hex.EncodeToString(h[:16])
}

// counts of the selected scans by state.
type migrationCounts struct {
	selected, queued, requested, migrated, failed int
}

func (m *migrationRun) counts() migrationCounts {
	c := migrationCounts{selected: len(m.scans)}
	for _, s := range m.scans {
		sc, ok := m.state[s.ref]
		_, open := m.inBatch[s.ref]
		switch {
		case ok && sc.State == migration.StateMigrated:
			c.migrated++
		case ok && sc.State == migration.StateFailed && !open:
			c.failed++
		case ok && sc.State == migration.StateRequested:
			c.requested++
		case open:
			c.queued++
		}
	}
	return c
}

func (m *migrationRun) printPlan(w io.Writer, source string, batches []migration.Batch) {
	c := m.counts()
	fmt.Fprintf(w, "migrate-data: %d scans selected (%s)\n", c.selected, source)
	fmt.Fprintf(w, "  already: %d migrated, %d requested, %d queued, %d failed", c.migrated, c.requested, c.queued, c.failed)
	if len(m.req.retry) > 0 {
		fmt.Fprintf(w, " (asked again: %s)", joinClasses(m.req.retry))
	}
	fmt.Fprintln(w)
	n := 0
	for _, b := range batches {
		n += len(b.Scans())
	}
	by := "user reference, one account per scan without"
	if m.req.groupBy == "scan" {
		by = "one account per scan"
	}
	fmt.Fprintf(w, "  to queue: %d scans in %d account groups (%s; %d into accounts kycflow knows), %d batches of at most %d\n",
		n, m.groups, by, m.known, len(batches), m.req.batch)
	if len(m.unqueued) > 0 {
		fmt.Fprintf(w, "  %d batches of an earlier run are recorded but not queued: queued again\n", len(m.unqueued))
	}
}

// drive queues the batches, keeping at most max-pending scans waiting for
// their callbacks, and follows the scans' states until every one is
// migrated or failed, the run stalls, or ctx ends.
func (m *migrationRun) drive(ctx context.Context, env Env, js jetstream.JetStream, store *migration.Store, batches []migration.Batch) error {
	updates := make(chan struct {
		ref string
		sc  migration.Scan
	}, 1024)
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchErr := make(chan error, 1)
	go func() {
		watchErr <- store.Watch(wctx, func(ref string, sc migration.Scan, _ bool) bool {
			if ref == "" {
				return true
			}
			select {
			case updates <- struct {
				ref string
				sc  migration.Scan
			}{ref, sc}:
				return true
			case <-wctx.Done():
				return false
			}
		})
	}()
	selected := map[string]bool{}
	for _, s := range m.scans {
		selected[s.ref] = true
	}
	// Batches of an earlier run that were recorded but never queued.
	for _, b := range m.unqueued {
		queued, err := migration.Queued(ctx, js, b.ID)
		if err != nil {
			return fmt.Errorf("migrate-data: %w", err)
		}
		switch {
		case queued:
		case b.State == migration.BatchSent:
			// Under an id of its own: the first work item's is still
			// remembered for a while by JetStream's duplicate window.
			if err := migration.EnqueueAgain(ctx, js, b.ID, b.Attempts); err != nil {
				return fmt.Errorf("migrate-data: %w", err)
			}
		default:
			if err := migration.Enqueue(ctx, js, b.ID); err != nil {
				return fmt.Errorf("migrate-data: %w", err)
			}
		}
	}
	bar := newProgress(env.Stderr, "migrate-data", len(m.scans))
	defer bar.finish()
	last := time.Now()
	stallTimer := time.NewTimer(m.req.stall)
	defer stallTimer.Stop()
	for {
		c := m.counts()
		// Queue while there is room under max-pending.
		for len(batches) > 0 && (c.requested+c.queued == 0 || c.requested+c.queued+len(batches[0].Scans()) <= m.req.maxPending) {
			b := batches[0]
			if err := store.QueueBatch(ctx, b); err != nil {
				return m.interrupted(ctx, env, err)
			}
			if err := migration.Enqueue(ctx, js, b.ID); err != nil {
				return m.interrupted(ctx, env, err)
			}
			for _, ref := range b.Scans() {
				m.inBatch[ref] = b.ID
				m.asked[ref] = true
			}
			batches = batches[1:]
			c = m.counts()
		}
		bar.update(c.migrated + c.failed)
		if len(batches) == 0 && m.finished() {
			bar.finish()
			m.printSummary(env.Stdout)
			return nil
		}
		select {
		case <-ctx.Done():
			bar.finish()
			return m.interrupted(ctx, env, ctx.Err())
		case err := <-watchErr:
			return m.interrupted(ctx, env, fmt.Errorf("watch of %s ended: %w", migration.Bucket, err))
		case <-stallTimer.C:
			bar.finish()
			c := m.counts()
			return fmt.Errorf("migrate-data: no scan changed state for %s: %d migrated, %d failed, %d requested without a callback yet, %d queued (is the enricher running? kycflow migrate-data status lists them; running the same command again goes on)",
				time.Since(last).Round(time.Second), c.migrated, c.failed, c.requested, c.queued)
		case u := <-updates:
			if !selected[u.ref] {
				continue
			}
			// A scan's record from before its open batch (the failure a
			// retry asks again about, as the watch first delivers it)
			// does not end that batch's wait.
			if b, open := m.inBatch[u.ref]; open && u.sc.State != migration.StateMigrated && u.sc.Batch != b {
				continue
			}
			m.state[u.ref] = u.sc
			if u.sc.State != migration.StateRequested {
				delete(m.inBatch, u.ref)
			}
			last = time.Now()
			if !stallTimer.Stop() {
				select {
				case <-stallTimer.C:
				default:
				}
			}
			stallTimer.Reset(m.req.stall)
		}
	}
}

func (m *migrationRun) interrupted(ctx context.Context, env Env, cause error) error {
	c := m.counts()
	if ctx.Err() != nil {
		return fmt.Errorf("migrate-data: interrupted: %d of %d migrated, %d failed, %d requested and %d queued go on in the enricher; run the same command again to finish (it asks for nothing twice)",
			c.migrated, c.selected, c.failed, c.requested, c.queued)
	}
	return fmt.Errorf("migrate-data: %w (%d of %d migrated; run the same command again to go on)", cause, c.migrated, c.selected)
}

func (m *migrationRun) printSummary(w io.Writer) {
	c := m.counts()
	fmt.Fprintf(w, "migrated %d of %d scans", c.migrated, c.selected)
	if c.failed > 0 {
		byClass := map[jumio.MigrationClass]int{}
		for _, s := range m.scans {
			if sc := m.state[s.ref]; sc.State == migration.StateFailed {
				byClass[sc.Class]++
			}
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(byClass)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, byClass[k]))
		}
		fmt.Fprintf(w, "; %d failed (%s): kycflow migrate-data status lists them", c.failed, strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
}

// migrationStatusReport is "migrate-data status --json".
type migrationStatusReport struct {
	Queued    int                 `json:"queued"`
	Requested int                 `json:"requested"`
	Migrated  int                 `json:"migrated"`
	Failed    map[string][]string `json:"failed"`
	// Conflicts are requested scans Jumio called in progress or migrated
	// already when a batch was sent again.
	Conflicts int `json:"conflicts,omitempty"`
	Batches   struct {
		Queued, Sent, Done int
	} `json:"batches"`
}

// migrationStatus prints the counts of every scan in the bucket by state
// and the failures by class.
func migrationStatus(ctx context.Context, env Env, s *session, asJSON bool) error {
	store, ok, err := migration.Open(ctx, s.js)
	if err != nil {
		return fmt.Errorf("migrate-data: %w", err)
	}
	rep := migrationStatusReport{Failed: map[string][]string{}}
	if ok {
		recorded := map[string]bool{}
		for ref, sc := range store.Scans(ctx) {
			recorded[ref] = true
			switch sc.State {
			case migration.StateMigrated:
				rep.Migrated++
			case migration.StateFailed:
				rep.Failed[string(sc.Class)] = append(rep.Failed[string(sc.Class)], ref)
			default:
				rep.Requested++
				if sc.Conflict {
					rep.Conflicts++
				}
			}
		}
		for b := range store.Batches(ctx) {
			switch b.State {
			case migration.BatchQueued:
				rep.Batches.Queued++
			case migration.BatchSent:
				rep.Batches.Sent++
			default:
				rep.Batches.Done++
			}
			if b.State != migration.BatchDone {
				for _, ref := range b.Scans() {
					if !recorded[ref] {
						rep.Queued++
					}
				}
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return errInterrupted
	}
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	failed := 0
	for _, refs := range rep.Failed {
		failed += len(refs)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "STATE\tSCANS\n")
	fmt.Fprintf(tw, "queued\t%d\n", rep.Queued)
	fmt.Fprintf(tw, "requested\t%d\n", rep.Requested)
	fmt.Fprintf(tw, "migrated\t%d\n", rep.Migrated)
	fmt.Fprintf(tw, "failed\t%d\n", failed)
	tw.Flush()
	fmt.Fprintf(env.Stdout, "batches: %d queued, %d being sent, %d done\n", rep.Batches.Queued, rep.Batches.Sent, rep.Batches.Done)
	if rep.Conflicts > 0 {
		fmt.Fprintf(env.Stdout, "%d requested scans were called in progress or migrated already when their batch was sent again: their callback should come from the first request\n", rep.Conflicts)
	}
	for _, class := range slices.Sorted(maps.Keys(rep.Failed)) {
		refs := rep.Failed[class]
		slices.Sort(refs)
		fmt.Fprintf(env.Stdout, "\nfailed: %s (%d)\n", class, len(refs))
		for _, ref := range refs {
			fmt.Fprintf(env.Stdout, "  %s\n", ref)
		}
	}
	if !ok {
		fmt.Fprintln(env.Stdout, "no migration has run against this server")
	}
	return nil
}
