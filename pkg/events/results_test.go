package events

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidateResultPrefix(t *testing.T) {
	for _, p := range []string{"jumio.results", "jumio.results.crm", "jumio.results.a.b-c.d_e"} {
		if err := ValidateResultPrefix(p); err != nil {
			t.Errorf("ValidateResultPrefix(%q): %v", p, err)
		}
	}
	for _, p := range []string{"", "jumio", "jumio.resultsx", "jumio.results.", "jumio.results..a", "jumio.results.a.b.c.d", "jumio.results.*", "jumio.results.>", "jumio.results.a b", "other.results",
		"jumio.results.passed", "jumio.results.crm.rejected", "jumio.results.a.b.Warning", "jumio.results.not_executed", "jumio.results.undocumented"} {
		if err := ValidateResultPrefix(p); !errors.Is(err, ErrResultPrefix) {
			t.Errorf("ValidateResultPrefix(%q): got %v, want ErrResultPrefix", p, err)
		}
	}
}

func TestResultFiltersCoverEveryPrefix(t *testing.T) {
	want := []string{
		"jumio.results.*.*.acc.*",
		"jumio.results.*.*.*.acc.*",
		"jumio.results.*.*.*.*.acc.*",
		"jumio.results.*.*.*.*.*.acc.*",
	}
	if diff := cmp.Diff(want, ResultAccountFilters("acc")); diff != "" {
		t.Errorf("ResultAccountFilters (-want +got):\n%s", diff)
	}
	if got := ResultAccountFilters("acc")[0]; got != AccountFilters("acc")[StreamResults] {
		t.Errorf("first account filter %q differs from AccountFilters' %q", got, AccountFilters("acc")[StreamResults])
	}
	if got := ResultExecutionFilters("ex")[0]; got != ExecutionFilters("ex")[StreamResults] {
		t.Errorf("first execution filter %q differs from ExecutionFilters' %q", got, ExecutionFilters("ex")[StreamResults])
	}
	// Each subject a route can publish to is matched by exactly one filter.
	for _, prefix := range []string{"jumio.results", "jumio.results.a", "jumio.results.a.b", "jumio.results.a.b.c"} {
		subject := ResultSubject(prefix, DecisionPassed, "10011", "acc", "ex")
		n := 0
		for _, f := range ResultAccountFilters("acc") {
			if subjectMatches(f, subject) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: matched by %d account filters, want 1", subject, n)
		}
	}
}

// subjectMatches reports whether a NATS filter with '*' tokens matches
// subject.
func subjectMatches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	if len(f) != len(s) {
		return false
	}
	for i := range f {
		if f[i] != "*" && f[i] != s[i] {
			return false
		}
	}
	return true
}
