package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/pkg/events"
)

// streamsJSON runs "kycflow streams --json" and returns the reports by
// stream name.
func (s *server) streamsJSON(code int) map[string]streamReport {
	s.t.Helper()
	out, _ := s.run(code, "streams", "--json")
	var reports []streamReport
	if err := json.Unmarshal([]byte(out), &reports); err != nil {
		s.t.Fatalf("streams --json: %v\n%s", err, out)
	}
	byName := map[string]streamReport{}
	for _, r := range reports {
		byName[r.Name] = r
	}
	return byName
}

// streamLine returns the line of the human output that shows stream.
func streamLine(t *testing.T, out, stream string) string {
	t.Helper()
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, stream+" ") {
			return strings.TrimSpace(line)
		}
	}
	t.Fatalf("no line for %s in:\n%s", stream, out)
	return ""
}

// TestStreamsMatchingConfiguration: streams as the services create them
// exit 0, with their counts and their consumers' lag; the key-value
// buckets a stage has not created yet are shown missing without failing.
func TestStreamsMatchingConfiguration(t *testing.T) {
	s := newServer(t)
	s.enriched("11111111-1111-4111-8111-111111111111", events.StatusProcessed, events.DecisionPassed, nil)
	s.enriched("22222222-2222-4222-8222-222222222222", events.StatusProcessed, events.DecisionRejected, nil)
	s.consumer("crm", false)

	out, errOut := s.run(0, "streams")
	if errOut != "" {
		t.Errorf("stderr: %q", errOut)
	}
	for _, name := range broker.StreamNames {
		if line := streamLine(t, out, name); !strings.HasSuffix(line, "as configured") {
			t.Errorf("%s: got %q, want it as configured", name, line)
		}
	}
	for _, name := range kvStreams() {
		if line := streamLine(t, out, name); !strings.HasSuffix(line, "missing") {
			t.Errorf("%s: got %q, want it missing", name, line)
		}
	}
	if !strings.Contains(out, "consumer notifier-crm") || !strings.Contains(out, "pending 2") {
		t.Errorf("the consumer's lag is not shown:\n%s", out)
	}

	reports := s.streamsJSON(0)
	got := reports[events.StreamEnriched]
	want := streamReport{Name: events.StreamEnriched, Messages: 2, Consumers: []consumerReport{{Name: "notifier-crm", Durable: true, Pending: 2}},
		PersonalData: true, PersonalDataHeld: streamPersonalData[events.StreamEnriched], Encrypted: "unknown"}
	if diff := cmp.Diff(want, got, cmp.FilterPath(func(p cmp.Path) bool {
		switch p.Last().String() {
		case ".Bytes", ".First", ".Last":
			return true
		}
		return false
	}, cmp.Ignore()), cmpopts.IgnoreUnexported(consumerReport{})); diff != "" {
		t.Errorf("JUMIO_ENRICHED (-want +got):\n%s", diff)
	}
	if got.Bytes == 0 || got.First.IsZero() || got.Last.Before(got.First) {
		t.Errorf("JUMIO_ENRICHED: bytes %d, first %v, last %v", got.Bytes, got.First, got.Last)
	}
	for _, name := range broker.StreamNames {
		if r := reports[name]; r.Missing || len(r.Drift) > 0 {
			t.Errorf("%s: missing %v, drift %q", name, r.Missing, r.Drift)
		}
	}
}

