package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/cli"
	"github.com/kycflow/kycflow/internal/ingest/ingesttest"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/pkg/events"
)

// TestLedger runs ingest, the enricher and the notifier with the Jumio
// simulator in this process ("kycflow run"), sends callbacks with
// duplicates and stale repeats ("kycflow send"), and checks the ledger
// once everything settled: every transaction accepted was enriched, and for each route whose filter matches it, exactly one delivery
// or one dead letter, never both; routes it does not match get nothing.
// One route publishes to NATS, the other posts webhooks to an endpoint
// that fails each first attempt (retried) and refuses about half of the
// executions for good (dead-lettered), chosen by their id so that any
// simulator seed yields both outcomes.
func TestLedger(t *testing.T) {
	slow(t)
	var mu sync.Mutex
	attempts := map[string]int{}
	h := newHook(t, func(env events.WebhookEnvelope) int {
		r := env.Data
		if refused(r.IDs.WorkflowExecutionID) {
			return http.StatusBadRequest // refused for good: dead letters
		}
		key := r.IDs.WorkflowExecutionID + "/" + string(r.Status)
		mu.Lock()
		defer mu.Unlock()
		attempts[key]++
		if attempts[key] == 1 {
			return http.StatusServiceUnavailable // retried
		}
		return 0
	})
	routesEnv := routesFile(t, `routes:
  - name: decided
    filter: {decision: [PASSED, WARNING]}
    policy: no_pii
    nats: {prefix: jumio.results.decided}
  - name: hook
    filter: {api: [platform]}
    policy: decision_only
    webhook:
      url: `+h.srv.URL+`/kyc
      secretEnv: KYCFLOW_WEBHOOK_HOOK_SECRETS
      allowPrivate: true
    retry: {maxAttempts: 4, initialInterval: 50ms, maxInterval: 100ms}
`)
	proc := startInProcess(t, routesEnv...)

	var out, errOut ingesttest.SyncBuffer
	if code := cli.Main(t.Context(), []string{"send", "--json", "--count", "40", "--rate", "0", "--duplicates", "1", "--out-of-order"}, proc.getenv, nil, &out, &errOut); code != 0 {
		t.Fatalf("send: exit %d: %s", code, errOut.String())
	}
	executions := map[string]sent{}
	for _, l := range lines(out.String()) {
		var s sent
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			t.Fatal(err)
		}
		if s.Status != http.StatusOK {
			t.Errorf("callback %s answered %d", s.WorkflowExecutionID, s.Status)
		}
		executions[s.WorkflowExecutionID] = s
	}

	settle(t, proc.js, broker.ConsumerRef{Stream: events.StreamCallbacks, Durable: "enricher"},
		broker.ConsumerRef{Stream: events.StreamEnriched, Durable: notifier.DurablePrefix + "decided"},
		broker.ConsumerRef{Stream: events.StreamEnriched, Durable: notifier.DurablePrefix + "hook"})

	// The enriched results by transaction. A stale repeat stored before
	// the callback it repeats (they race in ingest) is enriched first and
	// the newer callback after it: two enriched messages with one status,
	// which the routes deliver once.
	enriched := map[string]events.Result{}
	for _, m := range messages(t, proc.js, events.StreamEnriched) {
		var ev events.EnrichedEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		id := ev.Result.IDs.WorkflowExecutionID
		if prev, dup := enriched[id]; dup && prev.Status != ev.Result.Status {
			t.Errorf("%s enriched with two statuses", id)
		}
		enriched[id] = ev.Result
	}
	if len(enriched) != len(executions) {
		t.Errorf("enriched %d transactions, accepted %d", len(enriched), len(executions))
	}

	// Deliveries and dead letters per route and transaction.
	count := map[string]int{} // "<route> <kind> <execution> <status>"
	for _, m := range messages(t, proc.js, events.StreamResults) {
		var r events.Result
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(m.Subject, "jumio.results.decided.") {
			t.Errorf("result outside the route's prefix: %s", m.Subject)
		}
		count[fmt.Sprintf("decided delivered %s %s", r.IDs.WorkflowExecutionID, r.Status)]++
	}
	for _, d := range h.deliveries() {
		count[fmt.Sprintf("hook delivered %s %s", d.envelope.Data.IDs.WorkflowExecutionID, d.envelope.Data.Status)]++
	}
	for _, m := range messages(t, proc.js, events.StreamDLQ) {
		var ev events.EnrichedEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatalf("dead letter %s: %v", m.Subject, err)
		}
		route := m.Header.Get(events.HeaderRoute)
		count[fmt.Sprintf("%s dead %s %s", route, ev.Result.IDs.WorkflowExecutionID, ev.Result.Status)]++
	}
	routes := map[string]notifier.Filter{
		"decided": {Decision: []events.DecisionType{events.DecisionPassed, events.DecisionWarning}},
		"hook":    {API: []events.API{events.APIPlatform}},
	}
	var deadLettered, delivered int
	for id, r := range enriched {
		for name, f := range routes {
			d := count[fmt.Sprintf("%s delivered %s %s", name, id, r.Status)]
			x := count[fmt.Sprintf("%s dead %s %s", name, id, r.Status)]
			delete(count, fmt.Sprintf("%s delivered %s %s", name, id, r.Status))
			delete(count, fmt.Sprintf("%s dead %s %s", name, id, r.Status))
			deadLettered += x
			delivered += d
			switch {
			case !f.Match(r) && d+x > 0:
				t.Errorf("route %s: %s matches not, delivered %d, dead-lettered %d", name, id, d, x)
			case f.Match(r) && d+x != 1:
				t.Errorf("route %s: %s (%s %s, key %s) delivered %d times, dead-lettered %d times; want one of them once",
					name, id, r.Decision.Type, r.Status, r.Source.WorkflowDefinitionKey, d, x)
			}
		}
	}
	for k, n := range count {
		t.Errorf("delivery of no accepted transaction: %s (%d)", k, n)
	}
	if delivered == 0 || deadLettered == 0 {
		t.Errorf("the test covers too little: %d deliveries, %d dead letters", delivered, deadLettered)
	}
}

// refused picks the executions the ledger's webhook refuses for good: those
// whose id starts with a hex digit below 8, about half of any random set.
func refused(executionID string) bool {
	return executionID != "" && strings.IndexByte("01234567", executionID[0]) >= 0
}
