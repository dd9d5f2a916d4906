package broker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/pkg/events"
)

// setup starts a JetStream server with the four kycflow streams.
func setup(t *testing.T) (*brokertest.Server, jetstream.JetStream) {
	t.Helper()
	srv := brokertest.Start(t)
	_, js := srv.JetStream(t)
	return srv, js
}

// testSubject is a callback subject for execution exec.
func testSubject(exec string) string {
	return events.CallbackSubject(events.APIPlatform, "acct", exec)
}

// newSubscriber builds a Subscriber on JUMIO_CALLBACKS with test-friendly
// defaults (short pulls and drain, long ack wait, so that only explicit
// naks redeliver) and closes it when the test ends.
func newSubscriber(t *testing.T, js jetstream.JetStream, cfg broker.SubscriberConfig) *broker.Subscriber {
	t.Helper()
	if cfg.Stream == "" {
		cfg.Stream = events.StreamCallbacks
	}
	if cfg.Durable == "" {
		cfg.Durable = "test"
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = time.Hour
	}
	if cfg.PullExpiry == 0 {
		cfg.PullExpiry = 200 * time.Millisecond
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 2 * time.Second
	}
	sub, err := broker.NewSubscriber(cfg, js)
	if err != nil {
		t.Fatalf("NewSubscriber: %v", err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

// subscribe reads the whole stream through sub until the test ends.
func subscribe(t *testing.T, sub *broker.Subscriber) <-chan *message.Message {
	t.Helper()
	ch, err := sub.Subscribe(t.Context(), "")
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	return ch
}

func newPublisher(t *testing.T, js jetstream.JetStream, cfg broker.PublisherConfig) *broker.Publisher {
	t.Helper()
	pub, err := broker.NewPublisher(cfg, js)
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	return pub
}

// publish stores one message per id on the subject of that id.
func publish(t *testing.T, pub *broker.Publisher, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := pub.Publish(testSubject(id), message.NewMessage(id, []byte(`{"id":"`+id+`"}`))); err != nil {
			t.Fatalf("Publish %s: %v", id, err)
		}
	}
}

// eventually waits until cond holds, failing the test after a generous
// bound. It waits for a state; it asserts nothing about time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// receive returns the next message from ch, failing after a generous
// bound.
func receive(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case msg, ok := <-ch:
		if !ok {
			t.Fatal("message channel closed")
		}
		return msg
	case <-time.After(30 * time.Second):
		t.Fatal("gave up waiting for a message")
	}
	return nil
}

// lag returns the consumer's pending and ack-pending counts.
func lag(t *testing.T, js jetstream.JetStream, durable string) (uint64, uint64) {
	t.Helper()
	p, a, err := broker.ConsumerLag(t.Context(), js, events.StreamCallbacks, durable)
	if err != nil {
		t.Fatalf("ConsumerLag: %v", err)
	}
	return p, a
}

// waitSettled waits until the durable has delivered every message and
// every delivery is acked (or terminated). Look-up errors, as while the
// broker restarts, count as not yet.
func waitSettled(t *testing.T, js jetstream.JetStream, durable string) {
	t.Helper()
	eventually(t, durable+" settled", func() bool {
		p, a, err := broker.ConsumerLag(t.Context(), js, events.StreamCallbacks, durable)
		return err == nil && p == 0 && a == 0
	})
}

// metrics is a meter provider whose sums tests can read.
type metrics struct {
	*sdkmetric.MeterProvider
	reader *sdkmetric.ManualReader
}

func newMetrics() metrics {
	r := sdkmetric.NewManualReader()
	return metrics{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)), reader: r}
}

// sum adds the int64 sum data points of the named instrument whose
// attributes include want.
func (m metrics) sum(t *testing.T, name string, want map[string]string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := m.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	var total int64
	for _, sm := range rm.ScopeMetrics {
		for _, mm := range sm.Metrics {
			if mm.Name != name {
				continue
			}
			data, ok := mm.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
		points:
			for _, dp := range data.DataPoints {
				for k, v := range want {
					if got, ok := dp.Attributes.Value(attribute.Key(k)); !ok || got.AsString() != v {
						continue points
					}
				}
				total += dp.Value
			}
		}
	}
	return total
}

// recorder collects what a consumer goroutine saw.
type recorder struct {
	mu       sync.Mutex
	attempts map[string][]int
}

func newRecorder() *recorder { return &recorder{attempts: map[string][]int{}} }

func (r *recorder) record(msg *message.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts[msg.UUID] = append(r.attempts[msg.UUID], broker.Attempt(msg))
}

func (r *recorder) seen(id string) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.attempts[id]...)
}

func (r *recorder) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.attempts)
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, a := range r.attempts {
		n += len(a)
	}
	return n
}

// storedHeaders returns the headers a message was stored with, without the
// ones a direct get adds.
func storedHeaders(m *jetstream.RawStreamMsg) nats.Header {
	h := nats.Header{}
	for k, v := range m.Header {
		switch k {
		case "Nats-Stream", "Nats-Sequence", "Nats-Subject", "Nats-Time-Stamp", "Nats-Num-Pending", "Nats-Last-Sequence":
			continue
		}
		h[k] = v
	}
	return h
}
