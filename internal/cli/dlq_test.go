package cli

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/migration"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/pkg/events"
)

// deadLetter stores a notifier dead letter of route for execution exec.
func (s *server) deadLetter(route, exec string) {
	s.t.Helper()
	m := s.enriched(exec, events.StatusProcessed, events.DecisionPassed, nil)
	err := broker.PublishDeadLetter(s.t.Context(), s.js, broker.DeadLetter{
		Stage: events.StageNotify, Route: route, AccountID: "4a1b2c3d-5e6f-4711-8899-aabbccddeeff", ExecutionID: exec,
		EventID: "ev-" + exec, Payload: m.Data, Headers: m.Header, Err: errors.New("permanent delivery failure: status 400"),
		Class: "permanent", Attempts: 1, OriginalSubject: m.Subject, OriginalStream: events.StreamEnriched, OriginalSeq: 1,
	})
	if err != nil {
		s.t.Fatal(err)
	}
}

// consumer creates route's durable consumer; with read, something reads
// it until the test ends, as a running notifier does.
func (s *server) consumer(route string, read bool) {
	s.t.Helper()
	c, err := s.js.CreateOrUpdateConsumer(s.t.Context(), events.StreamEnriched, jetstream.ConsumerConfig{
		Durable: notifier.DurablePrefix + route, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: events.SubjectEnriched + ".>"})
	if err != nil {
		s.t.Fatal(err)
	}
	if read {
		cc, err := c.Consume(func(m jetstream.Msg) { _ = m.Ack() }, jetstream.PullExpiry(time.Second))
		if err != nil {
			s.t.Fatal(err)
		}
		s.t.Cleanup(cc.Stop)
	}
}

// TestRedriveRefusesAnUnreadRoute: a notifier dead letter is re-driven
// only to a route whose consumer exists and is read; otherwise the
// redrive refuses with one line and keeps every dead letter.
func TestRedriveRefusesAnUnreadRoute(t *testing.T) {
	defer func(d time.Duration) { routeReadWait = d }(routeReadWait)
	routeReadWait = 500 * time.Millisecond
	s := newServer(t)
	s.consumer("live", true)
	s.consumer("idle", false)
	s.deadLetter("live", "11111111-1111-4111-8111-111111111111")
	s.deadLetter("idle", "22222222-2222-4222-8222-222222222222")
	s.deadLetter("gone", "33333333-3333-4333-8333-333333333333")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"dlq", "redrive", "--route", "gone"}, "has no consumer notifier-gone"},
		{[]string{"dlq", "redrive", "--route", "idle"}, "nothing read consumer notifier-idle"},
		{[]string{"dlq", "redrive"}, "route gone not re-driven"},
		{[]string{"dlq", "redrive", "--route", "gone", "--dry-run"}, "has no consumer"},
	} {
		out := s.kycflow(1, tc.args...)
		if !strings.Contains(out, tc.want) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("%s: got %q, want one line with %q", strings.Join(tc.args, " "), out, tc.want)
		}
	}
	if out := s.kycflow(0, "dlq", "list"); !strings.Contains(out, "3 dead letters") {
		t.Errorf("dead letters after the refusals:\n%s", out)
	}
	// One dead letter by its sequence, as an argument or with --seq.
	for _, args := range [][]string{{"dlq", "show", "2"}, {"dlq", "show", "--seq", "2"}} {
		if out := s.kycflow(0, args...); !strings.Contains(out, "dead letter 2 on") || strings.Contains(out, "dead letter 1 on") {
			t.Errorf("%s:\n%s", strings.Join(args, " "), out)
		}
	}
	s.kycflow(2, "dlq", "show", "9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f")
	// A sequence that holds no dead letter is an error, not "no dead
	// letters" and success.
	if out := s.kycflow(1, "dlq", "show", "99999"); !strings.Contains(out, "no dead letter at sequence 99999") {
		t.Errorf("dlq show 99999: %q", out)
	}
	if out := s.kycflow(0, "dlq", "redrive", "--route", "live"); !strings.Contains(out, "1 dead letter re-driven") {
		t.Errorf("redrive to a read route: %s", out)
	}
	if out := s.kycflow(0, "dlq", "list"); !strings.Contains(out, "2 dead letters") {
		t.Errorf("dead letters after the redrive:\n%s", out)
	}
}

