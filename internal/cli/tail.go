package cli

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/erasure"
	"github.com/kycflow/kycflow/pkg/events"
)

func init() {
	register(&Command{
		Name:    "tail",
		Summary: "follow the results delivered to " + events.StreamResults,
		Usage:   "[flags]",
		Description: `Follows JUMIO_RESULTS through an ephemeral ordered consumer (nothing is
acked or changed) and prints one line per result: when it was delivered,
decision, status, workflow key, account and execution, and "replay" for a
replayed one; never names or other personal data. --json prints each result
as stored instead, one per line, for scripts, with its personal data masked
("***", the JSON keeps its shape) unless --reveal is given (then as much as
its route's policy let through).

By default it shows results delivered from now on; --since and --all show
earlier ones first. --count exits after that many results; without it tail
runs until Ctrl-C.`,
		Example: `  kycflow tail
  kycflow tail --all --decision REJECTED --workflow-key 10011
  kycflow tail --since 2h --account 4a1b2c3d-5e6f-4711-8899-aabbccddeeff
  kycflow tail --all --json --count 10 | jq .decision
  kycflow tail --execution 9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f --all --json --reveal`,
		Flags: func(fs *flag.FlagSet) {
			natsFlag(fs)
			fs.Var(&listFlag{}, "decision", "only these decisions (PASSED, WARNING, REJECTED, NOT_EXECUTED; repeat or comma-separate)")
			fs.String("workflow-key", "", "only this workflow definition key")
			fs.String("account", "", "only this Jumio account id")
			fs.String("execution", "", "only this workflow execution id (Netverify: scan reference)")
			fs.String("api", "", "only results of this API: platform or netverify")
			fs.String("prefix", "", "only results under this route subject prefix (default every prefix under "+events.SubjectResults+")")
			fs.String("since", "", "start with results delivered since this time or duration ago (2026-03-04T05:00:00Z, 2h)")
			fs.Bool("all", false, "start with the first result stored")
			fs.Int("count", 0, "exit after this many results (0: follow until Ctrl-C)")
			fs.Bool("json", false, "print each result as stored, one JSON document per line, personal data masked")
			fs.Bool("reveal", false, "--json: print the personal data too")
		},
		Check: checkTail,
		Run:   runTail,
	})
}

// resultFilter is what tail selects.
type resultFilter struct {
	decisions   []events.DecisionType
	workflowKey string
	account     string
	execution   string
	api         events.API
	prefix      string
}

// subjects returns the subject filters of f; nil selects every result.
func (f resultFilter) subjects() []string {
	tok := func(s string, t func(string) string) string {
		if s == "" {
			return "*"
		}
		return t(s)
	}
	decision := "*"
	if len(f.decisions) == 1 {
		decision = events.Token(strings.ToLower(string(f.decisions[0])))
	}
	tail := "." + decision + "." + tok(f.workflowKey, events.Token) + "." + tok(f.account, events.AccountToken) + "." + tok(f.execution, events.Token)
	if f.prefix != "" {
		return []string{f.prefix + tail}
	}
	if tail == ".*.*.*.*" {
		return nil
	}
	var out []string
	p := events.SubjectResults
	for range events.MaxResultPrefixTokens + 1 {
		out = append(out, p+tail)
		p += ".*"
	}
	return out
}

// match checks what the subject cannot.
func (f resultFilter) match(r events.Result) bool {
	if len(f.decisions) > 1 && !slices.Contains(f.decisions, r.Decision.Type) {
		return false
	}
	return f.api == "" || r.Source.API == f.api
}

// tailArgs is what tail was asked for.
type tailArgs struct {
	filter resultFilter
	scan   scan
	count  int
}

