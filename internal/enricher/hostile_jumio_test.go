package enricher_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// TestHostileDetailsOfAnotherExecution: Jumio (or a proxy in front of it)
// answers the details request for execution X with the details of
// another execution Y, in another account, which PASSED. X itself was
// REJECTED. The enricher must not publish Y's verdict and Y's personal
// data as X's result.
func TestHostileDetailsOfAnotherExecution(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	victims, _ := jumiotest.Generate(jumiotest.Scenario{Seed: 31, Executions: 1, Mix: jumiotest.Mix{Rejected: 1}})
	others, _ := jumiotest.Generate(jumiotest.Scenario{Seed: 32, Executions: 1, Mix: jumiotest.Mix{Passed: 1}})
	x, y := victims[0], others[0]
	if x.ID == y.ID || x.AccountID == y.AccountID {
		t.Fatal("the test wants two executions in two accounts")
	}
	x.Details = y.Details // X's URL serves Y's document
	if err := h.jumio.AddExecution(x); err != nil {
		t.Fatal(err)
	}
	h.start(h.config(), nil)
	h.publish(h.platformEvent(x, time.Now()), nil)
	h.settle(1)
	for _, m := range h.enriched() {
		var raw struct {
			Workflow struct{ ID string } `json:"workflow"`
			Account  struct{ ID string } `json:"account"`
		}
		_ = json.Unmarshal(m.Event.Raw, &raw)
		r := m.Event.Result
		if r.IDs.WorkflowExecutionID == x.ID && (raw.Workflow.ID != x.ID || raw.Account.ID != x.AccountID) {
			t.Errorf("result for execution %s (account %s) made from the details of execution %s (account %s): decision %s",
				x.ID, x.AccountID, raw.Workflow.ID, raw.Account.ID, r.Decision.Type)
		}
		if r.IDs.WorkflowExecutionID == x.ID && r.Decision.Type == events.DecisionPassed {
			t.Errorf("execution %s, REJECTED at Jumio, published as PASSED", x.ID)
		}
	}
}

// TestHostileNetverifyDataOfAnotherScan: the Netverify /data answer for
// scan S (DENIED_FRAUD) is the document of another scan T
// (APPROVED_VERIFIED): scanReference says T. The result for S must not be
// T's PASSED.
func TestHostileNetverifyDataOfAnotherScan(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	_, denied := jumiotest.Generate(jumiotest.Scenario{Seed: 41, NetverifyScans: 1, NetverifyMix: jumiotest.NetverifyMix{DeniedFraud: 1}})
	_, approved := jumiotest.Generate(jumiotest.Scenario{Seed: 42, NetverifyScans: 1, NetverifyMix: jumiotest.NetverifyMix{Approved: 1}})
	s, other := denied[0], approved[0]
	if s.Reference == other.Reference {
		t.Fatal("the test wants two scans")
	}
	s.Data = other.Data // S's /data serves T's document
	if err := h.jumio.AddNetverifyScan(s); err != nil {
		t.Fatal(err)
	}
	h.start(h.config(), nil) // Netverify credentials set: confirmation on
	// A forged APPROVED_VERIFIED callback for S, as any Jumio customer can send.
	forged := cloneForm(t, h.jumio.NetverifyCallback(s, time.Now()))
	forged.Set("verificationStatus", "APPROVED_VERIFIED")
	forged.Del("rejectReason")
	publishForm(t, h, []byte(forged.Encode()))
	h.settle(1)
	for _, m := range h.enriched() {
		var raw struct {
			ScanReference string `json:"scanReference"`
		}
		_ = json.Unmarshal(m.Event.Raw, &raw)
		r := m.Event.Result
		if r.IDs.ScanReference == s.Reference && raw.ScanReference != s.Reference {
			t.Errorf("result for scan %s made from the /data of scan %s: decision %s", s.Reference, raw.ScanReference, r.Decision.Type)
		}
		if r.IDs.ScanReference == s.Reference && r.Decision.Type == events.DecisionPassed {
			t.Errorf("scan %s, DENIED_FRAUD at Jumio, published as PASSED", s.Reference)
		}
	}
}

