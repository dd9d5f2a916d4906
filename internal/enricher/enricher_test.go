package enricher_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"

	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
	"github.com/kycflow/kycflow/pkg/mapping"
)

// TestEnrichPlatform: a stored Platform callback becomes one enriched
// message on jumio.enriched.<account>.<execution>, with the CloudEvents
// headers, the same event id as its ce-id and Nats-Msg-Id, the mapped
// result and the details as Jumio sent them.
func TestEnrichPlatform(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	x := h.executions(1, 7)[0]
	ev := h.platformEvent(x, time.Now().Add(-time.Minute))
	h.start(h.config(), nil)
	h.publish(ev, nil)
	h.settle(1)

	msgs := h.enriched()
	if len(msgs) != 1 {
		t.Fatalf("%d enriched messages, want 1", len(msgs))
	}
	m := msgs[0]
	if want := events.EnrichedSubject(x.AccountID, x.ID); m.Subject != want {
		t.Errorf("subject %q, want %q", m.Subject, want)
	}
	wantHeaders := map[string]string{
		events.HeaderCESpecVersion: events.CESpecVersion,
		events.HeaderCEID:          ev.EventID,
		events.HeaderCEType:        events.TypeEnriched,
		events.HeaderCESource:      events.SourceEnricher,
		events.HeaderCESubject:     x.ID,
		events.HeaderContentType:   events.ContentTypeJSON,
		events.HeaderEventID:       ev.EventID,
		nats.MsgIdHdr:              ev.EventID,
		events.HeaderReplay:        "",
	}
	for k, want := range wantHeaders {
		if got := m.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, m.Header.Get(events.HeaderCETime)); err != nil {
		t.Errorf("ce-time %q: %v", m.Header.Get(events.HeaderCETime), err)
	}

	// The simulator serves hrefs on its own URL: fetch what it serves.
	client, err := jumio.NewClient(h.jumioConfig())
	if err != nil {
		t.Fatal(err)
	}
	d, raw, err := client.WorkflowDetails(t.Context(), x.AccountID, x.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := mapping.FromPlatform(ev, d, nil)
	got := m.Event.Result
	if got.Timestamps.Enriched == nil || got.Timestamps.Enriched.Before(ev.ReceivedAt) {
		t.Errorf("enriched timestamp %v, want one after the callback was received", got.Timestamps.Enriched)
	}
	got.Timestamps.Enriched = nil
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if m.Event.RawType != events.RawPlatformDetails || m.Event.SchemaVersion != events.ResultSchemaVersion {
		t.Errorf("rawType %q, schemaVersion %d", m.Event.RawType, m.Event.SchemaVersion)
	}
	if !jsonEqual(t, m.Event.Raw, raw) {
		t.Errorf("raw document differs from the details the simulator served")
	}
	if n := h.counter(enricher.MetricFetches, attribute.String("endpoint", string(jumio.EndpointWorkflowDetails)), attribute.String("outcome", "ok")); n != 1 {
		t.Errorf("%s{ok} = %d, want 1", enricher.MetricFetches, n)
	}
}

// TestEnrichNetverify: with confirmation turned off, a Netverify callback
// is mapped from its own fields without a call to Jumio, and the raw
// document is the callback's fields as a JSON object.
func TestEnrichNetverify(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	_, scans := jumiotest.Generate(jumiotest.Scenario{Seed: 3, NetverifyScans: 3})
	cfg := h.config()
	cfg.NetverifyConfirm = enricher.ConfirmOff
	h.start(cfg, nil)
	var evs []events.CallbackEvent
	for _, sc := range scans {
		body := h.jumio.NetverifyCallback(sc, time.Now())
		values := mustParseQuery(t, string(body))
		m, err := wire.ParseNetverifyCallback(values)
		if err != nil {
			t.Fatal(err)
		}
		ev := m.Event(wire.RegionAMER, time.Now(), string(body))
		h.publish(ev, nil)
		evs = append(evs, ev)
	}
	h.settle(len(evs))
	if n := h.jumio.Requests(jumio.EndpointNetverifyData) + h.jumio.Requests(jumio.EndpointNetverifyScan); n != 0 {
		t.Errorf("%d Netverify retrieval requests, want none", n)
	}
	byID := map[string]enrichedMsg{}
	for _, m := range h.enriched() {
		byID[m.Header.Get(events.HeaderCEID)] = m
	}
	for _, ev := range evs {
		m, ok := byID[ev.EventID]
		if !ok {
			t.Fatalf("no enriched result for %s", ev.EventID)
		}
		if m.Subject != events.EnrichedSubject("", ev.WorkflowExecutionID) || m.Event.RawType != events.RawNetverifyCallback {
			t.Errorf("subject %q rawType %q", m.Subject, m.Event.RawType)
		}
		var fields map[string]any
		if err := json.Unmarshal(m.Event.Raw, &fields); err != nil {
			t.Fatalf("raw is not a JSON object: %v", err)
		}
		values := mustParseQuery(t, ev.Form)
		for k := range values {
			if fields[k] != values.Get(k) {
				t.Errorf("raw field %s = %v, want the callback's value", k, fields[k])
			}
		}
		parsed, _ := wire.ParseNetverifyCallback(values)
		want := mapping.FromNetverify(ev, parsed, nil)
		got := m.Event.Result
		got.Timestamps.Enriched = nil
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("result (-want +got):\n%s", diff)
		}
	}
}

// TestProductsFromConfig: KYCFLOW_PRODUCTS names the product of a
// workflow definition key.
func TestProductsFromConfig(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	x := h.executions(1, 11)[0]
	cfg := h.config()
	cfg.Products = x.DefinitionKey + "=Onboarding Gold"
	h.start(cfg, nil)
	h.publish(h.platformEvent(x, time.Now()), nil)
	h.settle(1)
	if got := h.enriched()[0].Event.Result.Source.Product; got != "Onboarding Gold" {
		t.Errorf("product %q, want the configured one", got)
	}
}

func mustParseQuery(t *testing.T, s string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(bytes.TrimSpace(b), &y); err != nil {
		t.Fatal(err)
	}
	return cmp.Equal(x, y)
}
