package notifier_test

import (
	"context"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/pkg/events"
)

// TestNotifierStopsWhenWhatItNeedsIsGone: JetStream lost a stream or the
// delivery bucket (its store replaced, deleted by mistake). The notifier
// creates them at start only: it stayed unready for ever while its
// liveness held, so nothing restarted it. Once one has been missing for
// GoneGrace, Run returns an error naming it, and a restart creates it
// again.
func TestNotifierStopsWhenWhatItNeedsIsGone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		remove func(h *harness) error
	}{
		{"delivery bucket", func(h *harness) error { return h.js.DeleteKeyValue(h.t.Context(), notifier.DeliveriesBucket) }},
		{"results stream", func(h *harness) error { return h.js.DeleteStream(h.t.Context(), events.StreamResults) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			cfg := testConfig()
			cfg.NATS.GoneGrace = time.Second
			n, err := notifier.New(cfg, []notifier.Route{natsRoute("bus", events.PolicyFull, "")}, h.js, h.tel)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- n.Run(ctx) }()
			waitFor(t, "notifier ready", func() bool { return n.Ready(ctx) == nil })
			if err := tc.remove(h); err != nil {
				t.Fatal(err)
			}
			t.Log(brokertest.WaitGone(t, done))
		})
	}
}