// TestHostileTokenRetryAfterUncapped: the token endpoint answers one 429
// with Retry-After: 3600. The client's MaxRetryAfter (here 2s; default
// 5m) caps how long a 429 may hold work, yet the callback is parked on
// the server for the full hour: a single token 429 delays a result by up
// to a day (parseRetryAfter's cap), after which RetryMaxAge has passed
// and the next transient failure dead-letters it with retry_budget.
func TestHostileTokenRetryAfterUncapped(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	x := h.executions(1, 51)[0]
	cfg := h.config()
	cfg.Jumio.MaxRetryAfter = 2 * time.Second
	h.jumio.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointToken}, Status: http.StatusTooManyRequests, RetryAfter: time.Hour})
	h.start(cfg, nil)
	h.publish(h.platformEvent(x, time.Now()), nil)
	deadline := time.Now().Add(20 * time.Second)
	for h.ledger().Results < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("not enriched 20s after a token 429 with Retry-After 3600 (MaxRetryAfter 2s): %d token requests, %d rate_limited redeliveries",
				h.jumio.Requests(jumio.EndpointToken), h.counter(enricher.MetricRetries, attribute.String("reason", "rate_limited")))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHostileFutureCallbackSentAtRetriesForever: Jumio's callback carries
// a callbackSentAt 10 hours ahead (a zone bug: local time labelled Z) and
// the details answer 404 for good (the execution was deleted). The
// not-ready schedule is counted from callbackSentAt, so the time "since
// the callback" stays 0 and the 404 is "not ready yet" on every delivery:
// no attempt or age budget applies, and the callback is redelivered every
// first step of the schedule until 10 hours and the schedule have passed.
func TestHostileFutureCallbackSentAtRetriesForever(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	x := h.executions(1, 61)[0]
	h.jumio.NotReady(x.ID, 1<<30, time.Time{})
	cfg := h.config()
	cfg.RetryMaxAttempts = 5
	cfg.RetryMaxAge = 5 * time.Second
	// Five steps of 200ms: a 404 that lasts is dead-lettered about a
	// second after the callback, after about 6 requests.
	cfg.NotReadySchedule = jumio.Schedule{200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond}
	h.start(cfg, nil)
	ev := h.platformEvent(x, time.Now().Add(10*time.Hour))
	ev.ReceivedAt = time.Now() // ingest's own clock
	h.publish(ev, nil)
	deadline := time.Now().Add(15 * time.Second)
	for h.ledger().DeadLetters == 0 {
		if n := h.jumio.Count(jumio.EndpointWorkflowDetails, http.StatusNotFound); n > 30 || time.Now().After(deadline) {
			t.Fatalf("still retrying: %d details 404s, %d not_ready redeliveries, no dead letter (RetryMaxAttempts %d, RetryMaxAge %s)",
				n, h.counter(enricher.MetricRetries, attribute.String("reason", "not_ready")), cfg.RetryMaxAttempts, cfg.RetryMaxAge)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHostileMixedCaseDuplicateDecision: the details carry the decision
// twice, "decision" PASSED and "DECISION" REJECTED. kycflow's decoder
// reads keys case-insensitively (as encoding/json does), so both are the
// decision; which one it keeps depends on Go's map iteration order. The
// same document then comes out PASSED on some deliveries and REJECTED on
// others, where a field sent twice with different values must be
// unreadable and never leave a PASSED standing.
func TestHostileMixedCaseDuplicateDecision(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	execs, _ := jumiotest.Generate(jumiotest.Scenario{Seed: 71, Executions: 30, Mix: jumiotest.Mix{Passed: 1}})
	for i := range execs {
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(execs[i].Details, &doc); err != nil {
			t.Fatal(err)
		}
		doc["DECISION"] = json.RawMessage(`{"type":"REJECTED","details":{"label":"REJECTED"},"risk":{"score":100}}`)
		execs[i].Details, _ = json.Marshal(doc)
		if err := h.jumio.AddExecution(execs[i]); err != nil {
			t.Fatal(err)
		}
	}
	h.start(h.config(), nil)
	h.publishAll(execs)
	h.settle(len(execs))
	// Neither spelling wins: the decision is unreadable, a manual
	// review, the same on every delivery.
	got := map[string]int{}
	for _, m := range h.enriched() {
		r := m.Event.Result
		got[string(r.Decision.Type)+" "+strings.Join(r.UnreadableFields, ",")]++
	}
	if want := map[string]int{"WARNING decision": len(execs)}; len(got) != 1 || got["WARNING decision"] != len(execs) {
		t.Errorf("decisions and unreadable fields %v, want %v", got, want)
	}
}

// hostileJumio puts a server in front of the simulator: override answers
// the requests it wants to (returning true), the simulator the rest. It
// returns cfg pointed at it.
func hostileJumio(t *testing.T, h *harness, cfg enricher.Config, override func(w http.ResponseWriter, r *http.Request) bool) enricher.Config {
	t.Helper()
	sim := h.jumio.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !override(w, r) {
			sim.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	u := srv.URL
	cfg.Jumio.Hosts = wire.Hosts{Auth: u, Account: u, API: u, Retrieval: u, Netverify: u, Status: u}
	return cfg
}

// TestHostileNetverifyDataLagsScanStatus: the scan has ended (its status
// says DONE) but the first two /data answers still carry transaction
// status PENDING, as when Jumio's data store lags its status. The first
// delivery asks /data (PENDING: not mapped), then the scan status (DONE),
// then /data again, and maps that second, still PENDING, answer: an
// unfinished result (ACQUIRED, NOT_EXECUTED) is published as the
// callback's result and the callback acked. Jumio calls back once, so
// the verdict never follows.
func TestHostileNetverifyDataLagsScanStatus(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	_, scans := jumiotest.Generate(jumiotest.Scenario{Seed: 111, NetverifyScans: 1, NetverifyMix: jumiotest.NetverifyMix{Approved: 1}})
	sc := scans[0]
	if err := h.jumio.AddNetverifyScan(sc); err != nil {
		t.Fatal(err)
	}
	sim := h.jumio.Handler()
	var (
		mu   sync.Mutex
		lags = 2
	)
	cfg := hostileJumio(t, h, h.config(), func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != jumio.PathNetverifyScans+"/"+sc.Reference+"/data" {
			return false
		}
		mu.Lock()
		lag := lags > 0
		lags--
		mu.Unlock()
		if !lag {
			return false
		}
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Code)
		_, _ = w.Write([]byte(strings.Replace(rec.Body.String(), `"status":"DONE"`, `"status":"PENDING"`, 1)))
		return true
	})
	h.start(cfg, nil)
	publishForm(t, h, h.jumio.NetverifyCallback(sc, time.Now()))
	h.settle(1)
	for _, m := range h.enriched() {
		if r := m.Event.Result; r.Status != events.StatusProcessed || r.Decision.Type != events.DecisionPassed {
			t.Errorf("APPROVED_VERIFIED scan published as status %s decision %s/%s (the callback is acked: no other result follows)",
				r.Status, r.Decision.Type, r.Decision.Label)
		}
	}
}

// TestHostileErrorBodyEchoedIntoDeadLetter: Jumio's answer to the details
// request echoes personal data, in the errorCode/title of a 400's error
// body, or in a broken status line. None of it may reach the error, hence
// the dead letter's Kycflow-Error header and the log: only codes that are
// code words are quoted, and a response that cannot be read (a status
// line, a chunked body's trailer) is not.
func TestHostileErrorBodyEchoedIntoDeadLetter(t *testing.T) {
	const pii = "JANE.DOE.1990-01-01"
	answers := map[string]func(w http.ResponseWriter){
		"error body": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"title":"Document of ` + pii + ` could not be processed","status":400,"errorCode":"` + pii + `"}`))
		},
		"status line": func(w http.ResponseWriter) {
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			_, _ = buf.WriteString("HTTP/1.1 " + pii + " Bad\r\n\r\n")
			_ = buf.Flush()
			_ = conn.Close()
		},
		// A 200 whose chunked body ends in a malformed trailer line:
		// net/http's read error quotes the line.
		"chunked trailer": func(w http.ResponseWriter) {
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n%s\r\n\r\n", pii)
			_ = buf.Flush()
			_ = conn.Close()
		},
	}
	for name, answer := range answers {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, jumiotest.Config{})
			x := h.executions(1, 81)[0]
			cfg := h.config()
			cfg.RetryMaxAttempts = 1 // dead-letter the transient one at once too
			cfg = hostileJumio(t, h, cfg, func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.HasSuffix(r.URL.Path, "/workflow-executions/"+x.ID) {
					return false
				}
				answer(w)
				return true
			})
			h.start(cfg, nil)
			h.publish(h.platformEvent(x, time.Now()), nil)
			if l := h.settle(1); l.DeadLetters != 1 {
				t.Fatalf("ledger %+v: want a dead letter", l)
			}
			for _, m := range h.deadLetters() {
				if e := m.Header.Get(events.HeaderError); strings.Contains(e, "DOE") {
					t.Errorf("dead letter header %s quotes Jumio's answer: %q", events.HeaderError, e)
				}
			}
		})
	}
}

// TestHostile503RetryAfterIgnored: Jumio answers the details request 503
// with Retry-After: 3 (down for maintenance, back in 3 s). Neither the
// client's retry within the call nor the enricher's redelivery may ask
// again sooner.
func TestHostile503RetryAfterIgnored(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	x := h.executions(1, 91)[0]
	var (
		mu    sync.Mutex
		times []time.Time
	)
	cfg := hostileJumio(t, h, h.config(), func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/workflow-executions/"+x.ID) {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		times = append(times, time.Now())
		if len(times) > 1 {
			return false
		}
		w.Header().Set("Retry-After", "3")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"title":"Service Unavailable","status":503}`))
		return true
	})
	h.start(cfg, nil)
	h.publish(h.platformEvent(x, time.Now()), nil)
	if l := h.settle(1); l.Results != 1 {
		t.Fatalf("ledger %+v: want a result", l)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(times) < 2 {
		t.Fatalf("%d details requests", len(times))
	}
	if gap := times[1].Sub(times[0]); gap < 2500*time.Millisecond {
		t.Errorf("details asked again %s after a 503 with Retry-After: 3", gap.Round(time.Millisecond))
	}
}

