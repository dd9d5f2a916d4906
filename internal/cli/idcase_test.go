package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
)

// TestIDsInAnotherCaseAreRefused: an id pasted in upper case (a ticket,
// a CRM shows GUIDs so) selected nothing in replay, dlq and tail, which
// said "nothing to replay", "no dead letters" (exit 0) or waited for good:
// the result was never sent again, the dead letter never re-driven. Each
// refuses, naming the spelling kycflow holds data under; the id as stored
// works as before.
func TestIDsInAnotherCaseAreRefused(t *testing.T) {
	defer func(d time.Duration) { routeReadWait = d }(routeReadWait)
	routeReadWait = 500 * time.Millisecond
	const exec = "9f2c1e7a-1111-4222-8333-944455556666"
	s := newServer(t)
	s.consumer("crm", true)
	s.enriched(exec, events.StatusProcessed, events.DecisionPassed, nil)
	s.deadLetter("crm", exec)
	upper, account := strings.ToUpper(exec), strings.ToUpper("4a1b2c3d-5e6f-4711-8899-aabbccddeeff")
	for _, args := range [][]string{
		{"replay", "notify", "--redeliver", "--execution", upper},
		{"replay", "notify", "--account", account, "--dry-run"},
		{"dlq", "list", "--execution", upper},
		{"dlq", "redrive", "--execution", upper},
		{"dlq", "purge", "--account", account, "--yes"},
		{"tail", "--all", "--count", "1", "--execution", upper},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		var out, errOut strings.Builder
		code := Main(ctx, args, func(k string) string { return s.vars[k] }, nil, &out, &errOut)
		cancel()
		if code != 2 || !strings.Contains(errOut.String(), "holds data under") {
			t.Errorf("kycflow %s: exit %d, want 2 naming the stored spelling:\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
		}
	}
	var out, errOut strings.Builder
	code := Main(t.Context(), []string{"erase", "--execution", upper, "--local-only", "--dry-run"}, func(k string) string { return s.vars[k] }, nil, &out, &errOut)
	if code != 2 || !strings.HasPrefix(errOut.String(), "kycflow: erase: kycflow stores nothing under") {
		t.Errorf("kycflow erase --execution %s: exit %d, want 2 and one erase: prefix:\n%s%s", upper, code, out.String(), errOut.String())
	}
	if n := s.deadLetters(); n != 1 {
		t.Errorf("%d dead letters left, want the one", n)
	}
	if out := s.kycflow(0, "dlq", "list", "--execution", exec); !strings.Contains(out, "1 dead letter") {
		t.Errorf("dlq list with the id as stored:\n%s", out)
	}
}

// TestDLQRouteTypoIsRefused: "dlq redrive --route crm-webhok" (a typo)
// selected no dead letter and said "no dead letters to re-drive", exit 0,
// while the route's dead letters waited. A route name that selects none
// and has no consumer is refused; a removed route's dead letters are
// still listed by its name.
func TestDLQRouteTypoIsRefused(t *testing.T) {
	defer func(d time.Duration) { routeReadWait = d }(routeReadWait)
	routeReadWait = 500 * time.Millisecond
	s := newServer(t)
	s.consumer("crm-webhook", true)
	s.deadLetter("crm-webhook", "11111111-1111-4111-8111-111111111111")
	s.deadLetter("gone", "22222222-2222-4222-8222-222222222222")
	for _, args := range [][]string{
		{"dlq", "redrive", "--route", "crm-webhok"},
		{"dlq", "redrive", "--route", "CRM-WEBHOOK"},
		{"dlq", "purge", "--route", "crm-webhok", "--yes"},
	} {
		if out := s.kycflow(2, args...); !strings.Contains(out, "no route of that name") {
			t.Errorf("kycflow %s:\n%s", strings.Join(args, " "), out)
		}
	}
	if out := s.kycflow(0, "dlq", "list", "--route", "gone"); !strings.Contains(out, "1 dead letter") {
		t.Errorf("dlq list of a removed route's dead letters:\n%s", out)
	}
	if n := s.deadLetters(); n != 2 {
		t.Errorf("%d dead letters left, want 2", n)
	}
}