// TestRedriveRefusesADeadLetterWithoutPayload: a notifier dead letter that
// kept no payload (its route's policy keeps nothing of a message it cannot
// project) is not re-driven, nor is any other: the refusal names the
// replay that re-feeds the original, and every dead letter stays.
func TestRedriveRefusesADeadLetterWithoutPayload(t *testing.T) {
	defer func(d time.Duration) { routeReadWait = d }(routeReadWait)
	routeReadWait = 500 * time.Millisecond
	s := newServer(t)
	s.consumer("live", true)
	s.deadLetter("live", "11111111-1111-4111-8111-111111111111")
	exec := "22222222-2222-4222-8222-222222222222"
	err := broker.PublishDeadLetter(s.t.Context(), s.js, broker.DeadLetter{
		Stage: events.StageNotify, Route: "live", AccountID: "4a1b2c3d-5e6f-4711-8899-aabbccddeeff", ExecutionID: exec,
		EventID: "ev-" + exec, Err: notifier.ErrMalformed, Class: notifier.ClassMalformed, Attempts: 1,
		OriginalSubject: events.EnrichedSubject("4a1b2c3d-5e6f-4711-8899-aabbccddeeff", exec), OriginalStream: events.StreamEnriched, OriginalSeq: 7,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := s.kycflow(1, "dlq", "redrive", "--route", "live")
	if want := "kycflow replay notify --from-seq 7 --to-seq 7 --redeliver --route live"; !strings.Contains(out, want) {
		t.Errorf("got %q, want a refusal naming %q", out, want)
	}
	if out := s.kycflow(0, "dlq", "list"); !strings.Contains(out, "2 dead letters") {
		t.Errorf("dead letters after the refusal:\n%s", out)
	}
}

// TestRedriveMarker: two notifier dead letters of one result for one route
// (the result's and a replay copy's) are one redrive, so that the route's
// record delivers it once; dead letters of other routes or events, and
// the enricher's, are redriven each under its own.
func TestRedriveMarker(t *testing.T) {
	dl := func(stage, route, event, msgID string, seq uint64) deadLetter {
		return deadLetter{Seq: seq, Stage: stage, Route: route, header: nats.Header{events.HeaderEventID: {event}, events.HeaderMsgID: {msgID}}}
	}
	a := redriveMarker(dl("notify", "crm", "ev1", "m1", 1))
	b := redriveMarker(dl("notify", "crm", "ev1", "m1-replay-copy", 7))
	if a.ID != b.ID || !a.Redeliver || !slices.Equal(a.Routes, []string{"crm"}) {
		t.Errorf("one result's dead letters for one route: %v and %v, want one redeliver marker for crm", a, b)
	}
	for _, other := range []deadLetter{dl("notify", "bus", "ev1", "m1", 1), dl("notify", "crm", "ev2", "m2", 2)} {
		if m := redriveMarker(other); m.ID == a.ID {
			t.Errorf("%s/%s redriven under the same marker as crm/ev1", other.Route, other.header.Get(events.HeaderEventID))
		}
	}
	e1, e2 := redriveMarker(dl("enrich", "", "ev1", "m1", 1)), redriveMarker(dl("enrich", "", "ev1", "m1-copy", 2))
	if e1.ID == e2.ID || e1.Redeliver {
		t.Errorf("enricher dead letters: %v and %v, want distinct markers without redeliver", e1, e2)
	}
}

// TestDLQListWorkStage: the dead letters of migration batches (stage
// work), which dlq list shows, are selected with --stage work too.
func TestDLQListWorkStage(t *testing.T) {
	s := newServer(t)
	s.deadLetter("crm", "11111111-1111-4111-8111-111111111111")
	err := broker.PublishDeadLetter(t.Context(), s.js, broker.DeadLetter{
		Stage: events.StageWork, ExecutionID: "batch-1", EventID: "work-batch-1", Payload: []byte(`{}`),
		Err: errors.New("jumio: migration.create: 403 Forbidden"), Class: "permanent", Attempts: 1,
		OriginalSubject: migration.SubjectWork + ".migrate.batch-1", OriginalStream: migration.StreamWork, OriginalSeq: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if out := s.kycflow(0, "dlq", "list", "--stage", "work"); !strings.Contains(out, "1 dead letter") || strings.Contains(out, "notify") {
		t.Errorf("dlq list --stage work:\n%s", out)
	}
}

// TestRedriveInterruptedCountsWhatItDid: Ctrl-C while a redrive runs,
// between the first dead letter's copy and its deletion. That dead letter
// is finished (its copy stored, the dead letter deleted), the rest are
// kept, and the counts it prints are what the server holds: one
// re-driven, two dead letters left.
func TestRedriveInterruptedCountsWhatItDid(t *testing.T) {
	s := newServer(t)
	s.consumer("live", true)
	for _, x := range []string{"11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"} {
		s.deadLetter("live", x)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	defer func(f func()) { afterRepublish = f }(afterRepublish)
	afterRepublish = cancel
	var out, errOut bytes.Buffer
	if code := Main(ctx, []string{"dlq", "redrive", "--route", "live"}, s.env, nil, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out.String(), errOut.String())
	}
	left := len(brokertest.Messages(t, s.js, events.StreamDLQ))
	if left != 2 || !strings.Contains(errOut.String(), "interrupted; 1 of 3 re-driven, the rest kept") {
		t.Errorf("%d dead letters left, stdout %q, stderr %q: want 2 left and 1 of 3 re-driven", left, out.String(), errOut.String())
	}
}
