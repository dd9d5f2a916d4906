package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/reconcile"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

func init() {
	register(&Command{
		Name:    "reconcile",
		Summary: "list the executions whose final callback is overdue, or reconcile them now",
		Usage:   "[--all] [--pass] [--dry-run] [--execution ACCOUNT/EXECUTION ...] [flags]",
		Description: `Lists the workflow executions the reconciler tracks (they are due a final
Jumio callback) whose deadline has passed: initiation plus token lifetime
plus slack (KYCFLOW_RECONCILE_*). --all lists every tracked execution.

--pass runs a reconciliation pass now, as the enricher does every
KYCFLOW_RECONCILE_INTERVAL: each overdue execution that is due is asked
about at Jumio's status API; a final one is fed into JUMIO_CALLBACKS as a
reconciled callback (the pipeline makes its result), one not final yet is
asked again later. --dry-run asks Jumio but claims, publishes and changes
nothing, and prints what a pass would do.

--execution ACCOUNT/EXECUTION names Platform executions whose callbacks
never reached kycflow (an ingest outage longer than Jumio's retries): they
are tracked, due at once, and a pass runs. Each final one is fed as a
reconciled callback, unless a final callback of it is stored already; one
not final yet is asked again later, as any tracked execution.

Jumio credentials come from the KYCFLOW_JUMIO_* variables, else the
simulator of the local kycflow run is used.`,
		Example: `  kycflow reconcile
  kycflow reconcile --all --json
  kycflow reconcile --pass --dry-run
  kycflow reconcile --pass
  kycflow reconcile --execution 4a1b2c3d-5e6f-4711-8899-aabbccddeeff/9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f`,
		Flags: func(fs *flag.FlagSet) {
			natsFlag(fs)
			fs.Bool("all", false, "list every tracked execution, not only the overdue ones")
			fs.Bool("pass", false, "run a reconciliation pass now")
			fs.Bool("dry-run", false, "with --pass (implied): ask Jumio, change nothing, print what a pass would do")
			fs.Var(&listFlag{}, "execution", "track these Platform executions (ACCOUNT/EXECUTION; repeat or comma-separate), due now, and run a pass")
			fs.String("simulator", "", "Jumio simulator to use for a pass without credentials (default the local kycflow run's)")
			fs.Bool("json", false, "print JSON, one object per line")
		},
		Run: runReconcile,
	})
}

func runReconcile(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usageError("reconcile: unexpected argument %q", args[0])
	}
	named, err := namedExecutions(listOf(fs, "execution"))
	if err != nil {
		return err
	}
	dry := boolFlag(fs, "dry-run")
	if len(named) > 0 && dry {
		return usageError("reconcile: --execution tracks the executions it names: not with --dry-run")
	}
	e := config.New(env.Getenv)
	cfg := reconcile.LoadConfig(e)
	if err := e.Err(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	s, err := connect(ctx, env, fs)
	if err != nil {
		return err
	}
	defer s.Close()
	deps := reconcile.Deps{JetStream: s.js}
	if boolFlag(fs, "pass") || dry || len(named) > 0 {
		client, _, err := jumioClient(env, fs, "reconcile")
		if err != nil {
			return err
		}
		defer client.CloseIdleConnections()
		deps.Status, deps.Region = client.WorkflowStatus, client.Config().Region
	}
	r, err := reconcile.New(cfg, deps)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	if deps.Status != nil {
		if err := trackNamed(ctx, env.Stdout, r, named); err != nil {
			return err
		}
		checked, err := r.Pass(ctx, dry)
		if err != nil {
			return fmt.Errorf("reconcile: %w (is an enricher running with reconciliation on?)", err)
		}
		if err := printChecked(env.Stdout, checked, dry, boolFlag(fs, "json")); err != nil {
			return err
		}
		// A pass whose checks failed did not do its work: the exit
		// status says so (the executions are asked again later).
		if n := countFailed(checked); n > 0 {
			return fmt.Errorf("reconcile: %d of %d checks failed; they are asked again at their next check", n, len(checked))
		}
		return nil
	}
	xs, err := r.List(ctx)
	if err != nil {
		return fmt.Errorf("reconcile: %w (is an enricher running with reconciliation on?)", err)
	}
	return printTracked(env.Stdout, xs, boolFlag(fs, "all"), boolFlag(fs, "json"), time.Now())
}

// namedExecution is an execution --execution names.
type namedExecution struct{ account, execution string }

// namedExecutions reads --execution's values, ACCOUNT/EXECUTION each.
func namedExecutions(vals []string) ([]namedExecution, error) {
	var out []namedExecution
	for _, v := range vals {
		a, x, ok := strings.Cut(v, "/")
		if _, valid := reconcile.Key(a, x); !ok || !valid {
			return nil, usageError("reconcile: --execution %q: want ACCOUNT/EXECUTION, two Platform ids (UUIDs)", v)
		}
		// As ingest stores Platform ids (wire.ParsePlatformCallback):
		// the stored callbacks, the erasure markers and the subject of a
		// reconciled callback are all under the lower-case spelling.
		out = append(out, namedExecution{strings.ToLower(a), strings.ToLower(x)})
	}
	return out, nil
}

// trackNamed tracks the named executions, due now, and says what became
// of each.
func trackNamed(ctx context.Context, w io.Writer, r *reconcile.Reconciler, named []namedExecution) error {
	for _, n := range named {
		tracked, err := r.Track(ctx, n.account, n.execution)
		switch {
		case err != nil:
			return fmt.Errorf("reconcile: %w (is an enricher running with reconciliation on?)", err)
		case tracked:
			fmt.Fprintf(w, "tracked %s %s, due now\n", n.account, n.execution)
		default:
			fmt.Fprintf(w, "%s %s ended already (its final callback was stored, or reconciled): nothing to do\n", n.account, n.execution)
		}
	}
	return nil
}

