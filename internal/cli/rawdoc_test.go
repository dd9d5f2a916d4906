package cli

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestEnrichedWithoutRawDocument: with KYCFLOW_ENRICHER_KEEP_RAW=false
// JUMIO_ENRICHED holds the results without the raw Jumio document, and
// "kycflow replay enrich" fetches the document from Jumio again.
func TestEnrichedWithoutRawDocument(t *testing.T) {
	sim, ids := piiSim(t)
	p := startPipelineWith(t, sim, map[string]string{"KYCFLOW_ENRICHER_KEEP_RAW": "false"})
	sent, err := sim.SendCallbacks(t.Context(), jumiotest.CallbackOptions{URL: p.ingest + "/callbacks/platform", SkipNetverify: true, IDs: ids[:1]})
	if err != nil || len(sent) != 1 || sent[0].Status != 200 {
		t.Fatalf("callback: %+v, %v", sent, err)
	}
	p.eventually("the result", func() bool { return len(p.results()) == 1 })
	checkNoRaw := func(want int) {
		t.Helper()
		msgs := brokertest.Messages(t, p.js, events.StreamEnriched)
		if len(msgs) != want {
			t.Fatalf("JUMIO_ENRICHED holds %d messages, want %d", len(msgs), want)
		}
		for _, m := range msgs {
			var ev events.EnrichedEvent
			if err := json.Unmarshal(m.Data, &ev); err != nil {
				t.Fatal(err)
			}
			if len(ev.Raw) > 0 || ev.RawType != events.RawPlatformDetails || ev.Result.Person == nil {
				t.Errorf("enriched event %d: raw document %d bytes, type %q, person %v; want none, %q, the person",
					m.Sequence, len(ev.Raw), ev.RawType, ev.Result.Person != nil, events.RawPlatformDetails)
			}
			if bytes.Contains(m.Data, []byte(`"raw":`)) {
				t.Errorf("enriched event %d holds a raw field", m.Sequence)
			}
		}
	}
	checkNoRaw(1)

	fetched := sim.Requests(jumio.EndpointWorkflowDetails)
	p.kycflow(t.Context(), 0, "replay", "enrich", "--execution", ids[0])
	p.eventually("the details fetched from Jumio again", func() bool { return sim.Requests(jumio.EndpointWorkflowDetails) > fetched })
	p.eventually("the result enriched again", func() bool { return len(brokertest.Messages(t, p.js, events.StreamEnriched)) == 2 })
	checkNoRaw(2)
}
