package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/internal/erasure"
	"github.com/kycflow/kycflow/internal/jumioconfig"
	"github.com/kycflow/kycflow/internal/migration"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/internal/reconcile"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

func init() {
	register(&Command{
		Name:    "erase",
		Summary: "erase one account's (or one execution's) data at Jumio and everywhere in kycflow",
		Usage:   "--account ID | --execution ID [flags] | --audit",
		Description: `Deletes a data subject's transactions at Jumio, then every message and
record of them in kycflow:

  at Jumio (with Jumio credentials, KYCFLOW_JUMIO_*; without them the
  simulator of the local kycflow run): the Platform account (--account),
  or the workflow execution (--execution of a Platform transaction), and
  the Netverify scans or authentications among them, which deletes their
  migrated copies too. A 404 means deleted already.

  in kycflow: their messages in JUMIO_CALLBACKS, JUMIO_ENRICHED,
  JUMIO_RESULTS (under every route prefix) and JUMIO_DLQ, and their records
  in the enricher's, the notifier's and the migration's key-value buckets
  (history and delete markers included, so that the ids are gone too; in
  the migration's: the scans, their account groups and the finished
  batches that asked for them. While a batch that holds them is still
  being sent, the erasure is refused: run it once the batch is done).

A result a stage was storing as the erasure began (its data read before
the erasure was marked) comes within a few publish timeouts
(KYCFLOW_NATS_PUBLISH_TIMEOUT, 5s by default): the erasure waits --settle
after its purges, purges the messages and records of the erased
executions once more, and counts what it removes then. A new execution of
an erased account called back meanwhile is a verification of its own.

It shows what it will delete and asks first (--yes skips the question).
Each erasure is recorded (kycflow_erasures) before anything is deleted:
when a deletion at Jumio fails, kycflow's copies are kept, and running the
same command again completes it; a callback that reaches an erased transaction
later becomes a tombstone result. Every run writes an audit record (ids,
times, what was deleted where, the outcome; no personal data) to
KYCFLOW_AUDIT, listed by --audit.

--local-only leaves Jumio alone and erases kycflow's copies only. Netverify
transactions have no account: erase them with --execution and the scan
reference; --execution with --account names a Platform execution kycflow
holds nothing of. Consumers outside kycflow that copied results keep their
copies: erase them there.`,
		Example: `  kycflow erase --account 4a1b2c3d-5e6f-4711-8899-aabbccddeeff
  kycflow erase --execution 5b6c7d8e-1111-4222-8333-944455556666 --yes
  kycflow erase --account 4a1b2c3d-5e6f-4711-8899-aabbccddeeff --local-only --dry-run
  kycflow erase --audit --since 30d`,
		Flags: func(fs *flag.FlagSet) {
			natsFlag(fs)
			fs.String("account", "", "Jumio account id to erase")
			fs.String("execution", "", "workflow execution id or Netverify scan reference to erase")
			fs.Bool("yes", false, "do not ask for confirmation")
			fs.Bool("dry-run", false, "only show what would be deleted")
			fs.Bool("local-only", false, "erase kycflow's copies only, not at Jumio")
			fs.String("simulator", "", "Jumio simulator to use without credentials (default the local kycflow run's)")
			fs.Bool("audit", false, "list the audit records of erasures (and the erasures not completed)")
			fs.String("since", "", "--audit: only records since this time or duration ago")
			fs.Bool("json", false, "--audit: print the records as JSON")
			fs.Duration("settle", eraseSettle, "time to wait before purging once more what stages in flight stored (0: purge once)")
		},
		Check: checkErase,
		Run:   runErase,
	})
}

// eraseSettle is --settle's default: six of the stages' default publish
// timeouts (broker.Config.PublishTimeout). A stage that read a
// transaction's data before its erasure was marked stores what it made of
// it within that: the enricher's result after up to four publishes in
// order (orderTries), then the notifier's copy to JUMIO_RESULTS and its
// delivery record.
var eraseSettle = 30 * time.Second

// eraseRequest is an erase command line, read.
type eraseRequest struct {
	target    erasure.Target
	audit     bool
	localOnly bool
}

// readErase reads what to erase: an account, an execution, or an
// execution of an account; or --audit.
func readErase(fs *flag.FlagSet, args []string) (eraseRequest, error) {
	var r eraseRequest
	if len(args) > 0 {
		return r, usageError("erase: unexpected argument %q", args[0])
	}
	account, execution := strings.TrimSpace(strFlag(fs, "account")), strings.TrimSpace(strFlag(fs, "execution"))
	r.target, r.audit, r.localOnly = erasure.Target{Account: account, Execution: execution}, boolFlag(fs, "audit"), boolFlag(fs, "local-only")
	if r.audit {
		if account != "" || execution != "" {
			return r, usageError("erase: --audit lists the audit records; it erases nothing")
		}
		if s := strFlag(fs, "since"); s != "" {
			if _, err := parseWhen(s, time.Now()); err != nil {
				return r, usageError("erase: --since: %v", err)
			}
		}
		return r, nil
	}
	switch {
	case account == "" && execution == "":
		return r, usageError("erase: give --account or --execution")
	case account != "" && strings.EqualFold(events.AccountToken(account), events.LegacyAccount):
		return r, usageError("erase: %q stands for every Netverify transaction; erase those one by one with --execution", account)
	case account != "" && events.Token(account) != account, execution != "" && events.Token(execution) != execution:
		return r, usageError("erase: the id holds characters a subject cannot (., *, >, spaces)")
	}
	return r, nil
}