// TestHostileNegativeTokenLifetime: the token endpoint answers with
// expires_in -1. The token works throughout; a 401 would tell when it
// stops working. One token request must serve all the details requests,
// not one each.
func TestHostileNegativeTokenLifetime(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	execs := h.executions(20, 101)
	sim := h.jumio.Handler()
	cfg := hostileJumio(t, h, h.config(), func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != jumio.PathToken {
			return false
		}
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, r)
		var body map[string]any
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return true
		}
		body["expires_in"] = -1
		b, _ := json.Marshal(body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		return true
	})
	h.start(cfg, nil)
	h.publishAll(execs)
	if l := h.settle(len(execs)); l.Results != int64(len(execs)) {
		t.Fatalf("ledger %+v", l)
	}
	if n := h.jumio.Requests(jumio.EndpointToken); n > 2 {
		t.Errorf("%d token requests for %d details requests; the first token was accepted throughout",
			n, h.jumio.Requests(jumio.EndpointWorkflowDetails))
	}
}

// TestHostileTokenCachedServerSide: Jumio may cache tokens server-side
// ("consecutive token calls may return the same token", docs/jumio.md
// 3.1): asked again before expiry, the token endpoint returns the token it
// issued, with the lifetime it has left. The early refresh must not turn
// that into a run of token requests as the token's end nears: about one
// request per token lifetime.
func TestHostileTokenCachedServerSide(t *testing.T) {
	const life = 12 * time.Second
	h := newHarness(t, jumiotest.Config{TokenLifetime: life})
	sim := h.jumio.Handler()
	var (
		mu      sync.Mutex
		cached  []byte
		expires time.Time
		asked   int
	)
	cfg := h.config()
	cfg.Jumio.TokenRefreshAhead = 5 * time.Second
	cfg = hostileJumio(t, h, cfg, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != jumio.PathToken {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		asked++
		if now := time.Now(); cached == nil || !now.Before(expires) {
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, r)
			if rec.Code != http.StatusOK {
				w.WriteHeader(rec.Code)
				_, _ = w.Write(rec.Body.Bytes())
				return true
			}
			cached, expires = rec.Body.Bytes(), now.Add(life)
		}
		var body map[string]any
		_ = json.Unmarshal(cached, &body)
		body["expires_in"] = int(math.Ceil(time.Until(expires).Seconds()))
		b, _ := json.Marshal(body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		return true
	})
	execs := h.executions(130, 121)
	h.start(cfg, nil)
	// One callback every 100ms for a token lifetime and a bit.
	for _, x := range execs {
		h.publish(h.platformEvent(x, time.Now()), nil)
		time.Sleep(100 * time.Millisecond)
	}
	h.settle(len(execs))
	mu.Lock()
	defer mu.Unlock()
	if asked > 3 {
		t.Errorf("%d token requests in %s with %s tokens (%d new tokens issued)",
			asked, time.Duration(len(execs))*100*time.Millisecond, life, h.jumio.Requests(jumio.EndpointToken))
	}
}
