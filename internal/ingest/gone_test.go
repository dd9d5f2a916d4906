package ingest_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/ingest"
	"github.com/kycflow/kycflow/internal/telemetry"
	"github.com/kycflow/kycflow/pkg/events"
)

// serveIngest runs ingest on a loopback port with cfg's GoneGrace set to
// grace; done gets what Serve returns.
func serveIngest(t *testing.T, srv *brokertest.Server, grace time.Duration) (done chan error, stop func()) {
	t.Helper()
	nc, _ := srv.JetStream(t)
	tel, err := telemetry.Setup(t.Context(), telemetry.Config{ServiceName: "ingest", LogFormat: "json", LogLevel: "error"}, discard{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.NATS.GoneGrace = grace
	svc, err := ingest.New(cfg, nc, tel)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done = make(chan error, 1)
	go func() { done <- svc.Serve(ctx, ln) }()
	return done, cancel
}

// TestIngestStopsWhenItsStreamIsGone: JetStream lost JUMIO_CALLBACKS (its
// store replaced, the stream deleted by mistake). Ingest creates it at
// start only: it answered 503 for ever while its liveness held, so
// nothing restarted it. Once the stream has been missing for GoneGrace it
// stops with an error naming the stream, and a restart creates it again.
func TestIngestStopsWhenItsStreamIsGone(t *testing.T) {
	srv := brokertest.Start(t)
	done, stop := serveIngest(t, srv, time.Second)
	defer stop()
	_, js := srv.JetStream(t)
	if err := js.DeleteStream(t.Context(), events.StreamCallbacks); err != nil {
		t.Fatal(err)
	}
	t.Log(brokertest.WaitGone(t, done))
}

// TestIngestOutlivesABrokerOutage: NATS down for longer than GoneGrace is
// no reason to stop; the connection comes back.
func TestIngestOutlivesABrokerOutage(t *testing.T) {
	srv := brokertest.Start(t)
	done, stop := serveIngest(t, srv, time.Second)
	srv.Stop()
	select {
	case err := <-done:
		t.Fatalf("Serve returned while NATS was down: %v", err)
	case <-time.After(4 * time.Second):
	}
	srv.Restart()
	stop()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