func checkErase(fs *flag.FlagSet, args []string) error {
	if getFlag(fs, "settle").(time.Duration) < 0 {
		return usageError("--settle %s: want a duration of 0 or more", strFlag(fs, "settle"))
	}
	_, err := readErase(fs, args)
	return err
}

func runErase(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error {
	req, err := readErase(fs, args)
	if err != nil {
		return err
	}
	var client *jumio.Client
	jumioTarget := ""
	if !req.audit && !req.localOnly {
		if client, jumioTarget, err = eraseClient(env, fs); err != nil {
			return err
		}
		defer client.CloseIdleConnections()
	}
	auditAge, err := auditMaxAge(env)
	if err != nil {
		return err
	}
	s, err := connect(ctx, env, fs)
	if err != nil {
		return err
	}
	defer s.Close()
	cfg := erasure.Config{Storage: s.streams.Storage, Replicas: s.streams.Replicas, AuditMaxAge: auditAge}
	if err := erasure.EnsureAudit(ctx, s.js, cfg); err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	reg, err := erasure.Ensure(ctx, s.js, cfg)
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	if req.audit {
		return listAudit(ctx, env, fs, s.js, reg)
	}
	run, err := planErasure(ctx, s.js, reg, req)
	switch {
	case errors.Is(err, errUsage):
		return err // it names the command
	case err != nil:
		return fmt.Errorf("erase: %w", err)
	}
	run.client, run.jumioTarget, run.out = client, jumioTarget, env.Stdout
	run.settle = getFlag(fs, "settle").(time.Duration)
	if run.nothing() && !req.localOnly {
		fmt.Fprintf(env.Stdout, "nothing stored for %s in kycflow, and nothing to delete at Jumio\n", req.target)
		return nil
	}
	// With --local-only and nothing stored, the run still marks the
	// target erased (a callback of it that comes later, Jumio retrying
	// one, becomes a tombstone) and writes its audit record: under the
	// spelling Jumio's callbacks will carry, lower case.
	if run.nothing() && (req.target.Account != strings.ToLower(req.target.Account) || req.target.Execution != strings.ToLower(req.target.Execution)) {
		return usageError("erase: kycflow holds nothing under %s, and Jumio's ids are lower case: an erasure marked under this spelling would never meet a callback; give the id as Jumio sends it", req.target)
	}
	run.printPlan()
	if boolFlag(fs, "dry-run") {
		fmt.Fprintf(env.Stdout, "dry run: nothing deleted\n")
		return nil
	}
	ok, err := confirm(env, boolFlag(fs, "yes"), fmt.Sprintf("Delete all of this for %s, for good?", req.target))
	if err != nil || !ok {
		return fmt.Errorf("erase: %w", err)
	}
	return run.execute(ctx, s.js, reg)
}

// auditMaxAge is KYCFLOW_STREAM_AUDIT_MAX_AGE. A value that does not
// parse, or is not positive (JetStream's "no limit"), is refused rather
// than read as the default.
func auditMaxAge(env Env) (time.Duration, error) {
	e := config.New(env.Getenv)
	d := broker.Retention(e, "KYCFLOW_STREAM_AUDIT_MAX_AGE", erasure.DefaultAuditMaxAge, "retention of KYCFLOW_AUDIT, the audit records of erasures")
	if err := e.Err(); err != nil {
		return 0, fmt.Errorf("erase: %w", err)
	}
	return d, nil
}

// eraseClient is the Jumio client an erasure deletes with: the
// credentials of the KYCFLOW_JUMIO_* variables, else the simulator of the
// local kycflow run (or --simulator). Without either it refuses: erasing
// kycflow's copies only must be asked for (--local-only).
func eraseClient(env Env, fs *flag.FlagSet) (*jumio.Client, string, error) {
	e := config.New(env.Getenv)
	jc := jumioconfig.LoadConfig(e)
	if err := e.Err(); err != nil {
		return nil, "", fmt.Errorf("configuration: %w", err)
	}
	target := "region " + string(jc.Region)
	if !jumioconfig.HasCredentials(jc) {
		sim := strFlag(fs, "simulator")
		if ri, ok := localRun(env, fs); ok && sim == "" {
			sim = ri.SimulatorURL
		}
		if sim == "" {
			return nil, "", fmt.Errorf("erase: no Jumio credentials (KYCFLOW_JUMIO_CLIENT_ID and _SECRET, KYCFLOW_JUMIO_NETVERIFY_API_TOKEN and _SECRET) and no local simulator: the data at Jumio would stay; set them, or pass --local-only to erase kycflow's copies only")
		}
		sim = strings.TrimRight(sim, "/")
		jc.Hosts = wire.Hosts{Auth: sim, Account: sim, API: sim, Retrieval: sim, Netverify: sim}
		jc.ClientID, jc.ClientSecret = jumiotest.DefaultClientID, jumiotest.DefaultClientSecret
		jc.NetverifyAPIToken, jc.NetverifyAPISecret = jumiotest.DefaultAPIToken, jumiotest.DefaultAPISecret
		target = "the simulator at " + sim
	}
	c, err := jumio.NewClient(jc)
	if err != nil {
		return nil, "", fmt.Errorf("erase: %w", err)
	}
	return c, target, nil
}

// purge is one subject filter of a stream to purge, and the messages it
// holds now.
type purge struct {
	stream, filter string
	count          uint64
}

// eraseRun is one run of one erasure: its record (the plan of Jumio
// deletions, what is done) and the purges in kycflow.
type eraseRun struct {
	rec         erasure.Record
	purges      []purge
	trims       []batchTrim
	store       *migration.Store
	client      *jumio.Client
	jumioTarget string
	out         io.Writer
	started     time.Time
	// settle is how long it waits before it purges once more (--settle).
	settle time.Duration
	// resuming: an earlier run of the same erasure did not complete.
	resuming bool
}

func (r *eraseRun) total() uint64 {
	var n uint64
	for _, p := range r.purges {
		n += p.count
	}
	return n
}

func (r *eraseRun) nothing() bool {
	return r.total() == 0 && (r.rec.LocalOnly || len(r.rec.Jumio) == 0)
}

// planErasure finds what kycflow holds of the target (executions, the
// Netverify scans among them, the messages and records), plans the Jumio
// deletions, and takes up the record of an erasure of the same target
// that did not complete.
func planErasure(ctx context.Context, js jetstream.JetStream, reg *erasure.Registry, req eraseRequest) (*eraseRun, error) {
	t := req.target
	r := &eraseRun{started: time.Now().UTC()}
	prev, found, err := reg.Record(ctx, t)
	if err != nil {
		return nil, err
	}
	// executions: each execution erased, with the accounts it appears
	// under ("" for Netverify's none).
	executions := map[string][]string{}
	note := func(x, account string) {
		if !slices.Contains(executions[x], account) {
			executions[x] = append(executions[x], account)
		}
	}
	if t.Execution != "" && t.Account != "" {
		note(t.Execution, t.Account)
	}
	filters := streamFilters(t)
	if err := r.count(ctx, js, filters, func(subject string) {
		if x, a, ok := subjectIDs(subject); ok && (t.Execution == "" || x == t.Execution) {
			note(x, a)
		}
	}); err != nil {
		return nil, err
	}
	if err := checkStoredAs(ctx, js, t, r.total() > 0); err != nil {
		return nil, err
	}
	// An execution named without its account is what kycflow stored it
	// under; one kycflow holds nothing of (erased before, or never seen)
	// has no account: a Netverify scan, or an execution whose account
	// the operator must name.
	if t.Execution != "" && len(executions[t.Execution]) == 0 {
		note(t.Execution, t.Account)
	}
	// Netverify originals of the account's migrated executions: kycflow
	// holds them under "legacy".
	store, _, err := migration.Open(ctx, js)
	if err != nil {
		return nil, err
	}
	if store != nil && t.Account != "" && t.Execution == "" {
		// Scans Jumio migrated into the account whose callbacks have not
		// come yet: kycflow holds their Netverify originals, and the
		// migration's records are the only link to the account.
		for b := range store.Batches(ctx) {
			for _, g := range b.Groups {
				if g.AccountID == t.Account {
					for _, ref := range g.ScanReferences {
						note(ref, "")
					}
				}
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	var scans []string
	for x, accounts := range executions {
		netverify := slices.Contains(accounts, "")
		if !netverify && store != nil {
			_, netverify, err = store.Lookup(ctx, x)
			if err != nil {
				return nil, err
			}
		}
		if netverify {
			scans = append(scans, x)
			note(x, "")
		}
	}
	slices.Sort(scans)
	if t.Account != "" {
		// An execution given with its account is purged under that
		// account only: its Netverify original is added here.
		legacy := map[string][]string{}
		for _, x := range scans {
			for st, fs := range legacyFilters(x) {
				legacy[st] = append(legacy[st], fs...)
			}
		}
		if err := r.count(ctx, js, legacy, nil); err != nil {
			return nil, err
		}
	}
	if err := r.count(ctx, js, bucketFilters(t, executions), nil); err != nil {
		return nil, err
	}
	mf, trims, err := migrationFilters(ctx, js, store, t, executions)
	if err != nil {
		return nil, err
	}
	r.trims, r.store = trims, store
	if err := r.count(ctx, js, mf, nil); err != nil {
		return nil, err
	}
	slices.SortFunc(r.purges, func(a, b purge) int { return strings.Compare(a.stream+" "+a.filter, b.stream+" "+b.filter) })

	r.rec = erasure.Record{ID: t.ID(), Target: t, State: erasure.StateInProgress, LocalOnly: req.localOnly,
		Executions: slices.Sorted(maps.Keys(executions)), Started: r.started}
	if !req.localOnly {
		r.rec.Jumio = jumioSteps(ctx, js, t, executions, scans)
	}
	if found {
		// What kycflow no longer holds, the last run's record still
		// knows: a transaction guessed to be a Netverify scan that the
		// last run deleted as an authentication or a Platform execution
		// is one again.
		for i, st := range r.rec.Jumio {
			if st.Kind != erasure.JumioNetverifyScan {
				continue
			}
			if j := slices.IndexFunc(prev.Jumio, func(old erasure.JumioStep) bool {
				return old.ID == st.ID && old.Kind != erasure.JumioNetverifyScan && old.Kind != erasure.JumioAccount
			}); j >= 0 {
				r.rec.Jumio[i].Kind, r.rec.Jumio[i].AccountID = prev.Jumio[j].Kind, prev.Jumio[j].AccountID
			}
		}
	}
	if found && prev.State != erasure.StateCompleted {
		r.resuming = true
		// Take up where the last run stopped: its Jumio steps and what
		// they got, plus whatever this run found besides.
		r.rec.Runs, r.rec.Started = prev.Runs, prev.Started
		for _, old := range prev.Jumio {
			i := slices.IndexFunc(r.rec.Jumio, func(s erasure.JumioStep) bool { return s.Kind == old.Kind && s.ID == old.ID })
			if i >= 0 {
				r.rec.Jumio[i] = old
			} else if !req.localOnly {
				r.rec.Jumio = append(r.rec.Jumio, old)
			}
		}
		r.rec.Executions = slices.Compact(slices.Sorted(slices.Values(append(r.rec.Executions, prev.Executions...))))
	} else if found {
		r.rec.Runs = prev.Runs
	}
	r.rec.Runs++
	return r, nil
}

// checkStoredAs refuses a target that names an id otherwise than
// kycflow stored it, which would erase nothing (or part) and still report
// the erasure done: an execution given with an account it is not stored
// under, and an id whose letters are in another case than the stored
// one's (subjects, and so the purges, are case-sensitive; ids are stored
// as Jumio sent them). held says whether the streams hold anything under
// the target as given (the plan counted them).
func checkStoredAs(ctx context.Context, js jetstream.JetStream, t erasure.Target, held bool) error {
	stored := func(t erasure.Target) (map[string]bool, error) {
		found := map[string]bool{}
		var r eraseRun
		err := r.count(ctx, js, streamFilters(t), func(subject string) {
			if x, a, ok := subjectIDs(subject); ok {
				found[a+" "+x] = true
			}
		})
		return found, err
	}
	if t.Execution != "" && t.Account != "" {
		found, err := stored(erasure.Target{Execution: t.Execution})
		if err != nil {
			return err
		}
		var others []string
		for _, k := range slices.Sorted(maps.Keys(found)) {
			a, x, _ := strings.Cut(k, " ")
			if x != t.Execution || a == "" { // a Netverify original has none
				continue
			}
			if a == t.Account {
				others = nil
				break
			}
			others = append(others, a)
		}
		if len(others) > 0 {
			return usageError("erase: execution %s is stored under account %s, not %s: erase --execution %s --account %s, or without --account",
				t.Execution, others[0], t.Account, t.Execution, others[0])
		}
	}
	if held {
		return nil
	}
	return checkIDCase(ctx, js, "erase", t, false)
}

// checkIDCase refuses ids kycflow holds nothing under when it holds data
// under the same ids in another case: subjects are case-sensitive and
// ids are stored in lower case (ingest reads them so; data stored before
// that keeps the case it came in), so an id pasted in upper case (a
// ticket, a CRM) would select nothing, and the command would say all is
// well. look says whether to look under t as given
// first (the caller has not).
func checkIDCase(ctx context.Context, js jetstream.JetStream, cmd string, t erasure.Target, look bool) error {
	lower := erasure.Target{Account: strings.ToLower(t.Account), Execution: strings.ToLower(t.Execution)}
	upper := erasure.Target{Account: strings.ToUpper(t.Account), Execution: strings.ToUpper(t.Execution)}
	if t.Account == "" && t.Execution == "" || look && t == lower {
		return nil // the spelling kycflow stores
	}
	stored := func(t erasure.Target) (bool, error) {
		var r eraseRun
		err := r.count(ctx, js, streamFilters(t), nil)
		return r.total() > 0, err
	}
	if look {
		if found, err := stored(t); err != nil || found {
			return err
		}
	}
	for _, other := range []erasure.Target{lower, upper} {
		if other == t {
			continue
		}
		if found, err := stored(other); err != nil || found {
			if err != nil {
				return err
			}
			return usageError("%s: kycflow stores nothing under %s but holds data under %s (ids are case-sensitive, stored in lower case): give that", cmd, t, other)
		}
	}
	return nil
}

// migrationFilters are the migration bucket's records of the target
// beside its scans': the records of the account groups the target's
// scans or account were migrated in (the account id), and the finished
// batches that hold such a group (account id, scan references, user
// reference). A batch still being sent is not erased under the
// migration's feet: the erasure is refused until it is done, or the
// migration could bring back what the erasure deleted. A batch whose work
// item is gone (dead-lettered: Jumio refused it, or its retries ran out)
// is not being sent: nothing runs it until "kycflow migrate-data" queues
// it again. Its erased groups are taken out of it (trims) and the rest
// stays, for that run to go on with.
func migrationFilters(ctx context.Context, js jetstream.JetStream, store *migration.Store, t erasure.Target, executions map[string][]string) (map[string][]string, []batchTrim, error) {
	out := map[string][]string{}
	var trims []batchTrim
	if store == nil {
		return out, nil, nil
	}
	// take returns the group's scans the erasure takes, and whether that
	// is all of them: a group taken whole (its end user erased) loses its
	// record too; one that keeps scans keeps the account they go into.
	take := func(g migration.Group) (refs []string, whole bool) {
		if t.Account != "" && t.Execution == "" && g.AccountID == t.Account {
			return g.ScanReferences, true
		}
		for _, ref := range g.ScanReferences {
			if _, ok := executions[ref]; ok {
				refs = append(refs, ref)
			}
		}
		return refs, len(refs) == len(g.ScanReferences)
	}
	stream := "KV_" + migration.Bucket
	for b := range store.Batches(ctx) {
		var hit []string
		for _, g := range b.Groups {
			refs, whole := take(g)
			hit = append(hit, refs...)
			if len(refs) > 0 && whole {
				out[stream] = append(out[stream], "$KV."+migration.Bucket+"."+migration.GroupKey(g.Key))
			}
		}
		if len(hit) == 0 {
			continue
		}
		if b.State != migration.BatchDone {
			queued, err := migration.Queued(ctx, js, b.ID)
			if err != nil {
				return nil, nil, err
			}
			if queued || b.State != migration.BatchSent {
				return nil, nil, fmt.Errorf("migration batch %s, which holds %s, is still being sent: erase once it is done (kycflow migrate-data status)", b.ID, t)
			}
			if len(hit) < len(b.Scans()) {
				trims = append(trims, batchTrim{batch: b.ID, scans: hit})
				continue
			}
		}
		out[stream] = append(out[stream], "$KV."+migration.Bucket+"."+migration.BatchKey(b.ID))
	}
	return out, trims, ctx.Err()
}

// batchTrim takes the scans of an erased subject out of a batch that was
// left unfinished.
type batchTrim struct {
	batch string
	scans []string
}

// streamFilters are the subject filters of the target in the four
// streams.
func streamFilters(t erasure.Target) map[string][]string {
	out := map[string][]string{}
	switch {
	case t.Execution != "" && t.Account != "":
		a, x := events.AccountToken(t.Account), events.Token(t.Execution)
		out[events.StreamCallbacks] = []string{events.SubjectCallbacks + ".*." + a + "." + x}
		out[events.StreamEnriched] = []string{events.SubjectEnriched + "." + a + "." + x}
		out[events.StreamDLQ] = []string{events.SubjectDLQ + ".*." + a + "." + x}
		out[events.StreamExecutions] = []string{events.SubjectExecutions + ".*." + a + "." + x}
		out[events.StreamResults] = events.ResultExecutionFilters(t.Execution)
	case t.Execution != "":
		for st, f := range events.ExecutionFilters(t.Execution) {
			out[st] = []string{f}
		}
		out[events.StreamResults] = events.ResultExecutionFilters(t.Execution)
	default:
		for st, f := range events.AccountFilters(t.Account) {
			out[st] = []string{f}
		}
		out[events.StreamResults] = events.ResultAccountFilters(t.Account)
	}
	return out
}

// legacyFilters select the Netverify messages of a scan (account token
// "legacy") in the four streams.
func legacyFilters(scan string) map[string][]string {
	x, l := events.Token(scan), events.LegacyAccount
	var results []string
	for _, f := range events.ResultExecutionFilters(scan) {
		// <prefix>.*.*.*.<x>: the account token is the one before the last.
		results = append(results, strings.TrimSuffix(f, ".*."+x)+"."+l+"."+x)
	}
	return map[string][]string{
		events.StreamCallbacks: {events.SubjectCallbacks + ".*." + l + "." + x},
		events.StreamEnriched:  {events.SubjectEnriched + "." + l + "." + x},
		events.StreamDLQ:       {events.SubjectDLQ + ".*." + l + "." + x},
		events.StreamResults:   results,
	}
}

// bucketFilters select the records of the target in the stages' and the
// migration's key-value buckets, with the key functions of the stages
// that own them.
func bucketFilters(t erasure.Target, executions map[string][]string) map[string][]string {
	kv := func(bucket string, keys ...string) (string, []string) {
		var out []string
		for _, k := range keys {
			out = append(out, "$KV."+bucket+"."+k)
		}
		return "KV_" + bucket, out
	}
	out := map[string][]string{}
	add := func(stream string, filters []string) { out[stream] = append(out[stream], filters...) }
	account := t.Account
	if t.Execution != "" {
		account = ""
	}
	add(kv(enricher.StateBucket, enricher.StateKeyFilters(account, executions)...))
	if account != "" {
		add(kv(notifier.DeliveriesBucket, notifier.LedgerAccountFilter(account)))
	}
	for x := range executions {
		if account == "" || slices.Contains(executions[x], "") {
			add(kv(notifier.DeliveriesBucket, notifier.LedgerExecutionFilter(x)))
		}
		if wire.ValidID(x) {
			add(kv(migration.Bucket, migration.ScanKey(x)))
		}
	}
	// The reconciler's keys are <account>.<execution> (reconcile.Key),
	// Platform ids in lower case.
	switch {
	case account != "" && events.Token(account) == account:
		add(kv(reconcile.Bucket, strings.ToLower(account)+".*"))
	case t.Execution != "" && events.Token(t.Execution) == t.Execution:
		add(kv(reconcile.Bucket, "*."+strings.ToLower(t.Execution)))
	}
	return out
}

// count adds a purge per filter, with the messages it holds now; seen,
// when set, is told every subject. Subjects two filters share are counted
// once.
func (r *eraseRun) count(ctx context.Context, js jetstream.JetStream, filters map[string][]string, seen func(subject string)) error {
	for _, st := range slices.Sorted(maps.Keys(filters)) {
		counted := map[string]bool{}
		for _, p := range r.purges {
			if p.stream == st {
				counted[p.filter] = true
			}
		}
		subjects := map[string]bool{}
		for _, f := range slices.Compact(slices.Sorted(slices.Values(filters[st]))) {
			if counted[f] {
				continue
			}
			_, subj, err := countSubjects(ctx, js, st, f)
			if err != nil {
				return err
			}
			var n uint64
			for s, c := range subj {
				if seen != nil {
					seen(s)
				}
				if !subjects[s] {
					subjects[s] = true
					n += c
				}
			}
			r.purges = append(r.purges, purge{stream: st, filter: f, count: n})
		}
	}
	return nil
}

// subjectIDs reads the execution and account of a stream subject (the
// last two tokens; account "" for legacy).
func subjectIDs(subject string) (execution, account string, ok bool) {
	p := strings.Split(subject, ".")
	if len(p) < 4 {
		return "", "", false
	}
	execution, account = p[len(p)-1], p[len(p)-2]
	if account == events.LegacyAccount {
		account = ""
	}
	return execution, account, true
}

// jumioSteps plans the deletions at Jumio: the account (or the Platform
// executions of an execution erasure), and every Netverify scan among the
// executions (its migrated copy goes with it), as a scan or, when kycflow
// stored it as one, an authentication.
func jumioSteps(ctx context.Context, js jetstream.JetStream, t erasure.Target, executions map[string][]string, scans []string) []erasure.JumioStep {
	var out []erasure.JumioStep
	if t.Account != "" && t.Execution == "" && wire.ValidID(t.Account) {
		out = append(out, erasure.JumioStep{Kind: erasure.JumioAccount, ID: t.Account})
	}
	for _, x := range slices.Sorted(maps.Keys(executions)) {
		if !wire.ValidID(x) {
			continue
		}
		if slices.Contains(scans, x) {
			kind := erasure.JumioNetverifyScan
			if storedKind(ctx, js, x) == events.KindAuthentication {
				kind = erasure.JumioNetverifyAuthentication
			}
			out = append(out, erasure.JumioStep{Kind: kind, ID: x})
		}
		if t.Execution == "" {
			continue
		}
		for _, a := range executions[x] {
			if wire.ValidID(a) {
				out = append(out, erasure.JumioStep{Kind: erasure.JumioExecution, AccountID: a, ID: x})
			}
		}
	}
	return out
}

// storedKind is the kind of the Netverify callback kycflow stored for a
// scan ("" when none is stored).
func storedKind(ctx context.Context, js jetstream.JetStream, scan string) events.CallbackKind {
	st, err := js.Stream(ctx, events.StreamCallbacks)
	if err != nil {
		return ""
	}
	cctx, cancel := ctxCall(ctx)
	defer cancel()
	m, err := st.GetLastMsgForSubject(cctx, events.CallbackSubject(events.APINetverify, "", scan))
	if err != nil {
		return ""
	}
	var ev events.CallbackEvent
	if json.Unmarshal(m.Data, &ev) != nil {
		return ""
	}
	return ev.Kind
}

func (r *eraseRun) printPlan() {
	if r.resuming {
		fmt.Fprintf(r.out, "an earlier erasure of %s did not complete (run %d): completing it\n", r.rec.Target, r.rec.Runs)
	}
	switch {
	case r.rec.LocalOnly:
		fmt.Fprintf(r.out, "at Jumio: nothing (--local-only)\n")
	case len(r.rec.Jumio) == 0:
		fmt.Fprintf(r.out, "at Jumio (%s): nothing kycflow knows of to delete\n", r.jumioTarget)
	default:
		fmt.Fprintf(r.out, "at Jumio (%s):\n", r.jumioTarget)
		tw := tabwriter.NewWriter(r.out, 0, 0, 2, ' ', 0)
		for _, s := range r.rec.Jumio {
			state := "to delete"
			if s.Outcome != erasure.OutcomeNotConfirmed {
				state = "done earlier: " + s.Outcome
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Kind, s.ID, state)
		}
		tw.Flush()
	}
	if r.total() == 0 {
		fmt.Fprintf(r.out, "in kycflow: nothing stored\n")
		return
	}
	fmt.Fprintf(r.out, "in kycflow:\n")
	printPurges(r.out, r.purges, "found")
}

// execute erases: the markers and the record first, then Jumio, then
// kycflow's copies, and an audit record of the run in every case.
func (r *eraseRun) execute(ctx context.Context, js jetstream.JetStream, reg *erasure.Registry) error {
	err := r.markErased(ctx, reg)
	if err == nil {
		err = r.atJumio(ctx, reg)
	}
	if err == nil {
		err = r.locally(ctx, js, reg)
	}
	return r.finish(ctx, js, reg, err)
}

// markErased saves the record and marks the account and the executions
// erased before anything is deleted, so that a callback arriving
// meanwhile becomes a tombstone.
func (r *eraseRun) markErased(ctx context.Context, reg *erasure.Registry) error {
	r.rec.Updated = time.Now().UTC()
	if err := reg.Save(ctx, r.rec); err != nil {
		return err
	}
	account := r.rec.Target.Account
	if r.rec.Target.Execution != "" {
		account = ""
	}
	return reg.Mark(ctx, r.rec.ID, r.started, account, r.rec.Executions...)
}

// atJumio runs the Jumio deletions not done yet, saving the record after
// each; it stops at the first that fails (not a 404, which is "deleted
// already").
func (r *eraseRun) atJumio(ctx context.Context, reg *erasure.Registry) error {
	for i := range r.rec.Jumio {
		s := &r.rec.Jumio[i]
		if s.Outcome != erasure.OutcomeNotConfirmed {
			continue
		}
		var err error
		switch s.Kind {
		case erasure.JumioAccount:
			err = r.client.DeleteAccount(ctx, s.ID)
		case erasure.JumioExecution:
			err = r.client.DeleteWorkflowExecution(ctx, s.AccountID, s.ID)
		case erasure.JumioNetverifyScan:
			err = r.client.DeleteNetverifyScan(ctx, s.ID)
		case erasure.JumioNetverifyAuthentication:
			err = r.client.DeleteNetverifyAuthentication(ctx, s.ID)
		}
		switch {
		case err == nil:
			s.Outcome = erasure.OutcomeDeleted
		case errors.Is(err, jumio.ErrNotFound):
			s.Outcome = erasure.OutcomeNotFound
		default:
			return fmt.Errorf("at Jumio: %s %s: %w", s.Kind, s.ID, err)
		}
		s.At = time.Now().UTC()
		fmt.Fprintf(r.out, "deleted at Jumio: %s %s (%s)\n", s.Kind, s.ID, strings.ReplaceAll(s.Outcome, "_", " "))
		r.rec.Updated = s.At
		if err := reg.Save(context.WithoutCancel(ctx), r.rec); err != nil {
			return err
		}
	}
	return nil
}

// locally purges the streams and buckets: every filter of the plan, and
// counts what it removes as it purges. What a stage stored since the plan
// (a result of a callback being enriched while the operator confirmed,
// or while Jumio deleted) goes with the rest, and is counted.
func (r *eraseRun) locally(ctx context.Context, js jetstream.JetStream, reg *erasure.Registry) error {
	r.rec.Local = r.rec.Local[:0]
	for _, tr := range r.trims {
		// Looked at again: a "kycflow migrate-data" run may have queued
		// the batch since the plan, and a runner holds its own copy.
		switch queued, err := migration.Queued(ctx, js, tr.batch); {
		case err != nil:
			return fmt.Errorf("migration batch %s: %w", tr.batch, err)
		case queued:
			return fmt.Errorf("migration batch %s is being sent again: run the same command once it is done", tr.batch)
		}
		n, err := r.store.DropScans(ctx, tr.batch, tr.scans)
		if err != nil {
			return fmt.Errorf("migration batch %s: %w", tr.batch, err)
		}
		r.rec.Local = append(r.rec.Local, erasure.LocalStep{Stream: "KV_" + migration.Bucket, Filter: "$KV." + migration.Bucket + "." + migration.BatchKey(tr.batch),
			Removed: uint64(n), Done: true, At: time.Now().UTC()})
	}
	found := map[string]bool{}
	for i := range r.purges {
		p := &r.purges[i]
		n, subjects, err := r.purgeOne(ctx, js, p.stream, p.filter)
		if err != nil {
			return err
		}
		p.count = n
		r.rec.Local = append(r.rec.Local, erasure.LocalStep{Stream: p.stream, Filter: p.filter, Removed: n, Done: true, At: time.Now().UTC()})
		if !strings.HasPrefix(p.stream, "KV_") {
			for subj := range subjects {
				if x, _, ok := subjectIDs(subj); ok {
					found[x] = true
				}
			}
		}
	}
	if r.total() > 0 {
		fmt.Fprintf(r.out, "removed from kycflow:\n")
		printPurges(r.out, r.purges, "removed")
	}
	return r.settleAndPurge(ctx, js, found)
}

// purgeOne purges filter of stream and returns what it removed, by
// subject (counted just before).
func (r *eraseRun) purgeOne(ctx context.Context, js jetstream.JetStream, stream, filter string) (uint64, map[string]uint64, error) {
	n, subjects, err := countSubjects(ctx, js, stream, filter)
	if err == nil {
		cctx, cancel := ctxCall(ctx)
		var st jetstream.Stream
		if st, err = js.Stream(cctx, stream); err == nil {
			err = st.Purge(cctx, jetstream.WithPurgeSubject(filter))
		}
		cancel()
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil, nil // a bucket no stage made yet holds nothing
	}
	if err != nil {
		return 0, nil, fmt.Errorf("purge %s %s: %w", stream, filter, err)
	}
	return n, subjects, nil
}

// settleAndPurge waits r.settle, then purges once more what a stage that
// read the data before the markers were written stored since (the
// enricher's publish in flight, retried in order; the notifier's copy to
// JUMIO_RESULTS and its record): every message and record of the
// executions the erasure covers, planned or found by the purge. A new
// execution of an erased account that Jumio calls back meanwhile (the end
// user verifying again) is a verification of its own and is left alone.
// What it removes is added to the record as steps of their own.
func (r *eraseRun) settleAndPurge(ctx context.Context, js jetstream.JetStream, found map[string]bool) error {
	if r.settle <= 0 {
		return nil
	}
	for _, x := range r.rec.Executions {
		found[x] = true
	}
	filters := map[string][]string{}
	for _, x := range slices.Sorted(maps.Keys(found)) {
		t := erasure.Target{Execution: x}
		for st, fs := range streamFilters(t) {
			filters[st] = append(filters[st], fs...)
		}
		for st, fs := range bucketFilters(t, map[string][]string{x: {""}}) {
			filters[st] = append(filters[st], fs...)
		}
	}
	if len(filters) == 0 {
		return nil // no execution: nothing a stage could be storing
	}
	fmt.Fprintf(r.out, "waiting %s for results stages were storing as the erasure began\n", r.settle)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(r.settle):
	}
	for _, st := range slices.Sorted(maps.Keys(filters)) {
		for _, f := range slices.Compact(slices.Sorted(slices.Values(filters[st]))) {
			n, _, err := r.purgeOne(ctx, js, st, f)
			if err != nil {
				return err
			}
			if n == 0 {
				continue
			}
			fmt.Fprintf(r.out, "stored as the erasure began, removed since: %s %s in %s\n", count(int(n), "message"), f, st)
			r.purges = append(r.purges, purge{stream: st, filter: f, count: n})
			r.rec.Local = append(r.rec.Local, erasure.LocalStep{Stream: st, Filter: f, Removed: n, Done: true, At: time.Now().UTC()})
		}
	}
	return nil
}

// jumioDone reports whether Jumio's part of the erasure is done: every
// deletion confirmed (or none asked for, --local-only).
func (r *eraseRun) jumioDone() bool {
	return !slices.ContainsFunc(r.rec.Jumio, func(s erasure.JumioStep) bool { return s.Outcome == erasure.OutcomeNotConfirmed })
}

// finish records the outcome (completed, incomplete, interrupted) in the
// record and in an audit record, and says what is left.
func (r *eraseRun) finish(ctx context.Context, js jetstream.JetStream, reg *erasure.Registry, cause error) error {
	now := time.Now().UTC()
	outcome := "completed"
	switch {
	case cause != nil && ctx.Err() != nil:
		outcome = "interrupted"
	case cause != nil:
		outcome = "incomplete"
	default:
		r.rec.State, r.rec.Completed = erasure.StateCompleted, now
	}
	r.rec.Updated = now
	a := erasure.Audit{Erasure: r.rec.ID, Run: r.rec.Runs, Target: r.rec.Target, Executions: r.rec.Executions,
		Started: r.started, Finished: now, LocalOnly: r.rec.LocalOnly, Jumio: r.rec.Jumio, Local: r.rec.Local, Outcome: outcome}
	if cause != nil {
		a.Error = strings.Join(strings.Fields(cause.Error()), " ")
	}
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
	defer cancel()
	errs := []error{reg.Save(bctx, r.rec), erasure.PublishAudit(bctx, js, a)}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("erase: %s; its record or audit record was not stored: %w", outcome, errors.Join(cause, err))
	}
	switch {
	case cause != nil && (len(r.rec.Local) > 0 || r.jumioDone()):
		return fmt.Errorf("erase: %w; run the same command again to complete the erasure %s", cause, r.rec.ID)
	case cause != nil:
		return fmt.Errorf("erase: %w; kycflow's copies are kept until Jumio's part is done: run the same command again to complete the erasure %s", cause, r.rec.ID)
	}
	fmt.Fprintf(r.out, "erased %s: %d messages and records removed from kycflow", r.rec.Target, r.total())
	if !r.rec.LocalOnly {
		deleted := 0
		for _, st := range r.rec.Jumio {
			if st.Outcome == erasure.OutcomeDeleted {
				deleted++
			}
		}
		fmt.Fprintf(r.out, ", %d deleted at Jumio", deleted)
		if gone := len(r.rec.Jumio) - deleted; gone > 0 {
			fmt.Fprintf(r.out, " (%d gone already)", gone)
		}
	}
	fmt.Fprintf(r.out, " (erasure %s, audit record %d)\n", r.rec.ID, r.rec.Runs)
	return nil
}

// countSubjects returns how many messages of stream match filter, by
// subject.
func countSubjects(ctx context.Context, js jetstream.JetStream, stream, filter string) (uint64, map[string]uint64, error) {
	cctx, cancel := ctxCall(ctx)
	defer cancel()
	st, err := js.Stream(cctx, stream)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return 0, nil, nil
		}
		return 0, nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := st.Info(cctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return 0, nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n, info.State.Subjects, nil
}

func printPurges(w io.Writer, plan []purge, verb string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  STREAM\tFILTER\t%s\n", strings.ToUpper(verb))
	for _, e := range plan {
		if e.count > 0 {
			fmt.Fprintf(tw, "  %s\t%s\t%d\n", e.stream, e.filter, e.count)
		}
	}
	tw.Flush()
}

// listAudit prints the audit records, and the erasures that did not
// complete.
func listAudit(ctx context.Context, env Env, fs *flag.FlagSet, js jetstream.JetStream, reg *erasure.Registry) error {
	var since time.Time
	if s := strFlag(fs, "since"); s != "" {
		since, _ = parseWhen(s, time.Now())
	}
	var records []erasure.Audit
	err := each(ctx, js, scan{stream: erasure.StreamAudit, since: since}, func(m jetstream.Msg, _ *jetstream.MsgMetadata) error {
		var a erasure.Audit
		if json.Unmarshal(m.Data(), &a) == nil {
			records = append(records, a)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	open, err := reg.Unfinished(ctx)
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	if boolFlag(fs, "json") {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Audit      []erasure.Audit  `json:"audit"`
			Unfinished []erasure.Record `json:"unfinished"`
		}{append([]erasure.Audit{}, records...), append([]erasure.Record{}, open...)})
	}
	if len(records) == 0 {
		fmt.Fprintln(env.Stdout, "no erasure recorded")
	} else {
		tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "FINISHED\tERASURE\tRUN\tTARGET\tOUTCOME\tJUMIO\tKYCFLOW\n")
		for _, a := range records {
			jumioText := "local only"
			if !a.LocalOnly {
				counts := map[string]int{}
				for _, s := range a.Jumio {
					counts[cmpOutcome(s.Outcome)]++
				}
				var parts []string
				for _, k := range slices.Sorted(maps.Keys(counts)) {
					parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
				}
				jumioText = strings.Join(parts, ", ")
				if jumioText == "" {
					jumioText = "nothing"
				}
			}
			var removed uint64
			for _, l := range a.Local {
				removed += l.Removed
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d removed\n", a.Finished.UTC().Format(time.RFC3339), a.Erasure, a.Run, a.Target, a.Outcome, jumioText, removed)
		}
		tw.Flush()
	}
	for _, r := range open {
		flag := "--account " + r.Target.Account
		if r.Target.Execution != "" {
			flag = "--execution " + r.Target.Execution
			if r.Target.Account != "" {
				flag += " --account " + r.Target.Account
			}
		}
		fmt.Fprintf(env.Stdout, "not completed: erasure %s of %s (run %d, started %s): run kycflow erase %s again\n",
			r.ID, r.Target, r.Runs, r.Started.UTC().Format(time.RFC3339), flag)
	}
	return nil
}

func cmpOutcome(o string) string {
	if o == erasure.OutcomeNotConfirmed {
		return "pending"
	}
	return strings.ReplaceAll(o, "_", " ")
}