// readTail reads tail's flags; now anchors --since.
func readTail(fs *flag.FlagSet, args []string, now time.Time) (tailArgs, error) {
	var ta tailArgs
	if len(args) > 0 {
		return ta, usageError("tail: unexpected argument %q", args[0])
	}
	f := resultFilter{workflowKey: strFlag(fs, "workflow-key"), account: strFlag(fs, "account"),
		execution: strFlag(fs, "execution"), api: events.API(strFlag(fs, "api")), prefix: strFlag(fs, "prefix")}
	for _, d := range listOf(fs, "decision") {
		dt := events.DecisionType(strings.ToUpper(d))
		if !slices.Contains([]events.DecisionType{events.DecisionPassed, events.DecisionWarning, events.DecisionRejected, events.DecisionNotExecuted}, dt) {
			return ta, usageError("tail: --decision %q: want PASSED, WARNING, REJECTED or NOT_EXECUTED", d)
		}
		f.decisions = append(f.decisions, dt)
	}
	if f.api != "" && f.api != events.APIPlatform && f.api != events.APINetverify {
		return ta, usageError("tail: --api %q: want platform or netverify", f.api)
	}
	if f.prefix != "" {
		if err := events.ValidateResultPrefix(f.prefix); err != nil {
			return ta, usageError("tail: --prefix: %v", err)
		}
	}
	if boolFlag(fs, "reveal") && !boolFlag(fs, "json") {
		return ta, usageError("tail: --reveal goes with --json (the lines never hold personal data)")
	}
	ta.count = intFlag(fs, "count")
	if ta.count < 0 {
		return ta, usageError("tail: --count must not be negative")
	}
	ta.filter = f
	ta.scan = scan{stream: events.StreamResults, filters: f.subjects()}
	switch since := strFlag(fs, "since"); {
	case boolFlag(fs, "all") && since != "":
		return ta, usageError("tail: --all and --since exclude each other")
	case since != "":
		t, err := parseWhen(since, now)
		if err != nil {
			return ta, usageError("tail: --since: %v", err)
		}
		ta.scan.since = t
	case !boolFlag(fs, "all"):
		ta.scan.since = now
	}
	return ta, nil
}

func checkTail(fs *flag.FlagSet, args []string) error {
	_, err := readTail(fs, args, time.Now())
	return err
}

func runTail(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error {
	ta, err := readTail(fs, args, time.Now())
	if err != nil {
		return err
	}
	f, sc, count := ta.filter, ta.scan, ta.count

	s, err := connect(ctx, env, fs)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := checkIDCase(ctx, s.js, "tail", erasure.Target{Account: f.account, Execution: f.execution}, true); err != nil {
		return err
	}
	out := bufio.NewWriter(env.Stdout)
	defer out.Flush()
	asJSON, reveal := boolFlag(fs, "json"), boolFlag(fs, "reveal")
	seen := 0
	err = follow(ctx, s.js, sc, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		var r events.Result
		if err := json.Unmarshal(m.Data(), &r); err != nil {
			fmt.Fprintf(env.Stderr, "kycflow: tail: result %d on %s is not a result JSON; skipped\n", md.Sequence.Stream, m.Subject())
			return nil
		}
		if !f.match(r) {
			return nil
		}
		if asJSON {
			data := m.Data()
			if !reveal {
				data, _ = maskJSON(data) // decoded as a result above: JSON
			}
			out.Write(data)
			out.WriteByte('\n')
		} else {
			fmt.Fprintln(out, resultLine(r, md.Timestamp, m.Headers().Get(events.HeaderReplay) != ""))
		}
		seen++
		if count > 0 && seen >= count {
			return errStop
		}
		// Lines appear as results arrive.
		return out.Flush()
	})
	if errors.Is(err, errStop) {
		return nil
	}
	if err == nil && ctx.Err() != nil && count > 0 {
		return fmt.Errorf("tail: interrupted after %d of %d results", seen, count)
	}
	return err
}

// resultLine is the one-line, personal-data-free view of a result.
func resultLine(r events.Result, at time.Time, replay bool) string {
	line := fmt.Sprintf("%s  %-12s %-16s %-6s %-36s %s",
		at.UTC().Format(time.RFC3339), cmp.Or(string(r.Decision.Type), "-"), cmp.Or(string(r.Status), "-"),
		cmp.Or(r.Source.WorkflowDefinitionKey, "-"), cmp.Or(r.IDs.AccountID, events.LegacyAccount), r.IDs.WorkflowExecutionID)
	if replay {
		line += "  replay"
	}
	return line
}
