package broker_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/pkg/events"
)

func TestPublishDeadLetter(t *testing.T) {
	_, js := setup(t)
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	dl := broker.DeadLetter{
		Stage:       events.StageNotify,
		Route:       "crm",
		AccountID:   "acct-1",
		ExecutionID: "exec-1",
		EventID:     "evt-1",
		Payload:     []byte(`{"original":true}`),
		Headers: nats.Header{
			"ce-id":                  {"evt-1"},
			"traceparent":            {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
			"Nats-Msg-Id":            {"evt-1"},
			"Nats-Expected-Stream":   {"JUMIO_ENRICHED"},
			broker.MetadataAttempt:   {"7"},
			broker.MetadataStreamSeq: {"42"},
		},
		Err:             errors.New("webhook: 400 bad request\r\nfrom receiver"),
		Class:           "permanent",
		Attempts:        7,
		OriginalSubject: events.EnrichedSubject("acct-1", "exec-1"),
		OriginalStream:  events.StreamEnriched,
		OriginalSeq:     42,
		At:              at,
	}
	if err := broker.PublishDeadLetter(t.Context(), js, dl); err != nil {
		t.Fatalf("PublishDeadLetter: %v", err)
	}
	again := dl
	again.At = at.Add(time.Hour)
	again.Attempts = 8
	if err := broker.PublishDeadLetter(t.Context(), js, again); err != nil {
		t.Fatalf("PublishDeadLetter again: %v", err)
	}

	stored := brokertest.Messages(t, js, events.StreamDLQ)
	if len(stored) != 1 {
		t.Fatalf("dead letters stored: got %d, want 1", len(stored))
	}
	got := stored[0]
	if want := events.DLQSubject(events.StageNotify, "crm", "acct-1", "exec-1"); got.Subject != want {
		t.Errorf("subject: got %s, want %s", got.Subject, want)
	}
	if want := `{"original":true}`; string(got.Data) != want {
		t.Errorf("payload: got %s, want %s", got.Data, want)
	}
	want := nats.Header{
		"ce-id":                       {"evt-1"},
		"traceparent":                 {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		events.HeaderEventID:          {"evt-1"},
		events.HeaderError:            {"webhook: 400 bad request  from receiver"},
		events.HeaderErrorClass:       {"permanent"},
		events.HeaderStage:            {"notify"},
		events.HeaderRoute:            {"crm"},
		events.HeaderAttempts:         {"7"},
		events.HeaderOriginalSubject:  {"jumio.enriched.acct-1.exec-1"},
		events.HeaderOriginalStream:   {events.StreamEnriched},
		events.HeaderOriginalSequence: {"42"},
		events.HeaderDeadLetteredAt:   {"2026-03-04T05:06:07Z"},
		events.HeaderMsgID:            {events.DerivedID("evt-1", "dlq", "notify", "crm")},
	}
	if diff := cmp.Diff(want, storedHeaders(got)); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}

func TestPublishDeadLetterIDAndLimits(t *testing.T) {
	_, js := setup(t)
	bySeq := broker.DeadLetter{Stage: events.StageEnrich, OriginalStream: events.StreamCallbacks, OriginalSeq: 9, Err: errors.New(strings.Repeat("é", broker.MaxErrorHeaderLen))}
	if err := broker.PublishDeadLetter(t.Context(), js, bySeq); err != nil {
		t.Fatalf("PublishDeadLetter: %v", err)
	}
	if err := broker.PublishDeadLetter(t.Context(), js, bySeq); err != nil {
		t.Fatalf("PublishDeadLetter again: %v", err)
	}
	stored := brokertest.Messages(t, js, events.StreamDLQ)
	if len(stored) != 1 {
		t.Fatalf("dead letters stored: got %d, want 1", len(stored))
	}
	if got, want := stored[0].Subject, "jumio.dlq.enrich.legacy._"; got != want {
		t.Errorf("subject: got %s, want %s", got, want)
	}
	if got := stored[0].Header.Get(events.HeaderError); len(got) > broker.MaxErrorHeaderLen || !strings.HasPrefix(got, "éé") || strings.ContainsRune(got, '\uFFFD') {
		t.Errorf("error header not cut cleanly: %d bytes", len(got))
	}
	if got, want := stored[0].Header.Get(events.HeaderMsgID), bySeq.ID(); got != want {
		t.Errorf("Nats-Msg-Id: got %s, want %s", got, want)
	}

	for name, dl := range map[string]broker.DeadLetter{
		"no stage":               {EventID: "e"},
		"no id and no sequence":  {Stage: events.StageEnrich},
		"stream without its seq": {Stage: events.StageEnrich, OriginalStream: events.StreamCallbacks},
	} {
		if err := broker.PublishDeadLetter(t.Context(), js, dl); !errors.Is(err, broker.ErrInvalidDeadLetter) {
			t.Errorf("%s: got %v, want ErrInvalidDeadLetter", name, err)
		}
	}
}

// TestDeadLetterAfterRedrive: a message re-fed with a replay marker (by
// "kycflow dlq redrive") that fails again is stored as a new dead letter,
// although the redrive deleted the first one within the duplicate window;
// the same re-fed message failing twice is still stored once.
func TestDeadLetterAfterRedrive(t *testing.T) {
	_, js := setup(t)
	for _, tc := range []struct {
		name string
		dl   broker.DeadLetter
	}{
		{"by event id", broker.DeadLetter{Stage: events.StageNotify, Route: "crm", AccountID: "a", ExecutionID: "e", EventID: "evt-1"}},
		{"by stream sequence", broker.DeadLetter{Stage: events.StageEnrich, AccountID: "a", ExecutionID: "e2", OriginalStream: events.StreamCallbacks, OriginalSeq: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := tc.dl
			first.Headers = nats.Header{"ce-id": {"evt-1"}}
			if err := broker.PublishDeadLetter(t.Context(), js, first); err != nil {
				t.Fatal(err)
			}
			st, err := js.Stream(t.Context(), events.StreamDLQ)
			if err != nil {
				t.Fatal(err)
			}
			m, err := st.GetLastMsgForSubject(t.Context(), first.Subject())
			if err != nil {
				t.Fatal(err)
			}
			if err := st.DeleteMsg(t.Context(), m.Sequence); err != nil {
				t.Fatal(err)
			}

			again := tc.dl
			again.Headers = nats.Header{"ce-id": {"evt-1"}, events.HeaderReplay: {events.ReplayMarker{ID: "r1", Redeliver: true}.String()}}
			if again.ID() == first.ID() {
				t.Fatalf("a redriven dead letter has the id of the original")
			}
			for range 2 {
				if err := broker.PublishDeadLetter(t.Context(), js, again); err != nil {
					t.Fatal(err)
				}
			}
			info, err := st.Info(t.Context(), jetstream.WithSubjectFilter(first.Subject()))
			if err != nil {
				t.Fatal(err)
			}
			if got := info.State.Subjects[first.Subject()]; got != 1 {
				t.Errorf("dead letters after the redrive failed again: got %d, want 1", got)
			}
			other := tc.dl
			other.Headers = nats.Header{events.HeaderReplay: {"id=r2"}}
			if other.ID() == again.ID() {
				t.Errorf("two replays give one dead letter id")
			}
		})
	}
}

// TestDeadLetterOfDeletedIDStoredAgain: a dead letter whose id JetStream
// still remembers from one a re-drive (or purge) deleted is stored all the
// same, each time, however often the same failure comes back; while one
// of the id is stored, another is a repeat and is not.
func TestDeadLetterOfDeletedIDStoredAgain(t *testing.T) {
	_, js := setup(t)
	// A redrive marks every copy of one result for one route alike, so
	// each failure of a copy has the same dead letter id.
	dl := broker.DeadLetter{Stage: events.StageNotify, Route: "crm", AccountID: "a", ExecutionID: "e", EventID: "evt-1",
		Headers: nats.Header{events.HeaderReplay: {events.ReplayMarker{ID: "redrive1", Redeliver: true}.String()}}}
	st, err := js.Stream(t.Context(), events.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	stored := func() uint64 {
		info, err := st.Info(t.Context(), jetstream.WithSubjectFilter(dl.Subject()))
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Subjects[dl.Subject()]
	}
	for round := range 3 {
		for range 2 { // a failure dead-lettered twice (redelivered before its ack) is one
			if err := broker.PublishDeadLetter(t.Context(), js, dl); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if got := stored(); got != 1 {
			t.Fatalf("round %d: dead letters stored: got %d, want 1", round, got)
		}
		m, err := st.GetLastMsgForSubject(t.Context(), dl.Subject())
		if err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteMsg(t.Context(), m.Sequence); err != nil { // the redrive
			t.Fatal(err)
		}
	}
}

// TestDeadLetterOfEachRedriveCopy: the redrives of one result to one
// route share a replay id, and a redrive stores its copy before it
// deletes the dead letter it re-drives. A copy that failed in between was
// a duplicate of that dead letter, still stored, and the deletion then
// left nothing. Each copy (Kycflow-Refed, its own stream position) has a
// dead letter of its own; the same copy failing twice has one.
func TestDeadLetterOfEachRedriveCopy(t *testing.T) {
	_, js := setup(t)
	marker := events.ReplayMarker{ID: "redrive1", Redeliver: true, Redrive: true}
	copyOf := func(seq uint64) broker.DeadLetter {
		return broker.DeadLetter{Stage: events.StageNotify, Route: "crm", AccountID: "a", ExecutionID: "e", EventID: "evt-1",
			Headers:        nats.Header{events.HeaderReplay: {marker.String()}, events.HeaderRefed: {marker.ID}},
			OriginalStream: events.StreamEnriched, OriginalSeq: seq}
	}
	first, second := copyOf(10), copyOf(11)
	if first.ID() == second.ID() {
		t.Fatal("two redrive copies have one dead letter id")
	}
	for _, dl := range []broker.DeadLetter{first, second, second} {
		if err := broker.PublishDeadLetter(t.Context(), js, dl); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(brokertest.Messages(t, js, events.StreamDLQ)); n != 2 {
		t.Errorf("dead letters: got %d, want 2 (one per copy)", n)
	}
}
