package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/cli"
	"github.com/kycflow/kycflow/internal/ingest/ingesttest"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/internal/reconcile"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// reconcileTiming is the reconciler's configuration in
// TestDroppedCallbacksReconciled: transactions complete 5 s after they
// are initiated (the simulator of kycflow run), so an 8 s deadline is
// overdue only for a callback that never came.
var reconcileTiming = map[string]string{
	"KYCFLOW_RECONCILE_TOKEN_LIFETIME": "6s",
	"KYCFLOW_RECONCILE_SLACK":          "2s",
	"KYCFLOW_RECONCILE_INTERVAL":       "500ms",
	"KYCFLOW_RECONCILE_RECHECK":        "1s",
}

// TestDroppedCallbacksReconciled runs kycflow (ingest, enricher with its
// reconciler, notifier with a NATS and a webhook route) against the Jumio
// simulator dropping 40% of its callbacks. Transactions are initiated with
// "kycflow initiate", half through the API channel (images) and half left
// to the simulated web user; each is announced. Every transaction must end
// with exactly one result per status and route, the dropped ones through
// exactly one reconciled callback each. Then the simulator delivers the
// dropped callbacks after all: nothing more is enriched or delivered and
// nothing is reconciled again. It logs the delay from each dropped
// callback to its reconciliation and the Jumio requests spent.
func TestDroppedCallbacksReconciled(t *testing.T) {
	slow(t)
	h := newHook(t, func(events.WebhookEnvelope) int { return 0 })
	routesEnv := routesFile(t, `routes:
  - name: all
    policy: no_pii
    nats: {prefix: jumio.results}
  - name: hook
    policy: decision_only
    webhook:
      url: `+h.srv.URL+`/kyc
      secretEnv: KYCFLOW_WEBHOOK_HOOK_SECRETS
      allowPrivate: true
`)
	env := append(routesEnv, "KYCFLOW_JUMIO_ACCOUNT_RATE_LIMIT=100", "KYCFLOW_JUMIO_API_RATE_LIMIT=100")
	for k, v := range reconcileTiming {
		env = append(env, k+"="+v)
	}
	proc := startInProcess(t, env...)
	if proc.simulator == "" {
		t.Fatal("run.json names no simulator")
	}
	sim := &simAdmin{t: t, base: proc.simulator}
	sim.post("/callback-drop", `{"share":0.4}`)

	// Initiate: even ones through the API channel, odd ones by the web
	// user.
	front, face := writeImage(t, "front.jpg", 1), writeImage(t, "face.jpg", 2)
	const n = 24
	var ids []string
	for i := range n {
		args := []string{"initiate", "--workflow-key", "10011", "--json"}
		if i%2 == 0 {
			args = append(args, "--front", front, "--face", face)
		}
		var out, errOut ingesttest.SyncBuffer
		if code := cli.Main(t.Context(), args, proc.getenv, nil, &out, &errOut); code != 0 {
			t.Fatalf("initiate: exit %d: %s", code, errOut.String())
		}
		var resp struct{ WorkflowExecution struct{ ID string } }
		if err := json.Unmarshal([]byte(out.String()), &resp); err != nil {
			t.Fatalf("initiate output: %v", err)
		}
		if !strings.Contains(errOut.String(), "announced on JUMIO_EXECUTIONS") {
			t.Fatalf("initiate did not announce: %s", errOut.String())
		}
		ids = append(ids, resp.WorkflowExecution.ID)
	}

	eventually(t, "a result per transaction on every route", func() bool {
		c := deliveries(t, proc.js, h)
		for _, id := range ids {
			if c.byRoute["all"][id] == 0 || c.byRoute["hook"][id] == 0 {
				return false
			}
		}
		return true
	})
	settle(t, proc.js, reconcileConsumers...)

	// What was dropped, and what was reconciled.
	dropped := sim.dropped()
	if len(dropped) == 0 {
		t.Fatal("the simulator dropped no callback: the test covers nothing")
	}
	reconciled := map[string][]time.Time{} // execution → when each reconciled callback was stored
	for _, m := range messages(t, proc.js, events.StreamCallbacks) {
		var ev events.CallbackEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Reconciled {
			reconciled[ev.WorkflowExecutionID] = append(reconciled[ev.WorkflowExecutionID], m.Time)
		}
	}
	statusRequests := sim.count(jumio.EndpointWorkflowStatus)

	// Jumio delivers the dropped callbacks after all.
	late := sim.deliverDropped()
	for _, l := range late {
		if l.Status != http.StatusOK {
			t.Errorf("late callback of %s answered %d", l.Reference, l.Status)
		}
	}
	eventually(t, "the late callbacks stored", func() bool {
		return len(messages(t, proc.js, events.StreamCallbacks)) >= len(ids)-len(dropped)+len(reconciled)+len(late)
	})
	settle(t, proc.js, reconcileConsumers...)

	// Exactly one result per execution, status and route; no dead
	// letters.
	c := deliveries(t, proc.js, h)
	for _, id := range ids {
		for _, route := range []string{"all", "hook"} {
			if got := c.byRoute[route][id]; got != 1 {
				t.Errorf("route %s: %s delivered %d times, want once", route, id, got)
			}
		}
		if got := c.enriched[id]; got != 1 {
			t.Errorf("%s enriched %d times, want once", id, got)
		}
	}
	if n := len(messages(t, proc.js, events.StreamDLQ)); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
	// Every dropped callback reconciled once, none twice, nothing after
	// the late delivery.
	for _, d := range dropped {
		if got := len(reconciled[d.Reference]); got != 1 {
			t.Errorf("dropped callback of %s: reconciled %d times, want once", d.Reference, got)
		}
	}
	for id, at := range reconciled {
		if len(at) > 1 {
			t.Errorf("%s reconciled %d times", id, len(at))
		}
	}
	var after int
	for _, m := range messages(t, proc.js, events.StreamCallbacks) {
		var ev events.CallbackEvent
		_ = json.Unmarshal(m.Data, &ev)
		if ev.Reconciled {
			after++
		}
	}
	if after != len(reconciled) {
		t.Errorf("%d reconciled callbacks after the late delivery, %d before", after, len(reconciled))
	}
	var out, errOut ingesttest.SyncBuffer
	if code := cli.Main(t.Context(), []string{"reconcile", "--all"}, proc.getenv, nil, &out, &errOut); code != 0 || !strings.Contains(out.String(), "no execution tracked") {
		t.Errorf("kycflow reconcile --all: exit %d %s%s", code, out.String(), errOut.String())
	}

	// The measurements.
	var delays []time.Duration
	for _, d := range dropped {
		if at := reconciled[d.Reference]; len(at) == 1 {
			delays = append(delays, at[0].Sub(d.SentAt))
		}
	}
	slices.Sort(delays)
	if len(delays) > 0 {
		t.Logf("%d of %d callbacks dropped, %d reconciled (%d executions reconciled in all); delay from the dropped callback to its reconciled callback: min %s, median %s, max %s (deadline: token lifetime %s + slack %s after initiation, passes every %s)",
			len(dropped), n, len(delays), len(reconciled), delays[0].Round(time.Millisecond), delays[len(delays)/2].Round(time.Millisecond),
			delays[len(delays)-1].Round(time.Millisecond), reconcileTiming["KYCFLOW_RECONCILE_TOKEN_LIFETIME"], reconcileTiming["KYCFLOW_RECONCILE_SLACK"],
			reconcileTiming["KYCFLOW_RECONCILE_INTERVAL"])
	}
	t.Logf("Jumio requests spent by reconciliation: %d status requests for %d reconciled executions (%.2f each); details requests in all: %d for %d transactions",
		statusRequests, len(reconciled), float64(statusRequests)/float64(max(len(reconciled), 1)), sim.count(jumio.EndpointWorkflowDetails), n)
	if metrics := httpGet(t, proc.enricher+"/metrics"); !strings.Contains(metrics, fmt.Sprintf(`%s_total{`, reconcile.MetricReconciled)) {
		t.Errorf("the enricher's /metrics has no %s_total", reconcile.MetricReconciled)
	}
}

