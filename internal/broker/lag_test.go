package broker_test

import (
	"errors"
	"io"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/telemetry"
	"github.com/kycflow/kycflow/pkg/events"
)

func TestConsumerLagAndGauges(t *testing.T) {
	_, js := setup(t)
	pub := newPublisher(t, js, broker.PublisherConfig{})
	publish(t, pub, "a", "b", "c")
	sub := newSubscriber(t, js, broker.SubscriberConfig{Durable: "lag", Concurrency: 1})
	if err := sub.SubscribeInitialize(""); err != nil {
		t.Fatal(err)
	}
	if p, a := lag(t, js, "lag"); p != 3 || a != 0 {
		t.Errorf("before reading: got pending %d, ack pending %d, want 3, 0", p, a)
	}
	ch := subscribe(t, sub)
	_ = receive(t, ch) // held: one slot, so nothing else is fetched
	if p, a := lag(t, js, "lag"); p != 2 || a != 1 {
		t.Errorf("one held: got pending %d, ack pending %d, want 2, 1", p, a)
	}

	if _, _, err := broker.ConsumerLag(t.Context(), js, events.StreamCallbacks, "missing"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Errorf("missing consumer: got %v, want ErrConsumerNotFound", err)
	}

	tel, err := telemetry.Setup(t.Context(), telemetry.Config{ServiceName: "test", LogFormat: "json", LogLevel: "error"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(t.Context()) })
	reg, err := broker.RegisterConsumerLag(tel.MeterProvider, js,
		broker.ConsumerRef{Stream: events.StreamCallbacks, Durable: "lag"},
		broker.ConsumerRef{Stream: events.StreamCallbacks, Durable: "missing"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reg.Unregister() }()
	families, err := tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if consumer := label(m, "consumer"); consumer != "" && label(m, "stream") == events.StreamCallbacks {
				if got[f.GetName()] == nil {
					got[f.GetName()] = map[string]float64{}
				}
				got[f.GetName()][consumer] = m.GetGauge().GetValue()
			}
		}
	}
	want := map[string]map[string]float64{
		"kycflow_consumer_lag_messages":         {"lag": 2},
		"kycflow_consumer_ack_pending_messages": {"lag": 1},
	}
	for name, byConsumer := range want {
		for consumer, v := range byConsumer {
			if g, ok := got[name][consumer]; !ok || g != v {
				t.Errorf("%s{consumer=%q}: got %v (present %v), want %v", name, consumer, g, ok, v)
			}
		}
		if _, ok := got[name]["missing"]; ok {
			t.Errorf("%s reports a consumer that does not exist", name)
		}
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
