package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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

// callback stores a callback in JUMIO_CALLBACKS as ingest does, with
// message id id and the headers hdr.
func (s *server) callback(id string, hdr map[string]string) {
	s.t.Helper()
	m := nats.NewMsg(events.CallbackSubject(events.APIPlatform, "4a1b2c3d-5e6f-4711-8899-aabbccddeeff", "11111111-1111-4111-8111-111111111111"))
	m.Data = []byte(`{"schemaVersion":1}`)
	m.Header.Set(events.HeaderMsgID, id)
	for k, v := range hdr {
		m.Header.Set(k, v)
	}
	if _, err := s.js.PublishMsg(s.t.Context(), m); err != nil {
		s.t.Fatal(err)
	}
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

	if out := s.kycflow(0, "replay", "notify", "--dry-run"); !strings.Contains(out, "would replay 2 messages") || !strings.Contains(out, "1 older result ") {
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
	s.callback("cb-1", nil)
	s.callback("cb-1-copy", map[string]string{events.HeaderReplay: "id=a", events.HeaderRefed: "a"})
	s.callback("cb-1-legacy-copy", map[string]string{events.HeaderReplay: "id=b"})
	if out := s.kycflow(0, "replay", "enrich", "--dry-run"); !strings.Contains(out, "would replay 1 message ") {
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

// executions stores n enriched results of n executions and returns the
// stored messages, oldest first: sequences 1 to n on a new server.
func (s *server) executions(n int) []*jetstream.RawStreamMsg {
	s.t.Helper()
	for i := range n {
		s.enriched(fmt.Sprintf("%08d-1111-4111-8111-111111111111", i+1), events.StatusProcessed, events.DecisionPassed, nil)
	}
	msgs := brokertest.Messages(s.t, s.js, events.StreamEnriched)
	if len(msgs) != n || msgs[0].Sequence != 1 {
		s.t.Fatalf("stored %d messages from sequence %d, want %d from 1", len(msgs), msgs[0].Sequence, n)
	}
	return msgs
}

// TestReplaySequenceRange: --from-seq and --to-seq select a closed range
// of the input stream; the replay re-feeds exactly those messages, each
// once, marked as a replay.
func TestReplaySequenceRange(t *testing.T) {
	s := newServer(t)
	msgs := s.executions(6)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--from-seq", "2", "--to-seq", "4"}, "would replay 3 messages of JUMIO_ENRICHED (sequences 2 to 4)"},
		{[]string{"--from-seq", "5"}, "would replay 2 messages of JUMIO_ENRICHED (sequences 5 to 6)"},
		{[]string{"--to-seq", "2"}, "would replay 2 messages of JUMIO_ENRICHED (sequences 1 to 2)"},
		{[]string{"--from-seq", "3", "--to-seq", "3"}, "would replay 1 message of JUMIO_ENRICHED (sequences 3 to 3)"},
		{[]string{"--from-seq", "7"}, "nothing to replay"},
	} {
		if out := s.kycflow(0, append([]string{"replay", "notify", "--dry-run"}, tc.args...)...); !strings.Contains(out, tc.want) {
			t.Errorf("%s: got %q, want %q", strings.Join(tc.args, " "), out, tc.want)
		}
	}
	s.kycflow(2, "replay", "notify", "--from-seq", "4", "--to-seq", "2")
	if n := len(s.copies(events.StreamEnriched)); n != 0 {
		t.Fatalf("a dry run stored %d copies", n)
	}

	if out := s.kycflow(0, "replay", "notify", "--from-seq", "2", "--to-seq", "4", "--redeliver"); !strings.Contains(out, "3 stored") {
		t.Fatalf("replay: %s", out)
	}
	var got, want []string
	for _, m := range msgs[1:4] {
		want = append(want, m.Header.Get(events.HeaderMsgID)+" "+string(m.Data))
	}
	for _, c := range s.copies(events.StreamEnriched) {
		mk, err := events.ParseReplayMarker(c.Header.Get(events.HeaderReplay))
		if err != nil || !mk.Redeliver {
			t.Errorf("copy %d: marker %q (%v)", c.Sequence, c.Header.Get(events.HeaderReplay), err)
			continue
		}
		// The copy's message id is the original's combined with the
		// replay id: recover the original's to name it.
		orig := ""
		for _, m := range msgs {
			if mk.MessageID(m.Header.Get(events.HeaderMsgID)) == c.Header.Get(events.HeaderMsgID) {
				orig = m.Header.Get(events.HeaderMsgID)
			}
		}
		got = append(got, orig+" "+string(c.Data))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("re-fed messages (-want +got):\n%s", diff)
	}
}

// TestReplayTimeWindow: --since includes the messages stored at or after
// it, --until stops before the first stored at or after it.
func TestReplayTimeWindow(t *testing.T) {
	s := newServer(t)
	msgs := s.executions(6)
	at := func(i int) string { return msgs[i].Time.UTC().Format(time.RFC3339Nano) }
	// selected counts the stored messages from sequence from in [since,
	// until), as the server timed them.
	selected := func(from uint64, since, until time.Time) int {
		n := 0
		for _, m := range msgs {
			if m.Sequence >= from && !m.Time.Before(since) && (until.IsZero() || m.Time.Before(until)) {
				n++
			}
		}
		return n
	}
	var never time.Time
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--until", at(3)}, selected(0, never, msgs[3].Time)},
		{[]string{"--since", at(1), "--until", at(4)}, selected(0, msgs[1].Time, msgs[4].Time)},
		{[]string{"--since", at(4)}, selected(0, msgs[4].Time, never)},
		{[]string{"--since", at(2), "--until", at(5), "--from-seq", "4"}, selected(4, msgs[2].Time, msgs[5].Time)},
	} {
		if tc.want == 0 {
			t.Fatalf("%s selects nothing", strings.Join(tc.args, " "))
		}
		want := fmt.Sprintf("would replay %d messages", tc.want)
		if out := s.kycflow(0, append([]string{"replay", "notify", "--dry-run"}, tc.args...)...); !strings.Contains(out, want) {
			t.Errorf("%s: got %q, want %q", strings.Join(tc.args, " "), out, want)
		}
	}
	if out := s.kycflow(0, "replay", "notify", "--dry-run", "--until", at(0)); !strings.Contains(out, "nothing to replay") {
		t.Errorf("--until the first message: %s", out)
	}
	s.kycflow(2, "replay", "notify", "--since", at(3), "--until", at(1))
}

// TestReplayRate: --rate paces a replay without changing what it re-feeds;
// a short replay off a terminal prints no progress lines.
func TestReplayRate(t *testing.T) {
	s := newServer(t)
	for i := range 4 {
		s.callback(fmt.Sprintf("cb-%d", i), nil)
	}
	out, errOut := s.run(0, "replay", "enrich", "--rate", "500")
	if !strings.Contains(out, "replayed 4 messages of JUMIO_CALLBACKS") || !strings.Contains(out, "4 stored") {
		t.Errorf("replay: %s", out)
	}
	if errOut != "" {
		t.Errorf("stderr: %q, want no progress lines", errOut)
	}
	if n := len(s.copies(events.StreamCallbacks)); n != 4 {
		t.Errorf("copies: got %d, want 4", n)
	}
	s.kycflow(2, "replay", "enrich", "--rate", "-1")
}

// TestReplayNotifyRefusesUnknownRoute: a copy marked for a route no
// notifier has would be dropped by every route; such a replay is refused
// before anything is stored: a route without a consumer (a usage error),
// or one whose consumer nothing reads (a route removed from the routes
// file keeps its consumer), its dry run too. One for a route a notifier
// reads goes ahead.
func TestReplayNotifyRefusesUnknownRoute(t *testing.T) {
	defer func(d time.Duration) { routeReadWait = d }(routeReadWait)
	routeReadWait = 500 * time.Millisecond
	s := newServer(t)
	const x = "33333333-3333-4333-8333-333333333333"
	s.enriched(x, events.StatusProcessed, events.DecisionPassed, nil)
	s.consumer("crm", true)
	s.consumer("removed", false)
	out := s.kycflow(2, "replay", "notify", "--redeliver", "--execution", x, "--route", "crm,nosuch")
	if !strings.Contains(out, "--route nosuch: no route of that name") {
		t.Errorf("replay to an unknown route:\n%s", out)
	}
	out = s.kycflow(1, "replay", "notify", "--redeliver", "--execution", x, "--route", "removed")
	if !strings.Contains(out, "--route removed, nothing was replayed") || !strings.Contains(out, "nothing read consumer notifier-removed") {
		t.Errorf("replay to a route nothing reads:\n%s", out)
	}
	if n := len(s.copies(events.StreamEnriched)); n != 0 {
		t.Errorf("a refused replay stored %d copies", n)
	}
	// The dry run says what the replay would do: refuse.
	if out := s.kycflow(1, "replay", "notify", "--redeliver", "--execution", x, "--route", "removed", "--dry-run"); !strings.Contains(out, "nothing read consumer notifier-removed") || strings.Contains(out, "would replay") {
		t.Errorf("dry run of a replay to a route nothing reads:\n%s", out)
	}
	if out := s.kycflow(0, "replay", "notify", "--redeliver", "--execution", x, "--route", "crm"); !strings.Contains(out, "1 stored") {
		t.Errorf("replay to an existing route:\n%s", out)
	}
}

// TestReplayCountsWhatLeftTheStream: messages erased (or aged out) after a
// replay selected them and before it read them are not replayed, and the
// summary says so instead of counting them replayed.
func TestReplayCountsWhatLeftTheStream(t *testing.T) {
	s := newServer(t)
	s.executions(4)
	st, err := s.js.Stream(t.Context(), events.StreamEnriched)
	if err != nil {
		t.Fatal(err)
	}
	defer func(f func([]uint64)) { replaySelected = f }(replaySelected)
	replaySelected = func(seqs []uint64) {
		for _, seq := range seqs[2:] {
			if err := st.DeleteMsg(t.Context(), seq); err != nil {
				t.Error(err)
			}
		}
	}
	out := s.kycflow(0, "replay", "notify", "--redeliver")
	if n := len(s.copies(events.StreamEnriched)); n != 2 {
		t.Fatalf("copies: got %d, want 2", n)
	}
	for _, want := range []string{"replayed 2 messages of JUMIO_ENRICHED", "2 stored", "2 of the 4 selected left JUMIO_ENRICHED meanwhile"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary %q lacks %q", out, want)
		}
	}
}

