package cli

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/pkg/events"
)

func init() {
	register(&Command{
		Name:    "erase",
		Summary: "erase one account's (or one execution's) messages and records everywhere",
		Usage:   "--account ID | --execution ID [flags]",
		Description: `Purges every message of one Jumio account from JUMIO_CALLBACKS,
JUMIO_ENRICHED, JUMIO_RESULTS (under every route prefix), JUMIO_DLQ and
JUMIO_EXECUTIONS, and its records from the enricher's, the notifier's and
the reconciler's key-value buckets
(history and delete markers included, so that the ids are gone too). The
subjects make this one filter per stream. It shows what it will remove and
asks first (--yes skips the question), then prints what it removed.

Netverify transactions have no account (their subjects say "legacy"):
erase those with --execution and the scan reference. Consumers outside
kycflow that copied results keep their copies: erase them there.`,
		Example: `  kycflow erase --account 4a1b2c3d-5e6f-4711-8899-aabbccddeeff
  kycflow erase --execution 5b6c7d8e-1111-4222-8333-944455556666 --yes`,
		Flags: func(fs *flag.FlagSet) {
			natsFlag(fs)
			fs.String("account", "", "Jumio account id to erase")
			fs.String("execution", "", "workflow execution id or Netverify scan reference to erase")
			fs.Bool("yes", false, "do not ask for confirmation")
			fs.Bool("dry-run", false, "only show what would be removed")
		},
		Check: checkErase,
		Run:   runErase,
	})
}

// Key formats of the stages' buckets (see internal/enricher state keys,
// notifier.LedgerKey and reconcile.Key):
//
//	kycflow_enricher_executions  <account>.<execution>, or h.<sha256(account 0 execution)>
//	kycflow_notifier_deliveries  <route>.<account>.<execution>.<status>
//	kycflow_reconcile_executions <account>.<execution>, in lower case
const (
	enricherBucket   = "kycflow_enricher_executions"
	deliveriesBucket = "kycflow_notifier_deliveries"
	reconcileBucket  = "kycflow_reconcile_executions"
)

// erasure is one purge: a filter on a stream and how many messages it
// holds.
type erasure struct {
	stream, filter string
	count          uint64
}

var uuidish = regexp.MustCompile(`^[-/_=a-zA-Z0-9]+$`)

// readErase reads what to erase: an account or an execution.
func readErase(fs *flag.FlagSet, args []string) (account, execution string, err error) {
	if len(args) > 0 {
		return "", "", usageError("erase: unexpected argument %q", args[0])
	}
	account, execution = strFlag(fs, "account"), strFlag(fs, "execution")
	switch {
	case (account == "") == (execution == ""):
		return "", "", usageError("erase: give --account or --execution")
	case account != "" && strings.EqualFold(events.AccountToken(account), events.LegacyAccount):
		return "", "", usageError("erase: %q stands for every Netverify transaction; erase those one by one with --execution", account)
	case account != "" && events.Token(account) != account, execution != "" && events.Token(execution) != execution:
		return "", "", usageError("erase: the id holds characters a subject cannot (., *, >, spaces)")
	}
	return account, execution, nil
}

func checkErase(fs *flag.FlagSet, args []string) error {
	_, _, err := readErase(fs, args)
	return err
}