// TestStreamsDrift: a stream configured otherwise than the KYCFLOW_STREAM_*
// variables of this environment say is named with what differs, in the
// human output and in --json, and the command exits 1 with one line.
func TestStreamsDrift(t *testing.T) {
	s := newServer(t) // streams created with the defaults
	for _, tc := range []struct {
		name string
		vars map[string]string
		want map[string][]string // stream → drift
	}{
		{
			name: "one stream's max age",
			vars: map[string]string{"KYCFLOW_STREAM_CALLBACKS_MAX_AGE": "1h"},
			want: map[string][]string{events.StreamCallbacks: {"max age 30d (want 1h0m0s)"}},
		},
		{
			name: "every stream's storage and duplicate window",
			vars: map[string]string{"KYCFLOW_STREAM_STORAGE": "memory", "KYCFLOW_STREAM_DUPLICATE_WINDOW": "2m"},
			want: map[string][]string{
				events.StreamCallbacks:  {"storage File (want Memory)", "duplicate window 1d (want 2m0s)"},
				events.StreamEnriched:   {"storage File (want Memory)", "duplicate window 1d (want 2m0s)"},
				events.StreamResults:    {"storage File (want Memory)", "duplicate window 1d (want 2m0s)"},
				events.StreamDLQ:        {"storage File (want Memory)", "duplicate window 1d (want 2m0s)"},
				events.StreamExecutions: {"storage File (want Memory)", "duplicate window 1d (want 2m0s)"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.vars {
				s.vars[k] = v
			}
			defer func() {
				for k := range tc.vars {
					delete(s.vars, k)
				}
			}()
			out, errOut := s.run(1, "streams")
			for _, name := range broker.StreamNames {
				line := streamLine(t, out, name)
				want := "as configured"
				if d := tc.want[name]; d != nil {
					want = "DIFFERS: " + strings.Join(d, "; ")
				}
				if !strings.HasSuffix(line, want) {
					t.Errorf("%s: got %q, want it to end with %q", name, line, want)
				}
				if _, drifted := tc.want[name]; drifted != strings.Contains(errOut, name) {
					t.Errorf("stderr %q: names %s %v, want %v", errOut, name, !drifted, drifted)
				}
			}
			oneErrorLine(t, errOut)

			got := map[string][]string{}
			for name, r := range s.streamsJSON(1) {
				if r.Drift != nil {
					got[name] = r.Drift
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("--json drift (-want +got):\n%s", diff)
			}
		})
	}
	// The same streams, read with the defaults again: nothing differs.
	s.run(0, "streams")
}

// TestStreamsMissing: a deleted stream is reported missing and the
// command exits 1 naming it.
func TestStreamsMissing(t *testing.T) {
	s := newServer(t)
	if err := s.js.DeleteStream(t.Context(), events.StreamDLQ); err != nil {
		t.Fatal(err)
	}
	out, errOut := s.run(1, "streams")
	if line := streamLine(t, out, events.StreamDLQ); !strings.HasSuffix(line, "missing") {
		t.Errorf("%s: got %q, want it missing", events.StreamDLQ, line)
	}
	if !strings.Contains(errOut, events.StreamDLQ) || strings.Contains(errOut, events.StreamCallbacks) {
		t.Errorf("stderr: got %q, want it to name %s only", errOut, events.StreamDLQ)
	}
	oneErrorLine(t, errOut)
	reports := s.streamsJSON(1)
	var missing []string
	for name, r := range reports {
		if r.Missing {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	want := append(append([]string{events.StreamDLQ}, otherStreams...), kvStreams()...)
	slices.Sort(want)
	if diff := cmp.Diff(want, missing); diff != "" {
		t.Errorf("missing (-want +got):\n%s", diff)
	}
}

// oneErrorLine fails unless stderr is one "kycflow: …" line.
func oneErrorLine(t *testing.T, stderr string) {
	t.Helper()
	if strings.Count(strings.TrimRight(stderr, "\n"), "\n") != 0 || !strings.HasPrefix(stderr, "kycflow: ") {
		t.Errorf("stderr is not one line: %q", stderr)
	}
}

// TestStreamsOrphansAndFinishedEphemerals: a notifier consumer of a route
// that is gone is flagged with the command that removes it (from the
// routes file when KYCFLOW_NOTIFIER_ROUTES_FILE is set, else because no
// notifier reads it while another route is read, and holds nothing: a
// route whose deliveries all wait on a slow endpoint pulls nothing
// meanwhile, and is flagged without the removal); an ephemeral consumer
// with nothing left to deliver is not listed, one with a backlog is.
func TestStreamsOrphansAndFinishedEphemerals(t *testing.T) {
	s := newServer(t)
	s.enriched("11111111-1111-4111-8111-111111111111", events.StatusProcessed, events.DecisionPassed, nil)
	s.consumer("live", true)
	s.consumer("gone", false)
	for _, tc := range []struct {
		name    string
		pending uint64 // of the ephemeral consumer
	}{{"finished", 0}, {"backlog", 1}} {
		cfg := jetstream.ConsumerConfig{Name: "tail-" + tc.name, AckPolicy: jetstream.AckNonePolicy, InactiveThreshold: time.Hour}
		if tc.pending == 0 {
			cfg.DeliverPolicy = jetstream.DeliverNewPolicy
		}
		if _, err := s.js.CreateOrUpdateConsumer(t.Context(), events.StreamEnriched, cfg); err != nil {
			t.Fatal(err)
		}
	}
	// A live route whose every delivery slot waits on a hanging endpoint:
	// it took the message and pulls nothing more until it answers.
	s.consumer("hanging", false)
	held, err := s.js.Consumer(t.Context(), events.StreamEnriched, notifier.DurablePrefix+"hanging")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := held.Fetch(1, jetstream.FetchMaxWait(5*time.Second)); err != nil {
		t.Fatal(err)
	} else {
		for range b.Messages() {
		}
	}
	removal := "nats consumer rm JUMIO_ENRICHED notifier-gone -f"

	out, _ := s.run(0, "streams")
	if !strings.Contains(out, "NOT READ NOW: no pull waiting, 1 held unacknowledged") || strings.Contains(out, "notifier-hanging -f") {
		t.Errorf("the route held on a slow endpoint is not told apart from a removed one:\n%s", out)
	}
	if !strings.Contains(out, "consumer notifier-gone") || !strings.Contains(out, "ORPHANED: no notifier reads it") || !strings.Contains(out, removal) {
		t.Errorf("the unread route's consumer is not flagged with its removal:\n%s", out)
	}
	if strings.Count(out, "ORPHANED") != 1 {
		t.Errorf("want only notifier-gone flagged:\n%s", out)
	}
	if strings.Contains(out, "tail-finished") || !strings.Contains(out, "ephemeral tail-backlog") || !strings.Contains(out, "(1 ephemeral consumer with nothing left to deliver not shown") {
		t.Errorf("want the finished ephemeral consumer hidden and counted, the other shown:\n%s", out)
	}

	routes := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(routes, []byte("routes:\n  - name: live\n    policy: full\n    nats: {prefix: jumio.results}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.vars["KYCFLOW_NOTIFIER_ROUTES_FILE"] = routes
	got := s.streamsJSON(0)[events.StreamEnriched].Consumers
	orphans := map[string]string{}
	for _, c := range got {
		orphans[c.Name] = c.Orphan
	}
	want := map[string]string{"notifier-live": "", "notifier-gone": "no route gone in " + routes, "notifier-hanging": "no route hanging in " + routes, "tail-finished": "", "tail-backlog": ""}
	if diff := cmp.Diff(want, orphans); diff != "" {
		t.Errorf("orphans with the routes file (-want +got):\n%s", diff)
	}
}

// TestStreamsRouteHeldUnmoved: a route's consumer holds a message and
// nothing pulls it: a route removed from the routes file while its
// notifier held it, or one disabled after a 410 Gone (its notifier keeps
// the messages until it restarts). Once nothing has moved on it for
// heldIdle (and ten ack waits) it is flagged held unmoved, with the
// removal for the first case named but not listed (without the routes
// file the two look alike); with the routes file, a route still in it is
// flagged not read, without the removal.
func TestStreamsRouteHeldUnmoved(t *testing.T) {
	defer func(d time.Duration) { heldIdle = d }(heldIdle)
	heldIdle = time.Second
	s := newServer(t)
	s.consumer("live", true)
	s.enriched("9f2c1e7a-1111-4222-8333-944455556666", events.StatusProcessed, events.DecisionPassed, nil)
	c, err := s.js.CreateOrUpdateConsumer(t.Context(), events.StreamEnriched, jetstream.ConsumerConfig{
		Durable: notifier.DurablePrefix + "held", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 100 * time.Millisecond, FilterSubject: events.SubjectEnriched + ".>"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for range b.Messages() {
	}
	removal := "nats consumer rm JUMIO_ENRICHED notifier-held -f"
	if out, _ := s.run(0, "streams"); !strings.Contains(out, "NOT READ NOW: no pull waiting, 1 held unacknowledged") || strings.Contains(out, removal) {
		t.Errorf("just taken, the held message may be a slow endpoint's: want NOT READ NOW, no removal:\n%s", out)
	}
	time.Sleep(1500 * time.Millisecond)
	out, _ := s.run(0, "streams")
	if !strings.Contains(out, "NOT READ NOW: no pull waiting, 1 message held unmoved for") || !strings.Contains(out, "a route disabled after a 410 Gone") ||
		!strings.Contains(out, "whose consumer then goes with "+removal) || strings.Contains(out, "ORPHANED") {
		t.Errorf("a consumer holding a message nothing moved for heldIdle: want it flagged held unmoved, the removal named, nothing listed as orphaned:\n%s", out)
	}

	s.consumer("idle", false) // a route of the file no notifier reads, holding nothing
	routes := filepath.Join(t.TempDir(), "routes.yaml")
	if err := os.WriteFile(routes, []byte("routes:\n  - name: live\n    policy: full\n    nats: {prefix: jumio.results}\n  - name: idle\n    policy: full\n    nats: {prefix: jumio.results}\n  - name: held\n    policy: full\n    nats: {prefix: jumio.results}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.vars["KYCFLOW_NOTIFIER_ROUTES_FILE"] = routes
	out, _ = s.run(0, "streams")
	if !strings.Contains(out, "NOT READ NOW: no pull waiting, 1 message held unmoved") || strings.Contains(out, removal) {
		t.Errorf("with the routes file, a route of the file held unmoved: want NOT READ NOW without the removal:\n%s", out)
	}
	if !strings.Contains(out, "NOT READ NOW: no notifier reads it (a route disabled after a 410 Gone") || strings.Contains(out, "ORPHANED") {
		t.Errorf("with the routes file, a route of the file no notifier reads: want NOT READ NOW, nothing orphaned:\n%s", out)
	}
}

// TestClusterLine: a stream on a cluster names its leader and each other
// replica's state, and is DEGRADED without a leader or with a replica
// behind or offline.
func TestClusterLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    clusterReport
		want string
	}{
		{"healthy", clusterReport{Leader: "n1", Replicas: []replicaReport{{Name: "n2", Current: true}, {Name: "n3", Current: true}}},
			"leader n1, replica n2 current, replica n3 current"},
		{"a replica behind", clusterReport{Leader: "n1", Replicas: []replicaReport{{Name: "n2", Current: true}, {Name: "n3", Lag: 7}}},
			"DEGRADED: leader n1, replica n2 current, replica n3 behind by 7"},
		{"a replica offline", clusterReport{Leader: "n1", Replicas: []replicaReport{{Name: "n2", Offline: true}, {Name: "n3", Current: true}}},
			"DEGRADED: leader n1, replica n2 offline, replica n3 current"},
		{"no leader", clusterReport{Replicas: []replicaReport{{Name: "n2", Current: true}, {Name: "n3", Current: true}}},
			"DEGRADED: leader none (no writes until one is elected), replica n2 current, replica n3 current"},
	} {
		if got := clusterLine(&tc.c); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestStreamsEncryption: against the embedded server of a local kycflow
// run the command reads from the run's store whether each stream is
// stored encrypted; against any other server it says unknown, as the
// server does not report it. Personal data is flagged per stream.
func TestStreamsEncryption(t *testing.T) {
	local := func(t *testing.T, opts ...brokertest.Option) *server {
		t.Helper()
		srv := brokertest.Start(t, opts...)
		_, js := srv.JetStream(t)
		dir := t.TempDir()
		if err := writeRunInfo(dir, runInfo{PID: os.Getpid(), NATSURL: srv.URL(), StoreDir: srv.StoreDir()}); err != nil {
			t.Fatal(err)
		}
		return &server{t: t, srv: srv, js: js, vars: map[string]string{"KYCFLOW_DATA_DIR": dir}}
	}
	for _, tc := range []struct {
		name string
		s    func(t *testing.T) *server
		want string
	}{
		{"local run, encrypted", func(t *testing.T) *server { return local(t, brokertest.WithStoreKey(testStoreKey)) }, "yes"},
		{"local run, not encrypted", func(t *testing.T) *server { return local(t) }, "no"},
		{"another server", newServer, "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s(t)
			reports := s.streamsJSON(0)
			for _, name := range broker.StreamNames {
				if r := reports[name]; r.Encrypted != tc.want {
					t.Errorf("%s: encrypted %q, want %q", name, r.Encrypted, tc.want)
				}
			}
			for _, name := range []string{events.StreamCallbacks, events.StreamEnriched, events.StreamResults, events.StreamDLQ} {
				if r := reports[name]; !r.PersonalData || r.PersonalDataHeld == "" {
					t.Errorf("%s: personal data %v %q, want it named", name, r.PersonalData, r.PersonalDataHeld)
				}
			}
			for _, name := range []string{events.StreamExecutions, "KV_" + enricher.StateBucket} {
				if r := reports[name]; r.PersonalData {
					t.Errorf("%s is said to hold personal data", name)
				}
			}
			out, _ := s.run(0, "streams")
			if line := strings.Join(strings.Fields(streamLine(t, out, events.StreamCallbacks)), " "); !strings.HasSuffix(line, " yes "+tc.want+" as configured") {
				t.Errorf("JUMIO_CALLBACKS line %q lacks personal data yes, encrypted %s", line, tc.want)
			}
			if note := "ENCRYPTED unknown"; strings.Contains(out, note) != (tc.want == "unknown") {
				t.Errorf("the note %q shown %v, want %v:\n%s", note, strings.Contains(out, note), tc.want == "unknown", out)
			}
		})
	}
}

// TestPersonalDataTableDocumented: the table of docs/operations.md
// ("Where it is and for how long") names every stream and bucket
// "kycflow streams" shows, and says yes exactly for those the command
// says hold personal data.
func TestPersonalDataTableDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "### Where it is and for how long")
	if start < 0 {
		t.Fatal("docs/operations.md has no section \"Where it is and for how long\"")
	}
	section := doc[start:]
	if end := strings.Index(section[4:], "\n### "); end >= 0 {
		section = section[:end+4]
	}
	for _, name := range append(append(slices.Clone(broker.StreamNames), otherStreams...), kvStreams()...) {
		var row string
		for line := range strings.Lines(section) {
			if strings.HasPrefix(line, "| `"+name+"` |") {
				row = line
			}
		}
		if row == "" {
			t.Errorf("the table lacks %s", name)
			continue
		}
		documented := strings.HasPrefix(strings.TrimSpace(strings.Split(row, "|")[2]), "yes")
		if held := streamPersonalData[name] != ""; documented != held {
			t.Errorf("%s: documented as holding personal data %v, kycflow streams says %v", name, documented, held)
		}
	}
}