// counts are the results of executions, by route and by enrichment.
type counts struct {
	byRoute  map[string]map[string]int // route → execution → deliveries
	enriched map[string]int
}

func deliveries(t *testing.T, js jetstream.JetStream, h *hook) counts {
	t.Helper()
	c := counts{byRoute: map[string]map[string]int{"all": {}, "hook": {}}, enriched: map[string]int{}}
	for _, m := range messages(t, js, events.StreamResults) {
		var r events.Result
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		c.byRoute["all"][r.IDs.WorkflowExecutionID]++
	}
	for _, d := range h.deliveries() {
		c.byRoute["hook"][d.envelope.Data.IDs.WorkflowExecutionID]++
	}
	for _, m := range messages(t, js, events.StreamEnriched) {
		var ev events.EnrichedEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		c.enriched[ev.Result.IDs.WorkflowExecutionID]++
	}
	return c
}

// reconcileConsumers are the consumers of TestDroppedCallbacksReconciled:
// the enricher's, the reconciler's on both streams it reads, and both
// routes'.
var reconcileConsumers = []broker.ConsumerRef{{Stream: events.StreamCallbacks, Durable: "enricher"},
	{Stream: events.StreamCallbacks, Durable: reconcile.Durable}, {Stream: events.StreamExecutions, Durable: reconcile.Durable},
	{Stream: events.StreamEnriched, Durable: notifier.DurablePrefix + "all"}, {Stream: events.StreamEnriched, Durable: notifier.DurablePrefix + "hook"}}

// simAdmin calls the simulator's control endpoints.
type simAdmin struct {
	t    *testing.T
	base string
}

func (s *simAdmin) post(path, body string) []byte {
	s.t.Helper()
	c := &http.Client{Timeout: time.Minute}
	resp, err := c.Post(s.base+jumiotest.AdminPrefix+path, "application/json", strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		s.t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

// dropped returns the callbacks dropped so far, without delivering them.
func (s *simAdmin) dropped() []jumiotest.SentRow {
	s.t.Helper()
	var rows []jumiotest.SentRow
	if err := json.Unmarshal([]byte(httpGet(s.t, s.base+jumiotest.AdminPrefix+"/dropped")), &rows); err != nil {
		s.t.Fatal(err)
	}
	return rows
}

func (s *simAdmin) deliverDropped() []jumiotest.SentRow {
	s.t.Helper()
	var rows []jumiotest.SentRow
	if err := json.Unmarshal(s.post("/dropped", ""), &rows); err != nil {
		s.t.Fatal(err)
	}
	return rows
}

func (s *simAdmin) count(ep jumio.Endpoint) int {
	s.t.Helper()
	var rows []struct {
		Endpoint string
		Count    int
	}
	if err := json.Unmarshal([]byte(httpGet(s.t, s.base+jumiotest.AdminPrefix+"/counts")), &rows); err != nil {
		s.t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if r.Endpoint == string(ep) {
			n += r.Count
		}
	}
	return n
}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	c := &http.Client{Timeout: time.Minute}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func writeImage(t *testing.T, name string, seed uint8) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 48, 32))
	for i := range 48 * 32 {
		v := uint8(i) + seed
		img.SetRGBA(i%48, i/48, color.RGBA{v, 180 - v/2, v / 3, 255})
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