func runErase(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error {
	account, execution, err := readErase(fs, args)
	if err != nil {
		return err
	}
	s, err := connect(ctx, env, fs)
	if err != nil {
		return err
	}
	defer s.Close()

	var plan []erasure
	filters := map[string][]string{}
	if account != "" {
		for st, f := range events.AccountFilters(account) {
			filters[st] = []string{f}
		}
		filters[events.StreamResults] = events.ResultAccountFilters(account)
	} else {
		for st, f := range events.ExecutionFilters(execution) {
			filters[st] = []string{f}
		}
		filters[events.StreamResults] = events.ResultExecutionFilters(execution)
	}
	// The executions of the account, for the enricher's hashed keys.
	executions := map[string]bool{}
	if execution != "" {
		executions[execution] = true
	}
	for _, st := range slices.Sorted(maps.Keys(filters)) {
		for _, f := range filters[st] {
			n, subjects, err := countSubjects(ctx, s.js, st, f)
			if err != nil {
				return fmt.Errorf("erase: %w", err)
			}
			for subj := range subjects {
				if p := strings.Split(subj, "."); account != "" {
					executions[p[len(p)-1]] = true
				}
			}
			plan = append(plan, erasure{stream: st, filter: f, count: n})
		}
	}
	plan = append(plan, bucketErasures(account, execution, slices.Sorted(maps.Keys(executions)))...)
	for i := range plan {
		if strings.HasPrefix(plan[i].stream, "KV_") {
			n, _, err := countSubjects(ctx, s.js, plan[i].stream, plan[i].filter)
			if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
				return fmt.Errorf("erase: %w", err)
			}
			plan[i].count = n
		}
	}

	var total uint64
	for _, e := range plan {
		total += e.count
	}
	what := "account " + account
	if execution != "" {
		what = "execution " + execution
	}
	if total == 0 {
		fmt.Fprintf(env.Stdout, "nothing stored for %s\n", what)
		return nil
	}
	printErasures(env, plan, "found")
	if boolFlag(fs, "dry-run") {
		fmt.Fprintf(env.Stdout, "would remove %d messages and records of %s\n", total, what)
		return nil
	}
	ok, err := confirm(env, boolFlag(fs, "yes"), fmt.Sprintf("Remove these %d messages and records of %s for good?", total, what))
	if err != nil || !ok {
		return fmt.Errorf("erase: %w", err)
	}
	var removed uint64
	for _, e := range plan {
		if e.count == 0 {
			continue
		}
		cctx, cancel := ctxCall(ctx)
		st, err := s.js.Stream(cctx, e.stream)
		if err == nil {
			err = st.Purge(cctx, jetstream.WithPurgeSubject(e.filter))
		}
		cancel()
		if err != nil {
			return fmt.Errorf("erase: purge %s %s: %w (%d of %d removed; run it again)", e.stream, e.filter, err, removed, total)
		}
		removed += e.count
	}
	printErasures(env, plan, "removed")
	fmt.Fprintf(env.Stdout, "removed %d messages and records of %s\n", removed, what)
	return nil
}

// bucketErasures lists the key filters of the stages' buckets.
func bucketErasures(account, execution string, executions []string) []erasure {
	var out []erasure
	kv := func(bucket, key string) {
		out = append(out, erasure{stream: "KV_" + bucket, filter: "$KV." + bucket + "." + key})
	}
	a := "*"
	if account != "" {
		a = events.AccountToken(account)
	}
	if account != "" {
		kv(enricherBucket, a+".*")
	}
	for _, e := range executions {
		if account == "" {
			kv(enricherBucket, "*."+events.Token(e))
		}
		if !uuidish.MatchString(a) || !uuidish.MatchString(events.Token(e)) {
			h := sha256.Sum256([]byte(account + "\x00" + e))
			kv(enricherBucket, "h."+hex.EncodeToString(h[:]))
		}
	}
	if account != "" {
		kv(deliveriesBucket, "*."+kvToken(a)+".*.*")
	} else {
		kv(deliveriesBucket, "*.*."+kvToken(execution)+".*")
	}
	// The reconciler's keys are <account>.<execution> (reconcile.Key),
	// Platform ids in lower case.
	if account != "" && uuidish.MatchString(account) {
		kv(reconcileBucket, strings.ToLower(account)+".*")
	} else if execution != "" && uuidish.MatchString(execution) {
		kv(reconcileBucket, "*."+strings.ToLower(execution))
	}
	return out
}

// kvToken is the notifier's key token of an id (notifier.LedgerKey).
func kvToken(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		return s
	}
	return "=" + base64.RawURLEncoding.EncodeToString([]byte(s))
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

func printErasures(env Env, plan []erasure, verb string) {
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "STREAM\tFILTER\t%s\n", strings.ToUpper(verb))
	for _, e := range plan {
		if e.count > 0 {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", e.stream, e.filter, e.count)
		}
	}
	tw.Flush()
}