// TestDeadLetterRemovedByAnotherRun: two operators re-drive, or purge, the
// same dead letters at once: the run that finds one gone already neither
// fails nor counts it as its own.
func TestDeadLetterRemovedByAnotherRun(t *testing.T) {
	defer func(d time.Duration) { routeReadWait = d }(routeReadWait)
	routeReadWait = 500 * time.Millisecond
	s := newServer(t)
	s.consumer("live", true)
	s.deadLetter("live", "11111111-1111-4111-8111-111111111111")
	st, err := s.js.Stream(t.Context(), events.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := deleteDeadLetter(t.Context(), st, 1)
	if err != nil || !deleted {
		t.Fatalf("first delete: %v, %v", deleted, err)
	}
	// JetStream answers the second deletion with an error of its own.
	if err := st.DeleteMsg(t.Context(), 1); err == nil {
		t.Fatal("a second deletion succeeded")
	}
	deleted, err = deleteDeadLetter(t.Context(), st, 1)
	if err != nil || deleted {
		t.Fatalf("second delete: got %v, %v; want not deleted, no error", deleted, err)
	}

	// Another run (beside this one, or one that stopped) stored the copy
	// and did not delete the dead letter: this run deletes it and says
	// the copy was stored already, not counting it as its own.
	s.deadLetter("live", "33333333-3333-4333-8333-333333333333")
	dls, err := dlqSelection{scan: scan{stream: events.StreamDLQ}}.find(t.Context(), s.js)
	if err != nil || len(dls) != 1 {
		t.Fatalf("find: %d dead letters, %v", len(dls), err)
	}
	if dup, err := republishDeadLetter(t.Context(), s.js, dls[0]); dup || err != nil {
		t.Fatalf("the other run's copy: dup %v, %v", dup, err)
	}
	var o, e strings.Builder
	if code := Main(t.Context(), []string{"dlq", "redrive", "--route", "live"}, s.env, nil, &o, &e); code != 0 {
		t.Fatalf("dlq redrive: exit %d: %s", code, e.String())
	}
	if !strings.Contains(o.String(), "0 dead letters re-driven, 1 stored already and deleted") {
		t.Errorf("dlq redrive after another run stored the copy:\n%s", o.String())
	}
	if n := s.deadLetters(); n != 0 {
		t.Errorf("%d dead letters left", n)
	}

	// The whole commands, racing: whichever stores a dead letter's copy
	// counts it; the other run says another did.
	for _, cmd := range [][]string{{"dlq", "redrive", "--route", "live"}, {"dlq", "purge", "--yes"}} {
		s.deadLetter("live", "22222222-2222-4222-8222-222222222222")
		outs := make(chan string, 2)
		codes := make(chan int, 2)
		for range 2 {
			go func() {
				var o, e strings.Builder
				codes <- Main(t.Context(), cmd, s.env, nil, &o, &e)
				outs <- o.String() + e.String()
			}()
		}
		a, b := <-outs, <-outs
		if ca, cb := <-codes, <-codes; ca != 0 || cb != 0 {
			t.Errorf("%s: exit codes %d and %d, want 0:\n%s\n%s", strings.Join(cmd, " "), ca, cb, a, b)
		}
		own := strings.Count(a+b, "1 dead letter re-driven") + strings.Count(a+b, "1 dead letter deleted")
		if own > 1 {
			t.Errorf("%s: both runs count the one dead letter:\n%s\n%s", strings.Join(cmd, " "), a, b)
		}
		if s.deadLetters() != 0 {
			t.Errorf("%s: %d dead letters left", strings.Join(cmd, " "), s.deadLetters())
		}
	}
}
