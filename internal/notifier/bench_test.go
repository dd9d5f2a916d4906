package notifier_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/internal/notifier/notifiertest"
	"github.com/kycflow/kycflow/pkg/events"
)

// BenchmarkWebhookSink measures one signed delivery to a loopback
// receiver that verifies it.
func BenchmarkWebhookSink(b *testing.B) {
	rcv := notifiertest.NewReceiver(b, notifiertest.Secret)
	rt := rcv.Route("bench", events.PolicyFull)
	sink, err := notifier.NewWebhookSink(notifier.WebhookSinkConfig{Route: rt.Name, Webhook: rt.Webhook})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	r := notifiertest.Result(1)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if err := sink.Deliver(b.Context(), notifier.Delivery{ID: fmt.Sprint("d", i), EventID: "e", Result: r}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNotifierNATSRoute measures results through one NATS route end
// to end: enriched message stored → filtered, projected, recorded →
// result stored in JUMIO_RESULTS → acked. ns/op is the publishing side;
// results/s is the whole pipeline.
func BenchmarkNotifierNATSRoute(b *testing.B) {
	h := newBenchHarness(b)
	route := natsRoute("bench", events.PolicyNoPII, "")
	route.Concurrency = 64
	h.start(route)
	n := 0
	start := time.Now()
	for b.Loop() {
		n++
		h.publish(notifiertest.Result(n))
	}
	h.waitResults(n)
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "results/s")
}
