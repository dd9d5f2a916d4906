package broker_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/pkg/events"
)

func TestSubscriberConfigValidate(t *testing.T) {
	start := time.Now()
	tests := []struct {
		name string
		cfg  broker.SubscriberConfig
	}{
		{"no stream", broker.SubscriberConfig{Durable: "d"}},
		{"no durable", broker.SubscriberConfig{Stream: "S"}},
		{"durable with a dot", broker.SubscriberConfig{Stream: "S", Durable: "a.b"}},
		{"durable with a wildcard", broker.SubscriberConfig{Stream: "S", Durable: "a*"}},
		{"negative concurrency", broker.SubscriberConfig{Stream: "S", Durable: "d", Concurrency: -1}},
		{"max ack pending below concurrency", broker.SubscriberConfig{Stream: "S", Durable: "d", Concurrency: 10, MaxAckPending: 5}},
		{"in-progress interval not below ack wait", broker.SubscriberConfig{Stream: "S", Durable: "d", AckWait: time.Second, InProgressInterval: time.Second}},
		{"max deliver below -1", broker.SubscriberConfig{Stream: "S", Durable: "d", MaxDeliver: -2}},
		{"start sequence missing", broker.SubscriberConfig{Stream: "S", Durable: "d", DeliverPolicy: jetstream.DeliverByStartSequencePolicy}},
		{"start time missing", broker.SubscriberConfig{Stream: "S", Durable: "d", DeliverPolicy: jetstream.DeliverByStartTimePolicy}},
		{"empty filter", broker.SubscriberConfig{Stream: "S", Durable: "d", FilterSubjects: []string{""}}},
		{"pull expiry too short", broker.SubscriberConfig{Stream: "S", Durable: "d", PullExpiry: time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := broker.NewSubscriber(tt.cfg, nil)
			if !errors.Is(err, broker.ErrInvalidConfig) {
				t.Errorf("got %v, want ErrInvalidConfig", err)
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		_, js := setup(t)
		for _, cfg := range []broker.SubscriberConfig{
			{Stream: "S", Durable: "d"},
			{Stream: "S", Durable: "d", DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start},
			{Stream: "S", Durable: "d", MaxDeliver: 5, MaxAckPending: -1},
		} {
			if _, err := broker.NewSubscriber(cfg, js); err != nil {
				t.Errorf("NewSubscriber(%+v): %v", cfg, err)
			}
		}
	})
}

func TestSubscriberDeliversHeadersAndDeliveryFacts(t *testing.T) {
	_, js := setup(t)
	// A message from a publisher other than ours: no Nats-Msg-Id, and a
	// header that tries to set a reserved key.
	raw := nats.NewMsg(testSubject("raw"))
	raw.Data = []byte("raw")
	raw.Header.Set("ce-id", "evt-raw")
	raw.Header.Set(broker.MetadataRetryDelay, "1h")
	if _, err := js.PublishMsg(t.Context(), raw); err != nil {
		t.Fatal(err)
	}
	pub := newPublisher(t, js, broker.PublisherConfig{})
	in := message.NewMessage("evt-1", []byte(`{"a":1}`))
	in.Metadata.Set(events.HeaderCEID, "evt-1")
	in.Metadata.Set(events.HeaderCEType, events.TypeCallback)
	in.Metadata.Set("X-Mixed-Case", "kept as is")
	if err := pub.Publish(testSubject("exec-1"), in); err != nil {
		t.Fatal(err)
	}

	ms := newMetrics()
	sub := newSubscriber(t, js, broker.SubscriberConfig{Durable: "facts", MeterProvider: ms})
	ch := subscribe(t, sub)
	first, second := receive(t, ch), receive(t, ch)
	if first.UUID != "JUMIO_CALLBACKS:1" {
		first, second = second, first
	}

	if got, want := first.UUID, "JUMIO_CALLBACKS:1"; got != want {
		t.Errorf("UUID without Nats-Msg-Id: got %q, want %q", got, want)
	}
	if got := broker.RetryDelay(first); got != 0 {
		t.Errorf("a header set a reserved key: retry delay %v", got)
	}
	if got, want := broker.Headers(first), (nats.Header{"ce-id": {"evt-raw"}}); !cmp.Equal(got, want) {
		t.Errorf("headers of the raw message (-got +want):\n%s", cmp.Diff(got, want))
	}

	if got, want := second.UUID, "evt-1"; got != want {
		t.Errorf("UUID: got %q, want %q", got, want)
	}
	wantHeaders := nats.Header{
		"ce-id":        {"evt-1"},
		"ce-type":      {events.TypeCallback},
		"X-Mixed-Case": {"kept as is"},
		"Nats-Msg-Id":  {"evt-1"},
	}
	if diff := cmp.Diff(wantHeaders, broker.Headers(second)); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	if got, want := string(second.Payload), `{"a":1}`; got != want {
		t.Errorf("payload: got %s, want %s", got, want)
	}
	type facts struct {
		Stream, Consumer, Subject string
		Seq                       uint64
		Attempt                   int
		HasTime                   bool
	}
	got := facts{broker.Stream(second), broker.Consumer(second), broker.Subject(second), broker.StreamSeq(second), broker.Attempt(second), !broker.Timestamp(second).IsZero()}
	want := facts{events.StreamCallbacks, "facts", testSubject("exec-1"), 2, 1, true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delivery facts (-want +got):\n%s", diff)
	}

	first.Ack()
	second.Ack()
	eventually(t, "both acks confirmed", func() bool {
		return ms.sum(t, "kycflow_broker_settled_messages", map[string]string{"outcome": "ack"}) == 2
	})
	if p, a := lag(t, js, "facts"); p != 0 || a != 0 {
		t.Errorf("lag after acks: got pending %d, ack pending %d, want 0, 0", p, a)
	}
	select {
	case <-second.Context().Done():
	default:
		t.Error("message context not cancelled after its ack")
	}
}

// TestSubscriberDelayedRedelivery: a message nacked with a long delay is
// not redelivered while others keep flowing, one with a short delay comes
// back as attempt 2, and a plain nack redelivers at once. The ack wait is
// an hour, so only the naks redeliver.
func TestSubscriberDelayedRedelivery(t *testing.T) {
	_, js := setup(t)
	pub := newPublisher(t, js, broker.PublisherConfig{})
	ms := newMetrics()
	sub := newSubscriber(t, js, broker.SubscriberConfig{Durable: "delay", Concurrency: 4, MeterProvider: ms})
	ch := subscribe(t, sub)
	rec := newRecorder()
	go func() {
		for msg := range ch {
			rec.record(msg)
			switch {
			case msg.UUID == "long":
				broker.Redeliver(msg, time.Hour)
			case msg.UUID == "short" && broker.Attempt(msg) == 1:
				broker.SetRetryDelay(msg, 20*time.Millisecond)
				msg.Nack()
			case msg.UUID == "plain" && broker.Attempt(msg) == 1:
				msg.Nack()
			case msg.UUID == "term":
				broker.Terminate(msg)
			default:
				msg.Ack()
			}
		}
	}()

	publish(t, pub, "long", "short", "plain", "term")
	var others []string
	for i := range 20 {
		others = append(others, "other-"+strconv.Itoa(i))
	}
	publish(t, pub, others...)

	eventually(t, "every other message acked", func() bool {
		return ms.sum(t, "kycflow_broker_settled_messages", map[string]string{"outcome": "ack"}) == int64(len(others))+2
	})
	for _, id := range others {
		if got := rec.seen(id); !cmp.Equal(got, []int{1}) {
			t.Errorf("%s: attempts %v, want [1]", id, got)
		}
	}
	for id, want := range map[string][]int{"short": {1, 2}, "plain": {1, 2}, "long": {1}, "term": {1}} {
		if got := rec.seen(id); !cmp.Equal(got, want) {
			t.Errorf("%s: attempts %v, want %v", id, got, want)
		}
	}
	// Only the long-delayed message is still pending; the terminated one
	// is not.
	if p, a := lag(t, js, "delay"); p != 0 || a != 1 {
		t.Errorf("lag: got pending %d, ack pending %d, want 0, 1", p, a)
	}
	for outcome, want := range map[string]int64{"nak_delay": 2, "nak": 1, "term": 1} {
		if got := ms.sum(t, "kycflow_broker_settled_messages", map[string]string{"outcome": outcome}); got != want {
			t.Errorf("outcome %s: got %d, want %d", outcome, got, want)
		}
	}
}

// TestSubscriberStuckMessageDoesNotBlockOthers: with two slots, one message
// held by its handler leaves the other slot to everything else, and never
// more than two messages are in flight.
func TestSubscriberStuckMessageDoesNotBlockOthers(t *testing.T) {
	_, js := setup(t)
	pub := newPublisher(t, js, broker.PublisherConfig{})
	ms := newMetrics()
	sub := newSubscriber(t, js, broker.SubscriberConfig{Durable: "stuck", Concurrency: 2, MeterProvider: ms})
	ch := subscribe(t, sub)
	publish(t, pub, "stuck")
	var others []string
	for i := range 30 {
		others = append(others, "other-"+strconv.Itoa(i))
	}
	publish(t, pub, others...)

	var stuck *message.Message
	inFlight, maxInFlight := 0, 0
	for handled := 0; handled < len(others); {
		msg := receive(t, ch)
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		if msg.UUID == "stuck" {
			stuck = msg
			continue
		}
		// The in-flight count drops when the subscriber has settled the
		// message; waiting for that keeps the count honest.
		acks := ms.sum(t, "kycflow_broker_settled_messages", map[string]string{"outcome": "ack"})
		msg.Ack()
		eventually(t, "ack confirmed", func() bool {
			return ms.sum(t, "kycflow_broker_settled_messages", map[string]string{"outcome": "ack"}) == acks+1
		})
		inFlight--
		handled++
	}
	if stuck == nil {
		t.Fatal("the stuck message never arrived")
	}
	if maxInFlight > 2 {
		t.Errorf("in flight at once: got %d, want at most 2", maxInFlight)
	}
	stuck.Ack()
	waitSettled(t, js, "stuck")
}

// TestSubscriberKeepsLongHandlerAlive: a handler that holds a message for
// several ack waits does not get it redelivered, thanks to InProgress.
func TestSubscriberKeepsLongHandlerAlive(t *testing.T) {
	if testing.Short() {
		t.Skip("holds a message for four seconds")
	}
	_, js := setup(t)
	pub := newPublisher(t, js, broker.PublisherConfig{})
	sub := newSubscriber(t, js, broker.SubscriberConfig{
		Durable: "long", Concurrency: 2, AckWait: 2 * time.Second, InProgressInterval: 100 * time.Millisecond,
	})
	ch := subscribe(t, sub)
	publish(t, pub, "slow")
	msg := receive(t, ch)
	time.Sleep(4 * time.Second) // two ack waits: the work, not a measurement
	select {
	case again := <-ch:
		t.Fatalf("redelivered while being handled: %s attempt %d", again.UUID, broker.Attempt(again))
	default:
	}
	msg.Ack()
	waitSettled(t, js, "long")
	c, err := js.Consumer(t.Context(), events.StreamCallbacks, "long")
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumRedelivered != 0 {
		t.Errorf("redelivered: got %d, want 0", info.NumRedelivered)
	}
}

// TestSubscriberCloseReleasesInFlight: Close releases what handlers still
// hold after the drain time (their contexts are cancelled), acks nothing
// unhandled, and a new subscriber on the durable gets every unacked
// message, the released ones at once.
func TestSubscriberCloseReleasesInFlight(t *testing.T) {
	_, js := setup(t)
	pub := newPublisher(t, js, broker.PublisherConfig{})
	ids := []string{"m0", "m1", "m2", "m3", "m4", "m5"}
	publish(t, pub, ids...)

	ms := newMetrics()
	sub1 := newSubscriber(t, js, broker.SubscriberConfig{Durable: "close", Concurrency: 3, DrainTimeout: 300 * time.Millisecond, MeterProvider: ms})
	ch1 := subscribe(t, sub1)
	acked := receive(t, ch1)
	acked.Ack()
	var held []*message.Message
	for len(held) < 3 {
		held = append(held, receive(t, ch1))
	}
	if err := sub1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sub1.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, open := <-ch1; open {
		t.Error("message channel still open after Close")
	}
	for _, msg := range held {
		select {
		case <-msg.Context().Done():
		default:
			t.Errorf("%s: context of a released message not cancelled", msg.UUID)
		}
	}
	if got := ms.sum(t, "kycflow_broker_settled_messages", map[string]string{"outcome": "release"}); got != 3 {
		t.Errorf("released: got %d, want 3", got)
	}
	// Acking after the release changes nothing.
	held[0].Ack()

	sub2 := newSubscriber(t, js, broker.SubscriberConfig{Durable: "close", Concurrency: 3})
	ch2 := subscribe(t, sub2)
	got := map[string]int{}
	for range len(ids) - 1 {
		msg := receive(t, ch2)
		got[msg.UUID] = broker.Attempt(msg)
		msg.Ack()
	}
	want := map[string]int{}
	for _, id := range ids {
		if id != acked.UUID {
			want[id] = 1
		}
	}
	for _, msg := range held {
		want[msg.UUID] = 2
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("redelivered to the next subscriber, id → attempt (-want +got):\n%s", diff)
	}
	waitSettled(t, js, "close")
}

// TestSubscriberCloseLetsHandlersFinish: a message acked during the drain
// is acked, not released.
func TestSubscriberCloseLetsHandlersFinish(t *testing.T) {
	_, js := setup(t)
	pub := newPublisher(t, js, broker.PublisherConfig{})
	publish(t, pub, "finishing")
	ms := newMetrics()
	sub := newSubscriber(t, js, broker.SubscriberConfig{Durable: "finish", DrainTimeout: time.Minute, MeterProvider: ms})
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := sub.Subscribe(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	msg := receive(t, ch)
	cancel()
	closed := make(chan struct{})
	go func() {
		_ = sub.Close()
		close(closed)
	}()
	msg.Ack()
	<-closed
	if got := ms.sum(t, "kycflow_broker_settled_messages", map[string]string{"outcome": "ack"}); got != 1 {
		t.Errorf("acked: got %d, want 1", got)
	}
	if p, a := lag(t, js, "finish"); p != 0 || a != 0 {
		t.Errorf("lag: got pending %d, ack pending %d, want 0, 0", p, a)
	}
}

// TestSubscriberSurvivesBrokerRestart: a broker restart in the middle of
// the flow loses nothing: every message is handled and acked.
func TestSubscriberSurvivesBrokerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts the broker")
	}
	srv, js := setup(t)
	pub := newPublisher(t, js, broker.PublisherConfig{})
	ms := newMetrics()
	sub := newSubscriber(t, js, broker.SubscriberConfig{
		Durable: "restart", Concurrency: 4, AckWait: 2 * time.Second, AckTimeout: 500 * time.Millisecond, MeterProvider: ms,
	})
	ch := subscribe(t, sub)
	rec := newRecorder()
	go func() {
		for msg := range ch {
			go func() {
				rec.record(msg)
				time.Sleep(10 * time.Millisecond) // the work, so that messages are in flight at the restart
				msg.Ack()
			}()
		}
	}()
	var ids []string
	for i := range 60 {
		ids = append(ids, fmt.Sprintf("r%02d", i))
	}
	publish(t, pub, ids[:40]...)
	eventually(t, "some handled", func() bool { return rec.distinct() >= 10 })
	srv.Restart()
	for _, id := range ids[40:] {
		eventually(t, "publish after restart", func() bool {
			return pub.Publish(testSubject(id), message.NewMessage(id, []byte("{}"))) == nil
		})
	}
	eventually(t, "every message handled", func() bool { return rec.distinct() == len(ids) })
	waitSettled(t, js, "restart")
	t.Logf("%d deliveries for %d messages, %d acks failed", rec.total(), len(ids),
		ms.sum(t, "kycflow_broker_settled_messages", map[string]string{"outcome": "ack_failed"}))
}

// TestSubscriberAckFailureRedelivers: an ack the connection cannot send
// (broker down between handling and ack, no reconnect buffer) is counted,
// and the message comes back once the broker is up again.
func TestSubscriberAckFailureRedelivers(t *testing.T) {
	if testing.Short() {
		t.Skip("stops the broker")
	}
	srv, js := setup(t)
	pub := newPublisher(t, js, broker.PublisherConfig{})
	publish(t, pub, "lost-ack")
	// Without a reconnect buffer the ack is lost for good; with one (the
	// default) nats.go may still deliver it after the restart, and the
	// message then counts as acked, which is as good but not this test.
	nc, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.ReconnectBufSize(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	subJS, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ms := newMetrics()
	sub := newSubscriber(t, subJS, broker.SubscriberConfig{
		Durable: "lostack", AckWait: 2 * time.Second, AckTimeout: 300 * time.Millisecond, MeterProvider: ms,
	})
	ch := subscribe(t, sub)
	first := receive(t, ch)
	srv.Stop()
	// Acks are not awaited: one written before the client notices the
	// broker is gone is lost without an error (and redelivered all the
	// same); one after is refused by the connection.
	eventually(t, "disconnected", func() bool { return nc.Status() != nats.CONNECTED })
	first.Ack()
	eventually(t, "ack failure counted", func() bool {
		return ms.sum(t, "kycflow_broker_settled_messages", map[string]string{"outcome": "ack_failed"}) == 1
	})
	srv.Restart()
	again := receive(t, ch)
	if again.UUID != first.UUID {
		t.Fatalf("redelivered: got %s, want %s", again.UUID, first.UUID)
	}
	t.Logf("redelivered as attempt %d", broker.Attempt(again))
	again.Ack()
	waitSettled(t, js, "lostack")
}

func TestSubscribeTopicConflictAndClosed(t *testing.T) {
	_, js := setup(t)
	sub := newSubscriber(t, js, broker.SubscriberConfig{Durable: "topics"})
	if _, err := sub.Subscribe(t.Context(), events.SubjectCallbacks+".platform.>"); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Subscribe(t.Context(), events.SubjectCallbacks+".netverify.>"); !errors.Is(err, broker.ErrTopicConflict) {
		t.Errorf("other topic on the same durable: got %v, want ErrTopicConflict", err)
	}
	if _, err := sub.Subscribe(t.Context(), events.SubjectCallbacks+".platform.>"); err != nil {
		t.Errorf("same topic again: %v", err)
	}
	fixed := newSubscriber(t, js, broker.SubscriberConfig{Durable: "fixed", FilterSubjects: []string{"jumio.callbacks.platform.>"}})
	if _, err := fixed.Subscribe(t.Context(), "jumio.callbacks.>"); !errors.Is(err, broker.ErrTopicConflict) {
		t.Errorf("topic other than FilterSubjects: got %v, want ErrTopicConflict", err)
	}
	if _, err := fixed.Subscribe(t.Context(), ""); err != nil {
		t.Errorf("empty topic with FilterSubjects: %v", err)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Subscribe(t.Context(), events.SubjectCallbacks+".platform.>"); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("Subscribe after Close: got %v, want ErrClosed", err)
	}
}

// TestSubscriberFilterAndStartPosition: the topic filters the stream, a
// new durable starts where DeliverPolicy says, and a later Subscriber
// with another start policy keeps the existing durable's position.
func TestSubscriberFilterAndStartPosition(t *testing.T) {
	_, js := setup(t)
	pub := newPublisher(t, js, broker.PublisherConfig{})
	publish(t, pub, "before")

	first := newSubscriber(t, js, broker.SubscriberConfig{Durable: "fromnew", DeliverPolicy: jetstream.DeliverNewPolicy})
	if err := first.SubscribeInitialize(events.SubjectCallbacks + ".platform.>"); err != nil {
		t.Fatal(err)
	}
	publish(t, pub, "after")
	netverify := message.NewMessage("nv", []byte("{}"))
	if err := pub.Publish(events.CallbackSubject(events.APINetverify, "", "nv"), netverify); err != nil {
		t.Fatal(err)
	}

	later := newSubscriber(t, js, broker.SubscriberConfig{Durable: "fromnew"})
	ch, err := later.Subscribe(t.Context(), events.SubjectCallbacks+".platform.>")
	if err != nil {
		t.Fatalf("Subscribe with another start policy on an existing durable: %v", err)
	}
	msg := receive(t, ch)
	if msg.UUID != "after" {
		t.Errorf("first message: got %s, want after", msg.UUID)
	}
	msg.Ack()
	waitSettled(t, js, "fromnew")
}

// TestSubscriberRecreatesDeletedConsumer: a durable deleted under a running
// subscriber is created again, and (as renaming would) starts over.
func TestSubscriberRecreatesDeletedConsumer(t *testing.T) {
	_, js := setup(t)
	pub := newPublisher(t, js, broker.PublisherConfig{})
	sub := newSubscriber(t, js, broker.SubscriberConfig{Durable: "deleted"})
	ch := subscribe(t, sub)
	publish(t, pub, "a")
	receive(t, ch).Ack()
	waitSettled(t, js, "deleted")
	if err := js.DeleteConsumer(t.Context(), events.StreamCallbacks, "deleted"); err != nil {
		t.Fatal(err)
	}
	publish(t, pub, "b")
	got := map[string]bool{}
	for len(got) < 2 {
		msg := receive(t, ch)
		got[msg.UUID] = true
		msg.Ack()
	}
	if diff := cmp.Diff(map[string]bool{"a": true, "b": true}, got); diff != "" {
		t.Errorf("after re-creation (-want +got):\n%s", diff)
	}
}
