package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// expectedDecision is the decision a generated outcome must produce, ""
// when the test does not pin it.
func expectedDecision(outcome string) events.DecisionType {
	switch outcome {
	case jumiotest.OutcomePassed, jumiotest.OutcomeApprovedVerified:
		return events.DecisionPassed
	case jumiotest.OutcomeWarning:
		return events.DecisionWarning
	case jumiotest.OutcomeRejected, jumiotest.OutcomeDeniedFraud:
		return events.DecisionRejected
	}
	return ""
}

// checkResults checks one result per sent transaction, with the decision
// or status its outcome stands for.
func checkResults(t *testing.T, sentList []sent, results []events.Result) {
	t.Helper()
	byExec := map[string][]events.Result{}
	for _, r := range results {
		byExec[r.IDs.WorkflowExecutionID] = append(byExec[r.IDs.WorkflowExecutionID], r)
	}
	for _, s := range sentList {
		if s.Duplicate || s.Stale {
			continue
		}
		got := byExec[s.WorkflowExecutionID]
		if len(got) != 1 {
			t.Errorf("%s %s: got %d results, want 1", s.API, s.WorkflowExecutionID, len(got))
			continue
		}
		r := got[0]
		switch {
		case s.Outcome == jumiotest.OutcomeSessionExpired || s.Outcome == jumiotest.OutcomeTokenExpired:
			if string(r.Status) != s.Outcome {
				t.Errorf("%s: status got %s, want %s", s.WorkflowExecutionID, r.Status, s.Outcome)
			}
		case expectedDecision(s.Outcome) != "":
			if r.Decision.Type != expectedDecision(s.Outcome) {
				t.Errorf("%s (%s): decision got %s, want %s", s.WorkflowExecutionID, s.Outcome, r.Decision.Type, expectedDecision(s.Outcome))
			}
		}
		if string(r.Source.API) != s.API || r.IDs.AccountID != s.AccountID {
			t.Errorf("%s: api/account got %s/%s, want %s/%s", s.WorkflowExecutionID, r.Source.API, r.IDs.AccountID, s.API, s.AccountID)
		}
	}
	if len(byExec) != len(results) {
		t.Errorf("results: %d for %d executions, want one each", len(results), len(byExec))
	}
}

// TestQuickStart follows the README: "kycflow run", "kycflow send" a mix of
// callbacks, "kycflow tail --json" shows one result per callback with the
// decisions the simulator made, and JUMIO_RESULTS holds no more. Then it replays (results reproduced with
// replay markers, a repeated replay stores nothing) and erases one account
// (no message or record of it is left anywhere).
func TestQuickStart(t *testing.T) {
	slow(t)
	r := startRun(t, t.TempDir())
	for _, want := range []string{"Callback URLs", "/callbacks/platform", "simulator at", "SENDER CHECKS OFF", "kycflow send", "kycflow tail"} {
		if !strings.Contains(r.stdout.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, r.stdout)
		}
	}
	sentList := r.send("--count", "12", "--mix", "passed=2,warning=1,rejected=1,session_expired=1,token_expired=1")
	if len(sentList) != 12 {
		t.Fatalf("sent %d callbacks, want 12", len(sentList))
	}
	results := r.results(12, "--reveal")
	checkResults(t, sentList, results)
	js := r.js()
	// tail stops at --count: once every consumer settled, the stream holds
	// one result per callback and no more.
	r.settled()
	if n := len(messages(t, js, events.StreamResults)); n != 12 {
		t.Errorf("results stored: got %d, want 12", n)
	}
	checkLogVolume(t, r.stderr.String(), sentList)
	// Terminal lines carry ids and decisions, never names; --json masks
	// them unless --reveal.
	out := r.kycflow("tail", "--all", "--count", "12")
	if n := len(lines(out)); n != 12 {
		t.Errorf("tail lines: got %d, want 12", n)
	}
	masked := r.kycflow("tail", "--all", "--json", "--count", "12")
	names := 0
	for _, res := range results {
		if p := res.Person; p != nil && p.LastName != "" {
			names++
			if strings.Contains(out, p.LastName) || strings.Contains(masked, p.LastName) {
				t.Errorf("tail printed a name")
			}
		}
	}
	if names == 0 {
		t.Errorf("no result with a name: tail --json --reveal masks")
	}

	var x sent // a Platform transaction to replay and erase
	for _, s := range sentList {
		if s.API == string(events.APIPlatform) {
			x = s
			break
		}
	}

	t.Run("replay", func(t *testing.T) {
		out := r.kycflow("replay", "notify", "--redeliver", "--execution", x.WorkflowExecutionID)
		if !strings.Contains(out, "1 stored") {
			t.Fatalf("replay: %s", out)
		}
		r.results(2, "--execution", x.WorkflowExecutionID)
		enriched := len(messages(t, js, events.StreamEnriched))
		again := r.kycflow("replay", "notify", "--redeliver", "--execution", x.WorkflowExecutionID)
		if !strings.Contains(again, "1 already stored") {
			t.Errorf("repeated replay: %s", again)
		}
		if n := len(messages(t, js, events.StreamEnriched)); n != enriched {
			t.Errorf("repeated replay stored %d more messages", n-enriched)
		}

		// Enrich again from the callback: fetched again, delivered again.
		r.kycflow("replay", "enrich", "--redeliver", "--account", x.AccountID)
		r.results(3, "--execution", x.WorkflowExecutionID)
		var markers []string
		for _, m := range messages(t, js, events.StreamResults) {
			if strings.HasSuffix(m.Subject, "."+x.WorkflowExecutionID) {
				markers = append(markers, m.Header.Get(events.HeaderReplay))
			}
		}
		if len(markers) != 3 || markers[0] != "" || markers[1] == "" || markers[2] == "" || markers[1] == markers[2] {
			t.Errorf("replay markers of the results: got %q, want none, then two replays", markers)
		}
		if out := r.kycflow("replay", "enrich", "--dry-run"); !strings.Contains(out, "would replay 12 messages") {
			t.Errorf("dry run counts the originals only: %s", out)
		}
	})

	t.Run("erase", func(t *testing.T) {
		if _, _, err := r.try(t.Context(), "n\n", "erase", "--account", x.AccountID); err == nil {
			t.Errorf("erase went ahead without a yes")
		}
		out := r.kycflow("erase", "--account", x.AccountID, "--yes")
		if !strings.Contains(out, "removed") {
			t.Errorf("erase: %s", out)
		}
		streams := []string{events.StreamCallbacks, events.StreamEnriched, events.StreamResults, events.StreamDLQ, events.StreamExecutions,
			"KV_kycflow_enricher_executions", "KV_kycflow_notifier_deliveries", "KV_kycflow_reconcile_executions"}
		others := 0
		for _, st := range streams {
			for _, m := range messages(t, js, st) {
				if strings.Contains(m.Subject, x.AccountID) || bytes.Contains(m.Data, []byte(x.AccountID)) {
					t.Errorf("%s still holds a message of the account (%s)", st, m.Subject)
				}
				others++
			}
		}
		if others == 0 {
			t.Errorf("erase removed the other accounts too")
		}
		if out := r.kycflow("erase", "--account", x.AccountID, "--yes"); !strings.Contains(out, "nothing stored") {
			t.Errorf("second erase: %s", out)
		}
	})
	r.stop()
	if !slices.ContainsFunc(lines(r.stdout.String()), func(l string) bool { return l == "kycflow run stopped" }) {
		t.Errorf("no clean stop:\n%s", r.stdout)
	}
}

