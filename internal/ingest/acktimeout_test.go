package ingest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/bench"
	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/httpserver"
	"github.com/kycflow/kycflow/internal/ingest"
	"github.com/kycflow/kycflow/pkg/events"
)

// TestPublishAckTimeout: the broker is connected but no stream takes the
// callback subjects, and a plain subscriber receives the publish without
// ever acking it, so the publish waits for an ack that does not come. The
// sender gets 503 with Retry-After and the broker-unavailable problem,
// never 200; once the stream is back the callback is not in it, and sent
// again it is stored once.
func TestPublishAckTimeout(t *testing.T) {
	srv := brokertest.Start(t)
	h := startIngest(t, srv, func(c *ingest.Config) { c.NATS.PublishTimeout = 200 * time.Millisecond })
	if err := h.js.DeleteStream(t.Context(), events.StreamCallbacks); err != nil {
		t.Fatalf("DeleteStream: %v", err)
	}
	nc := srv.Conn(t)
	silent, err := nc.SubscribeSync(events.SubjectCallbacks + ".>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	callbacks := []bench.Callback{bench.PlatformCallback(t.Name(), 1), bench.NetverifyCallback(t.Name(), 2)}
	var ids []string
	for _, cb := range callbacks {
		r := h.send(t, cb)
		if r.status != http.StatusServiceUnavailable {
			t.Fatalf("%s: status: got %d, want 503", cb.API, r.status)
		}
		if got := r.header.Get("Retry-After"); got != "2" {
			t.Errorf("%s: Retry-After: got %q, want \"2\"", cb.API, got)
		}
		if got := r.problem.Type; got != httpserver.ProblemTypeBase+ingest.ReasonBrokerUnavailable || !strings.HasSuffix(got, "broker-unavailable") {
			t.Errorf("%s: problem type: got %q, want it to end in broker-unavailable", cb.API, got)
		}
		// The publish went out and waited: the silent subscriber has it.
		msg, err := silent.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("%s: the publish did not reach the subject: %v", cb.API, err)
		}
		ids = append(ids, msg.Header.Get(events.HeaderMsgID))
	}
	if got := h.metric(t, "kycflow_ingest_callbacks_total", map[string]string{"outcome": ingest.OutcomeUnavailable}); got != float64(len(callbacks)) {
		t.Errorf("unavailable counted: got %v, want %d", got, len(callbacks))
	}

	if err := silent.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if err := broker.EnsureStreams(t.Context(), h.js, broker.DefaultStreamsConfig()); err != nil {
		t.Fatalf("EnsureStreams: %v", err)
	}
	if n := len(h.stored(t)); n != 0 {
		t.Fatalf("stored after the stream came back: got %d messages, want 0", n)
	}
	for i, cb := range callbacks {
		if r := h.send(t, cb); r.status != http.StatusOK {
			t.Fatalf("%s sent again: status: got %d (%s), want 200", cb.API, r.status, r.problem.Type)
		}
		if stored := h.storedIDs(t); !stored[ids[i]] || len(stored) != i+1 {
			t.Errorf("%s sent again: stream holds %v, want %s added once", cb.API, stored, ids[i])
		}
	}
}
