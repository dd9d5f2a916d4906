package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/pkg/events"
)

// server is a JetStream server with kycflow's streams for commands run
// with Main.
type server struct {
	t   *testing.T
	srv *brokertest.Server
	js  jetstream.JetStream
	// vars is the environment of the commands.
	vars map[string]string
}

func newServer(t *testing.T) *server {
	t.Helper()
	srv := brokertest.Start(t)
	_, js := srv.JetStream(t)
	vars := map[string]string{"KYCFLOW_NATS_URL": srv.URL(), "KYCFLOW_DATA_DIR": t.TempDir()}
	return &server{t: t, srv: srv, js: js, vars: vars}
}

func (s *server) env(k string) string { return s.vars[k] }

// kycflow runs a command and returns its standard output and error
// together; it fails the test unless the command exits with code.
func (s *server) kycflow(code int, args ...string) string {
	s.t.Helper()
	out, errOut := s.run(code, args...)
	return out + errOut
}

// run runs a command and returns its standard output and standard error;
// it fails the test unless the command exits with code.
func (s *server) run(code int, args ...string) (stdout, stderr string) {
	s.t.Helper()
	var out, errOut bytes.Buffer
	if got := Main(s.t.Context(), args, s.env, nil, &out, &errOut); got != code {
		s.t.Fatalf("kycflow %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

// enriched stores an enriched result of execution exec with status and
// decision, as the enricher does; hdr adds headers (a replay's output
// carries Kycflow-Replay).
func (s *server) enriched(exec string, status events.Status, decision events.DecisionType, hdr nats.Header) *nats.Msg {
	s.t.Helper()
	r := events.Result{SchemaVersion: 1, IDs: events.IDs{EventID: "ev-" + exec + "-" + string(status), AccountID: "4a1b2c3d-5e6f-4711-8899-aabbccddeeff", WorkflowExecutionID: exec},
		Status: status, Decision: events.Decision{Type: decision}}
	b, err := json.Marshal(events.EnrichedEvent{SchemaVersion: 1, Result: r, RawType: events.RawPlatformDetails})
	if err != nil {
		s.t.Fatal(err)
	}
	m := nats.NewMsg(events.EnrichedSubject(r.IDs.AccountID, exec))
	m.Data = b
	for k, v := range hdr {
		m.Header[k] = v
	}
	m.Header.Set(events.HeaderEventID, r.IDs.EventID)
	m.Header.Set(events.HeaderCEID, r.IDs.EventID)
	if m.Header.Get(events.HeaderMsgID) == "" {
		m.Header.Set(events.HeaderMsgID, events.DerivedID(r.IDs.EventID, string(decision)))
	}
	if _, err := s.js.PublishMsg(s.t.Context(), m); err != nil {
		s.t.Fatal(err)
	}
	return m
}

// copies returns the messages of stream that a replay wrote.
func (s *server) copies(stream string) []*jetstream.RawStreamMsg {
	s.t.Helper()
	var out []*jetstream.RawStreamMsg
	for _, m := range brokertest.Messages(s.t, s.js, stream) {
		if m.Header.Get(events.HeaderRefed) != "" {
			out = append(out, m)
		}
	}
	return out
}

func decisionOf(t *testing.T, data []byte) events.DecisionType {
	t.Helper()
	var ev events.EnrichedEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	return ev.Result.Decision.Type
}

// TestReplayNotifySelectsTheNewestResult: a notify replay re-feeds the
// results the enricher made from a replay (they carry Kycflow-Replay) and,
// per execution status, only the newest one; copies a replay wrote are
// never selected again.
func TestReplayNotifySelectsTheNewestResult(t *testing.T) {
	s := newServer(t)
	const x, y = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	s.enriched(x, events.StatusProcessed, events.DecisionRejected, nil) // before the mapping fix
	s.enriched(y, events.StatusProcessed, events.DecisionPassed, nil)
	// "replay enrich" after the fix: the enricher's output carries the
	// replay marker of the callback it came from.
	fixed := nats.Header{}
	fixed.Set(events.HeaderReplay, events.ReplayMarker{ID: "enrich-fix"}.String())
	s.enriched(x, events.StatusProcessed, events.DecisionPassed, fixed)
	// A copy an earlier notify replay wrote.
	cp := nats.Header{}
	cp.Set(events.HeaderReplay, events.ReplayMarker{ID: "older", Redeliver: true}.String())
	cp.Set(events.HeaderRefed, "older")
	cp.Set(events.HeaderMsgID, "copy-1")
	s.enriched(y, events.StatusProcessed, events.DecisionPassed, cp)

	if out := s.kycflow(0, "replay", "notify", "--dry-run"); !strings.Contains(out, "would replay 2 messages") || !strings.Contains(out, "1 older results") {
		t.Errorf("dry run: %s", out)
	}
	out := s.kycflow(0, "replay", "notify", "--redeliver", "--execution", x)
	if !strings.Contains(out, "1 stored") {
		t.Fatalf("replay: %s", out)
	}
	var got []events.DecisionType
	for _, m := range s.copies(events.StreamEnriched) {
		if m.Header.Get(events.HeaderRefed) != "older" {
			got = append(got, decisionOf(t, m.Data))
			if mk, err := events.ParseReplayMarker(m.Header.Get(events.HeaderReplay)); err != nil || !mk.Redeliver || mk.ID != m.Header.Get(events.HeaderRefed) {
				t.Errorf("copy's marker %q (%v), refed %q", m.Header.Get(events.HeaderReplay), err, m.Header.Get(events.HeaderRefed))
			}
		}
	}
	if len(got) != 1 || got[0] != events.DecisionPassed {
		t.Errorf("re-fed results of %s: got %v, want the newest (PASSED) only", x, got)
	}
}

// TestReplayEnrichSkipsCopies: an enrich replay re-feeds the callbacks
// ingest stored, never the copies of an earlier replay (marked with
// Kycflow-Refed, or, written before that header, with Kycflow-Replay).
func TestReplayEnrichSkipsCopies(t *testing.T) {
	s := newServer(t)
	publish := func(id string, hdr map[string]string) {
		m := nats.NewMsg(events.CallbackSubject(events.APIPlatform, "4a1b2c3d-5e6f-4711-8899-aabbccddeeff", "11111111-1111-4111-8111-111111111111"))
		m.Data = []byte(`{"schemaVersion":1}`)
		m.Header.Set(events.HeaderMsgID, id)
		for k, v := range hdr {
			m.Header.Set(k, v)
		}
		if _, err := s.js.PublishMsg(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	publish("cb-1", nil)
	publish("cb-1-copy", map[string]string{events.HeaderReplay: "id=a", events.HeaderRefed: "a"})
	publish("cb-1-legacy-copy", map[string]string{events.HeaderReplay: "id=b"})
	if out := s.kycflow(0, "replay", "enrich", "--dry-run"); !strings.Contains(out, "would replay 1 messages") {
		t.Errorf("dry run: %s", out)
	}
}

// TestReplayRepeatedOnALiveStream: the same command, run again after new
// messages arrived, is the same replay: what it re-fed is not stored
// again, only the new message is; --replay-id makes a new replay.
func TestReplayRepeatedOnALiveStream(t *testing.T) {
	s := newServer(t)
	for _, exec := range []string{"11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"} {
		s.enriched(exec, events.StatusProcessed, events.DecisionPassed, nil)
	}
	args := []string{"replay", "notify", "--since", "1h", "--redeliver"}
	first := s.kycflow(0, args...)
	if !strings.Contains(first, "2 stored") {
		t.Fatalf("first run: %s", first)
	}
	s.enriched("33333333-3333-4333-8333-333333333333", events.StatusProcessed, events.DecisionWarning, nil)
	again := s.kycflow(0, args...)
	if !strings.Contains(again, "1 stored, 2 already stored") {
		t.Errorf("second run: %s", again)
	}
	if n := len(s.copies(events.StreamEnriched)); n != 3 {
		t.Errorf("copies after running the replay twice: got %d, want 3", n)
	}
	if out := s.kycflow(0, append(args, "--replay-id", "second-time")...); !strings.Contains(out, "3 stored") {
		t.Errorf("--replay-id: %s", out)
	}
	if n := len(s.copies(events.StreamEnriched)); n != 6 {
		t.Errorf("copies after a named replay: got %d, want 6", n)
	}
}

func TestReplayID(t *testing.T) {
	req := replayRequest{stage: events.StageNotify, since: whenKey("2h"), account: "a"}
	id := req.id()
	if _, err := events.ParseReplayMarker(events.ReplayMarker{ID: id}.String()); err != nil {
		t.Fatalf("replay id %q does not make a marker: %v", id, err)
	}
	same := req
	same.routes = []string{}
	if same.id() != id {
		t.Errorf("the same request gives two ids")
	}
	withRoutes := func(r ...string) string { x := req; x.routes = r; return x.id() }
	if withRoutes("b", "a") != withRoutes("a", "b", "a") {
		t.Errorf("route order or repeats change the id")
	}
	if whenKey("2026-03-04") != whenKey("2026-03-04T01:00:00+01:00") {
		t.Errorf("the same absolute time in two forms gives two keys")
	}
	if whenKey(" 2h ") != "2h" {
		t.Errorf("a relative time is not kept as typed: %q", whenKey(" 2h "))
	}
	for name, change := range map[string]func(*replayRequest){
		"stage":     func(r *replayRequest) { r.stage = events.StageEnrich },
		"since":     func(r *replayRequest) { r.since = whenKey("3h") },
		"until":     func(r *replayRequest) { r.until = whenKey("1h") },
		"from-seq":  func(r *replayRequest) { r.fromSeq = 4 },
		"to-seq":    func(r *replayRequest) { r.toSeq = 9 },
		"account":   func(r *replayRequest) { r.account = "b" },
		"execution": func(r *replayRequest) { r.execution = "x" },
		"redeliver": func(r *replayRequest) { r.redeliver = true },
		"routes":    func(r *replayRequest) { r.routes = []string{"crm"} },
		"replay-id": func(r *replayRequest) { r.name = "again" },
	} {
		other := req
		change(&other)
		if other.id() == id {
			t.Errorf("%s does not change the replay id", name)
		}
	}
}
