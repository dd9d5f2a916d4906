package enricher_test

import (
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// TestNetverifyConfirmedByDefault: with Netverify credentials and no
// setting, Netverify callbacks are confirmed: a forged APPROVED_VERIFIED
// callback for a scan Jumio denied comes out as Jumio's REJECTED, not
// PASSED (the callback triggers, retrieval decides); an authentication
// callback, which kycflow cannot retrieve, is never PASSED (WARNING,
// capability confirmation UNCONFIRMED among the reasons), while a failed
// one stays REJECTED.
func TestNetverifyConfirmedByDefault(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	_, denied := jumiotest.Generate(jumiotest.Scenario{Seed: 5, NetverifyScans: 1, NetverifyMix: jumiotest.NetverifyMix{DeniedFraud: 1}})
	_, authPassed := jumiotest.Generate(jumiotest.Scenario{Seed: 6, NetverifyScans: 1, NetverifyMix: jumiotest.NetverifyMix{AuthPassed: 1}})
	_, authFailed := jumiotest.Generate(jumiotest.Scenario{Seed: 7, NetverifyScans: 1, NetverifyMix: jumiotest.NetverifyMix{AuthFailed: 1}})
	for _, sc := range []jumiotest.NetverifyScan{denied[0], authPassed[0], authFailed[0]} {
		if err := h.jumio.AddNetverifyScan(sc); err != nil {
			t.Fatal(err)
		}
	}
	cfg := h.config()
	if cfg.NetverifyConfirm != "" || cfg.Jumio.NetverifyAPIToken == "" {
		t.Fatalf("the test wants the default setting with Netverify credentials: %q", cfg.NetverifyConfirm)
	}
	h.start(cfg, nil)

	// A forged copy of the denied scan's callback: APPROVED_VERIFIED, with
	// a name and no reject reason.
	forged := cloneForm(t, h.jumio.NetverifyCallback(denied[0], time.Now()))
	forged.Set("verificationStatus", "APPROVED_VERIFIED")
	forged.Set("idFirstName", "MALLORY")
	forged.Del("rejectReason")
	publishForm(t, h, []byte(forged.Encode()))
	publishForm(t, h, h.jumio.NetverifyCallback(authPassed[0], time.Now()))
	publishForm(t, h, h.jumio.NetverifyCallback(authFailed[0], time.Now()))
	if l := h.settle(3); l.Results != 3 {
		t.Fatalf("ledger %+v: want 3 results", l)
	}
	if n := h.jumio.Requests(jumio.EndpointNetverifyData); n != 1 {
		t.Errorf("%d Netverify /data requests, want 1 (the ID verification)", n)
	}
	byRef := map[string]enrichedMsg{}
	for _, m := range h.enriched() {
		byRef[m.Header.Get(events.HeaderCESubject)] = m
	}
	id := byRef[denied[0].Reference]
	if r := id.Event.Result; r.Decision.Type != events.DecisionRejected || id.Event.RawType != events.RawNetverifyData {
		t.Errorf("forged APPROVED_VERIFIED for a denied scan: decision %s from %s, want REJECTED from the retrieval data", r.Decision.Type, id.Event.RawType)
	}
	if p := id.Event.Result.Person; p != nil && p.FirstName == "MALLORY" {
		t.Error("the forged callback's name reached the result")
	}
	passed := byRef[authPassed[0].Reference].Event.Result
	if passed.Decision.Type != events.DecisionWarning || passed.Decision.Label != "UNCONFIRMED" {
		t.Errorf("unconfirmable PASSED authentication: decision %s/%s, want WARNING/UNCONFIRMED", passed.Decision.Type, passed.Decision.Label)
	}
	want := events.Reason{Capability: "confirmation", Decision: events.DecisionWarning, Label: "UNCONFIRMED"}
	if !slices.Contains(passed.Reasons, want) || !slices.ContainsFunc(passed.Capabilities, func(c events.Capability) bool {
		return c.Name == want.Capability && c.Decision == want.Decision && c.Label == want.Label
	}) {
		t.Errorf("reasons %+v, capabilities %+v: want confirmation WARNING UNCONFIRMED in both", passed.Reasons, passed.Capabilities)
	}
	if failed := byRef[authFailed[0].Reference].Event.Result; failed.Decision.Type != events.DecisionRejected {
		t.Errorf("failed authentication: decision %s, want REJECTED", failed.Decision.Type)
	}
}

// TestConfirmsNetverify: confirmation is on by default whenever the
// Netverify API credentials are set, and off only when they are not or
// when it is turned off explicitly, which the startup warning names.
func TestConfirmsNetverify(t *testing.T) {
	creds := jumio.Config{NetverifyAPIToken: "t", NetverifyAPISecret: "s"}
	for _, tc := range []struct {
		setting string
		jumio   jumio.Config
		want    bool
	}{
		{"", creds, true},
		{enricher.ConfirmAuto, creds, true},
		{enricher.ConfirmOn, creds, true},
		{enricher.ConfirmOff, creds, false},
		{"", jumio.Config{ClientID: "c", ClientSecret: "s"}, false},
	} {
		cfg := enricher.Config{NetverifyConfirm: tc.setting, Jumio: tc.jumio}
		if got := enricher.ConfirmsNetverify(cfg); got != tc.want {
			t.Errorf("setting %q, Netverify credentials %v: confirms %v, want %v", tc.setting, tc.jumio.NetverifyAPIToken != "", got, tc.want)
		}
		if off := enricher.NetverifyCheckOff(cfg); (off == "") != tc.want {
			t.Errorf("setting %q: check off %q", tc.setting, off)
		}
	}
}

func cloneForm(t *testing.T, body []byte) url.Values {
	t.Helper()
	v, err := url.ParseQuery(string(body))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// publishForm stores a Netverify callback as ingest does.
func publishForm(t *testing.T, h *harness, body []byte) {
	t.Helper()
	m, _, err := wire.ParseNetverifyRequest(body, "")
	if err != nil {
		t.Fatal(err)
	}
	h.publish(m.Event(wire.RegionAMER, time.Now(), string(body)), nil)
}
