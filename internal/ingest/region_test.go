package ingest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/kycflow/kycflow/internal/ingest"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// TestRegionMismatchStored: a Platform callback whose href names another
// region than the configured one is stored all the same, with the region
// it names (the enricher dead-letters it with wire.ErrRegionMismatch
// until the configuration is fixed), answered 200, counted and logged as
// a warning that names both regions.
func TestRegionMismatchStored(t *testing.T) {
	emea := fixtureBody(t, "platform/callback-session-expired.json") // hrefs name emea-1
	// The execution's href names the configured region, the account's
	// another: the other one is reported.
	mixed := strings.Replace(string(fixtureBody(t, "platform/callback-processed.json")),
		"https://retrieval.amer-1.jumio.ai/api/v1/accounts/4a1b2c3d-5e6f-4711-8899-aabbccddeeff\"",
		"https://retrieval.apac-1.jumio.ai/api/v1/accounts/4a1b2c3d-5e6f-4711-8899-aabbccddeeff\"", 1)
	if !strings.Contains(mixed, "apac-1") {
		t.Fatal("the fixture changed: no href replaced")
	}
	for _, tc := range []struct {
		name string
		body []byte
		want wire.Region
	}{
		{"both hrefs", emea, wire.RegionEMEA},
		{"account href", []byte(mixed), wire.RegionAPAC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startIngest(t, nil, func(c *ingest.Config) { c.Region = string(wire.RegionAMER) })
			if r := h.post(t, "/callbacks/platform", "application/json", tc.body, nil); r.status != http.StatusOK {
				t.Fatalf("status: got %d (%s), want 200", r.status, r.problem.Type)
			}
			msgs := h.stored(t)
			if len(msgs) != 1 {
				t.Fatalf("stored: got %d, want 1", len(msgs))
			}
			var ev events.CallbackEvent
			if err := json.Unmarshal(msgs[0].Data, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Region != string(tc.want) {
				t.Errorf("stored region: got %q, want %q", ev.Region, tc.want)
			}
			if got := h.metric(t, "kycflow_ingest_region_mismatches_total", map[string]string{"api": "platform"}); got != 1 {
				t.Errorf("kycflow_ingest_region_mismatches_total: got %v, want 1", got)
			}
			var warned bool
			for line := range strings.Lines(h.logs.String()) {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["msg"] != "callback names another region" {
					continue
				}
				warned = true
				if rec["level"] != "WARN" || rec["region"] != string(tc.want) || rec["configured_region"] != string(wire.RegionAMER) || rec["event_id"] != ev.EventID {
					t.Errorf("warning: got %v", rec)
				}
			}
			if !warned {
				t.Errorf("no warning logged")
			}
		})
	}
	t.Run("same region", func(t *testing.T) {
		h := startIngest(t, nil, func(c *ingest.Config) { c.Region = string(wire.RegionEMEA) })
		if r := h.post(t, "/callbacks/platform", "application/json", emea, nil); r.status != http.StatusOK {
			t.Fatalf("status: got %d, want 200", r.status)
		}
		if got := h.metric(t, "kycflow_ingest_region_mismatches_total", nil); got != 0 {
			t.Errorf("kycflow_ingest_region_mismatches_total: got %v, want 0", got)
		}
	})
}