// printTracked prints the tracked executions, the overdue ones only
// unless all.
func printTracked(w io.Writer, xs []reconcile.Execution, all, asJSON bool, now time.Time) error {
	var shown []reconcile.Execution
	for _, x := range xs {
		if all || x.Overdue(now) {
			shown = append(shown, x)
		}
	}
	if asJSON {
		enc := json.NewEncoder(w)
		for _, x := range shown {
			if err := enc.Encode(x); err != nil {
				return err
			}
		}
		return nil
	}
	if len(shown) == 0 {
		what := "overdue"
		if all {
			what = "tracked"
		}
		fmt.Fprintf(w, "no execution %s (%d tracked)\n", what, len(xs))
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tEXECUTION\tSTATUS\tSOURCE\tSINCE\tDEADLINE\tOVERDUE\tCHECKS\tNEXT CHECK")
	for _, x := range shown {
		overdue, next := "-", "-"
		if x.Overdue(now) {
			overdue = now.Sub(x.Deadline).Round(time.Second).String()
		}
		if !x.NextCheck.IsZero() {
			next = x.NextCheck.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", x.AccountID, x.WorkflowExecutionID, x.Status,
			strings.TrimSpace(x.Source+" "+x.Origin), x.Since.UTC().Format(time.RFC3339), x.Deadline.UTC().Format(time.RFC3339),
			overdue, x.Checks, next)
	}
	return tw.Flush()
}

// printChecked prints what a pass did (or would do).
// countFailed is the number of checks that failed.
func countFailed(checked []reconcile.Checked) int {
	n := 0
	for _, c := range checked {
		if c.Outcome == reconcile.OutcomeFailed {
			n++
		}
	}
	return n
}

func printChecked(w io.Writer, checked []reconcile.Checked, dry, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, c := range checked {
			row := struct {
				AccountID           string `json:"accountId"`
				WorkflowExecutionID string `json:"workflowExecutionId"`
				Outcome             string `json:"outcome"`
				Status              string `json:"status,omitempty"`
				Error               string `json:"error,omitempty"`
			}{c.Execution.AccountID, c.Execution.WorkflowExecutionID, c.Outcome, c.Status, ""}
			if c.Err != nil {
				row.Error = c.Err.Error()
			}
			if err := enc.Encode(row); err != nil {
				return err
			}
		}
		return nil
	}
	verb := "checked"
	if dry {
		verb = "checked (dry run: nothing changed)"
	}
	fmt.Fprintf(w, "%d executions %s\n", len(checked), verb)
	for _, c := range checked {
		line := fmt.Sprintf("  %s %s  %s", c.Execution.AccountID, c.Execution.WorkflowExecutionID, c.Outcome)
		if c.Status != "" {
			line += " " + c.Status
		}
		if c.Err != nil {
			line += ": " + c.Err.Error()
		}
		fmt.Fprintln(w, line)
	}
	return nil
}

// announce publishes the InitiatedEvent of a transaction kycflow created,
// so that the reconciler tracks it. Without any NATS server to announce
// to (no --nats-url, no KYCFLOW_NATS_URL, no local kycflow run) it says so
// and returns nil; a server that is named but cannot take the event is an
// error: the transaction exists, but its lost callback would go unnoticed.
func announce(ctx context.Context, w io.Writer, env Env, fs *flag.FlagSet, resp *wire.AccountResponse, req wire.AccountRequest, source string) error {
	if _, local := localRun(env, fs); !local && strFlag(fs, "nats-url") == "" && env.Getenv("KYCFLOW_NATS_URL") == "" {
		fmt.Fprintf(w, "  reconciliation      not announced: no kycflow NATS server (--nats-url, KYCFLOW_NATS_URL or a local kycflow run)\n")
		return nil
	}
	at := resp.Timestamp.Time
	if at.IsZero() {
		at = time.Now()
	}
	ev := events.InitiatedEvent{SchemaVersion: 1, AccountID: resp.Account.ID, WorkflowExecutionID: resp.WorkflowExecution.ID,
		WorkflowDefinitionKey: fmt.Sprint(req.WorkflowDefinition.Key), InitiatedAt: at.UTC(), TokenLifetime: req.TokenLifetime, Source: source}
	subj, hdr, body, err := ev.Message("/kycflow/cli")
	if err != nil {
		return fmt.Errorf("announce for reconciliation: %w", err)
	}
	s, err := connect(ctx, env, fs)
	if err != nil {
		return fmt.Errorf("announce for reconciliation: %w", err)
	}
	defer s.Close()
	if _, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: subj, Header: nats.Header(hdr), Data: body}); err != nil {
		return fmt.Errorf("announce for reconciliation on %s: %w", subj, err)
	}
	fmt.Fprintf(w, "  reconciliation      announced on %s\n", events.StreamExecutions)
	return nil
}

// announceUnfinished announces an execution whose API channel failed
// after it was created, then returns failed: Jumio still expires it and
// calls back (TOKEN_EXPIRED or SESSION_EXPIRED), and the reconciler is to
// stand in for that callback as for any other.
func announceUnfinished(ctx context.Context, env Env, fs *flag.FlagSet, resp *wire.AccountResponse, req wire.AccountRequest, source string, failed error) error {
	if err := announce(ctx, env.Stderr, env, fs, resp, req, source); err != nil {
		return errors.Join(failed, err)
	}
	return failed
}
