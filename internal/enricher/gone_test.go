package enricher_test

import (
	"context"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/internal/migration"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestEnricherStopsWhenWhatItNeedsIsGone: JetStream lost a stream the
// enricher writes to or reads (its output, the initiated executions its
// reconciler reads, the migration work). It creates them at start
// only: it would retry for ever, unready, while its liveness held. Once
// one has been missing for GoneGrace, Run returns an error naming it, and
// a restart creates it again.
func TestEnricherStopsWhenWhatItNeedsIsGone(t *testing.T) {
	for _, stream := range []string{events.StreamEnriched, events.StreamExecutions, migration.StreamWork} {
		t.Run(stream, func(t *testing.T) { enricherStopsWhenGone(t, stream) })
	}
}

func enricherStopsWhenGone(t *testing.T, stream string) {
	h := newHarness(t, jumiotest.Config{})
	cfg := h.config()
	cfg.NATS.GoneGrace = time.Second
	e, err := enricher.New(cfg, h.nc, nil, h.tel)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	h.eventually("the enricher is ready", func() bool { return e.Ready(ctx) == nil })
	if err := h.js.DeleteStream(t.Context(), stream); err != nil {
		t.Fatal(err)
	}
	t.Log(brokertest.WaitGone(t, done))
}