// TestRestartKeepsData stops "kycflow run" right after callbacks were
// accepted, starts it again on the same data directory, and finds every
// callback enriched and delivered exactly once: the streams, the
// consumers' positions and the simulator's transactions outlived the
// restart.
func TestRestartKeepsData(t *testing.T) {
	slow(t)
	dir := t.TempDir()
	// A callback held by a stage when it stopped comes back after the ack
	// wait: keep it short.
	env := []string{"KYCFLOW_ENRICHER_ACK_WAIT=2s", "KYCFLOW_NOTIFIER_ACK_WAIT=2s"}
	r := startRun(t, dir, env...)
	first := r.send("--count", "6")
	r.stop()

	r2 := startRun(t, dir, env...)
	second := r2.send("--count", "4")
	all := append(first, second...)
	results := r2.results(10)
	checkResults(t, all, results)
	js := r2.js()
	if n := len(messages(t, js, events.StreamCallbacks)); n != 10 {
		t.Errorf("callbacks stored: got %d, want 10", n)
	}
	// Once nothing is pending, there are still exactly ten results.
	r2.settled()
	if n := len(messages(t, js, events.StreamResults)); n != 10 {
		t.Errorf("results after the restart: got %d, want 10", n)
	}
}

// checkLogVolume: at INFO, the whole pipeline writes no line about a
// callback that takes its usual course (stored, enriched, delivered), so
// that a busy day's logs stay readable and cheap; that detail is at DEBUG.
func checkLogVolume(t *testing.T, logs string, sentList []sent) {
	t.Helper()
	for _, p := range logVolumeProblems(logs, sentList) {
		t.Error(p)
	}
}

// logVolumeProblems names each execution that log lines at INFO or above
// mention, and logs that hold no JSON record at all (the check would read
// nothing).
func logVolumeProblems(logs string, sentList []sent) []string {
	perExecution := map[string]int{}
	records := 0
	for _, l := range lines(logs) {
		var rec struct {
			Level     string `json:"level"`
			Execution string `json:"workflow_execution_id"`
		}
		if json.Unmarshal([]byte(l), &rec) != nil || rec.Level == "" {
			continue
		}
		records++
		if rec.Execution != "" && rec.Level != "DEBUG" {
			perExecution[rec.Execution]++
		}
	}
	var problems []string
	if records == 0 {
		problems = append(problems, "no JSON log record read; the check reads nothing")
	}
	for _, s := range sentList {
		if got := perExecution[s.WorkflowExecutionID]; got > 0 {
			problems = append(problems, fmt.Sprintf("execution %s: %d log lines at INFO and above, want none", s.WorkflowExecutionID, got))
			delete(perExecution, s.WorkflowExecutionID)
		}
	}
	return problems
}

// TestLogVolumeCheck: the check flags a callback's line at INFO, lets its
// DEBUG detail pass, and refuses logs it cannot read.
func TestLogVolumeCheck(t *testing.T) {
	sentList := []sent{{WorkflowExecutionID: "exec-1"}, {WorkflowExecutionID: "exec-2"}}
	start := `{"level":"INFO","msg":"kycflow running"}` + "\n"
	tests := []struct {
		name string
		logs string
		want int
	}{
		{"detail at debug", start + `{"level":"DEBUG","msg":"callback stored","workflow_execution_id":"exec-1"}`, 0},
		{"a line at info", start + `{"level":"INFO","msg":"callback stored","workflow_execution_id":"exec-1"}`, 1},
		{"a warning", start + `{"level":"WARN","msg":"callback not stored","workflow_execution_id":"exec-2"}`, 1},
		{"another execution", start + `{"level":"INFO","msg":"x","workflow_execution_id":"exec-9"}`, 0},
		{"no JSON", "kycflow running\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := logVolumeProblems(tt.logs, sentList); len(got) != tt.want {
				t.Errorf("problems %q, want %d", got, tt.want)
			}
		})
	}
}
