package e2e_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
)

// hookSecret signs the webhooks of the tests' routes.
var hookSecret = events.FormatWebhookSecret(bytes.Repeat([]byte{0x42}, 32))

// delivery is one webhook a hook accepted.
type delivery struct {
	id       string
	replay   string
	envelope events.WebhookEnvelope
}

// hook is a webhook receiver on loopback. It verifies every signature and
// answers with status(envelope) (0: 204); it keeps what it accepted with
// 2xx.
type hook struct {
	t      *testing.T
	srv    *httptest.Server
	status func(events.WebhookEnvelope) int

	mu       sync.Mutex
	accepted []delivery
	attempts atomic.Int64
}

func newHook(t *testing.T, status func(events.WebhookEnvelope) int) *hook {
	h := &hook{t: t, status: status}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) serve(w http.ResponseWriter, r *http.Request) {
	h.attempts.Add(1)
	body, _ := io.ReadAll(r.Body)
	if err := events.VerifyWebhook([]string{hookSecret}, r.Header, body, 5*time.Minute, time.Now()); err != nil {
		h.t.Errorf("webhook signature: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var env events.WebhookEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		h.t.Errorf("webhook body: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	status := h.status(env)
	if status == 0 {
		status = http.StatusNoContent
	}
	if status < 300 {
		h.accepted = append(h.accepted, delivery{id: r.Header.Get(events.HeaderWebhookID), replay: r.Header.Get(events.HeaderReplay), envelope: env})
	}
	h.mu.Unlock()
	w.WriteHeader(status)
}

func (h *hook) deliveries() []delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]delivery(nil), h.accepted...)
}

// routesFile writes a routes file and returns the environment that points
// "kycflow run" at it.
func routesFile(t *testing.T, yaml string) []string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"KYCFLOW_NOTIFIER_ROUTES_FILE=" + p, "KYCFLOW_WEBHOOK_HOOK_SECRETS=" + hookSecret}
}

// deadLetters runs "kycflow dlq list --json" with args.
func (r *run) deadLetters(args ...string) []map[string]any {
	r.t.Helper()
	var out []map[string]any
	for _, l := range lines(r.kycflow(append([]string{"dlq", "list", "--json"}, args...)...)) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			r.t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// TestDLQRedrive: a webhook route whose endpoint refuses results (400)
// dead-letters them; "dlq show" masks their personal data; a re-drive
// while the endpoint still refuses makes new dead letters (not dropped as
// duplicates of the deleted ones); once the endpoint is fixed, a re-drive
// delivers each result to that route once, as a normal delivery (the
// receiver never had it), and the NATS route next to it delivers nothing
// again. Purge asks before it
// deletes.
func TestDLQRedrive(t *testing.T) {
	slow(t)
	var broken atomic.Bool
	broken.Store(true)
	h := newHook(t, func(events.WebhookEnvelope) int {
		if broken.Load() {
			return http.StatusBadRequest
		}
		return 0
	})
	env := routesFile(t, `routes:
  - name: all-results
    policy: full
    nats: {}
  - name: hook
    filter: {api: [platform]}
    policy: full
    webhook:
      url: `+h.srv.URL+`/kyc
      secretEnv: KYCFLOW_WEBHOOK_HOOK_SECRETS
      allowPrivate: true
    retry: {maxAttempts: 2, initialInterval: 100ms, maxInterval: 200ms}
`)
	r := startRun(t, t.TempDir(), env...)
	sentList := r.send("--count", "2", "--api", "platform", "--mix", "passed=1")
	r.results(2)

	var first []map[string]any
	eventually(t, "two dead letters", func() bool { first = r.deadLetters("--route", "hook"); return len(first) == 2 })
	if first[0]["class"] != "permanent" || first[0]["stage"] != "notify" {
		t.Errorf("dead letter: %v", first[0])
	}

	// show masks the person; --reveal shows it.
	js := r.js()
	var lastName string
	for _, m := range messages(t, js, events.StreamEnriched) {
		var ev events.EnrichedEvent
		if json.Unmarshal(m.Data, &ev) == nil && ev.Result.Person != nil && ev.Result.Person.LastName != "" {
			lastName = ev.Result.Person.LastName
			break
		}
	}
	if lastName == "" {
		t.Fatal("no enriched result with a person")
	}
	shown := r.kycflow("dlq", "show", "--route", "hook")
	if strings.Contains(shown, lastName) || !strings.Contains(shown, events.HeaderError) {
		t.Errorf("dlq show: the name is shown or the error is not:\n%s", shown)
	}
	if revealed := r.kycflow("dlq", "show", "--route", "hook", "--reveal"); !strings.Contains(revealed, lastName) {
		t.Errorf("dlq show --reveal does not show the payload")
	}

	// Re-driven while still broken: new dead letters.
	r.kycflow("dlq", "redrive", "--route", "hook")
	var second []map[string]any
	eventually(t, "the re-driven results to fail again", func() bool { second = r.deadLetters("--route", "hook"); return len(second) == 2 })
	for i := range second {
		if second[i]["seq"] == first[0]["seq"] || second[i]["seq"] == first[1]["seq"] {
			t.Errorf("dead letter %v is an old one", second[i]["seq"])
		}
	}

	// Fixed: the re-drive delivers.
	broken.Store(false)
	out := r.kycflow("dlq", "redrive", "--route", "hook")
	if !strings.Contains(out, "2 dead letters re-driven") {
		t.Errorf("redrive: %s", out)
	}
	eventually(t, "two deliveries", func() bool { return len(h.deliveries()) == 2 })
	got := map[string]int{}
	for _, d := range h.deliveries() {
		got[d.envelope.Data.IDs.WorkflowExecutionID]++
		if d.envelope.Replay || d.replay != "" {
			t.Errorf("a first delivery through a redrive is marked as a replay")
		}
	}
	for _, s := range sentList {
		if got[s.WorkflowExecutionID] != 1 {
			t.Errorf("%s delivered %d times, want 1", s.WorkflowExecutionID, got[s.WorkflowExecutionID])
		}
	}
	if left := r.deadLetters(); len(left) != 0 {
		t.Errorf("dead letters left: %v", left)
	}
	// The NATS route is not asked to deliver again; once settled it has
	// delivered each result once.
	r.settled()
	if n := len(messages(t, js, events.StreamResults)); n != 2 {
		t.Errorf("results on the NATS route: got %d, want 2", n)
	}
	if out := r.kycflow("dlq", "redrive", "--route", "hook"); !strings.Contains(out, "no dead letters") {
		t.Errorf("second redrive: %s", out)
	}

	// purge asks first.
	broken.Store(true)
	r.send("--count", "1", "--api", "platform", "--mix", "passed=1")
	eventually(t, "a new dead letter", func() bool { return len(r.deadLetters()) == 1 })
	if _, _, err := r.try(t.Context(), "n\n", "dlq", "purge", "--route", "hook"); err == nil {
		t.Errorf("purge went ahead without a yes")
	}
	if out, errOut, err := r.try(t.Context(), "y\n", "dlq", "purge", "--route", "hook"); err != nil || !strings.Contains(out, "1 dead letter deleted") {
		t.Errorf("purge: %v\n%s%s", err, out, errOut)
	}
	if left := r.deadLetters(); len(left) != 0 {
		t.Errorf("dead letters left after purge: %v", left)
	}
}
