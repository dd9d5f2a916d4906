package enricher_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// goldenDir holds the mapping's golden cases: inputs, the callbacks that
// go with them, and the normalized results they map to.
var goldenDir = filepath.Join("..", "..", "pkg", "mapping", "testdata")

// fixture is one golden case run through the whole enricher: the callback
// ingest would store, what the simulator serves for it, and the golden
// result.
type fixture struct {
	name    string
	event   events.CallbackEvent
	details []byte // Platform: the workflow details the simulator serves
	data    []byte // Netverify with confirmation: the /data document
	golden  []byte
}

// group is the enricher configuration a fixture needs: its region, and
// whether Netverify callbacks are confirmed against the retrieval API.
type group struct {
	region  wire.Region
	confirm bool
}

// receivedAt is when the mapping's golden cases say ingest received a
// callback: a second after Jumio sent it.
func receivedAt(sent time.Time) time.Time {
	if sent.IsZero() {
		return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return sent.Add(time.Second)
}

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// netverifyEvent parses a Netverify callback the way ingest does.
func netverifyEvent(t *testing.T, form string) events.CallbackEvent {
	t.Helper()
	form = strings.TrimSpace(form)
	m, err := wire.ParseNetverifyCallback(mustParseQuery(t, form))
	if err != nil {
		t.Fatalf("ParseNetverifyCallback: %v", err)
	}
	return m.Event(wire.RegionAMER, receivedAt(m.CallbackDate()), form)
}

// fixtures reads the golden cases whose input is a callback or what the
// enricher retrieves for one: Platform details (with their callback, or
// one made of the details' ids), Netverify callbacks, and Netverify /data
// documents (with their callback, or one made of the document's reference
// and status). Request mappings and the /data/verification fragment are
// not enricher inputs.
func fixtures(t *testing.T) map[group][]fixture {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(goldenDir, "*.input.*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden inputs in %s", goldenDir)
	}
	out := map[group][]fixture{}
	for _, p := range paths {
		name, kind, _ := strings.Cut(filepath.Base(p), ".input.")
		in := readGolden(t, filepath.Base(p))
		f := fixture{name: name, golden: readGolden(t, name+".golden.json")}
		g := group{region: wire.RegionAMER}
		switch kind {
		case "details.json":
			var d wire.WorkflowDetails
			if err := json.Unmarshal(in, &d); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			raw, err := os.ReadFile(filepath.Join(goldenDir, name+".callback.json"))
			if err != nil {
				sent := d.CompletedAt.Time
				if sent.IsZero() {
					sent = d.CreatedAt.Time
				}
				raw, _ = json.Marshal(map[string]any{
					"callbackSentAt":    sent.Add(500 * time.Millisecond).Format(time.RFC3339Nano),
					"workflowExecution": map[string]any{"id": d.Workflow.ID, "status": d.Workflow.Status, "definitionKey": string(d.Workflow.DefinitionKey)},
					"account":           map[string]any{"id": d.Account.ID},
				})
			}
			cb, err := wire.ParsePlatformCallback(raw)
			if err != nil {
				t.Fatalf("%s: callback: %v", name, err)
			}
			if r, ok := cb.Region(); ok {
				g.region = r
			}
			f.event = cb.Event(g.region, receivedAt(cb.CallbackSentAt.Time), raw)
			f.details = in
		case "form":
			f.event = netverifyEvent(t, string(in))
		case "data.json":
			var d wire.NetverifyData
			if err := json.Unmarshal(in, &d); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if form, err := os.ReadFile(filepath.Join(goldenDir, name+".callback.form")); err == nil {
				f.event = netverifyEvent(t, string(form))
			} else {
				f.event = netverifyEvent(t, url.Values{
					"callBackType":         {wire.CallbackTypeID},
					"jumioIdScanReference": {d.ScanReference},
					"verificationStatus":   {string(d.Document.Status)},
					"callbackDate":         {d.Timestamp.Format(time.RFC3339Nano)},
				}.Encode())
			}
			f.data = in
			g.confirm = true
		default:
			continue
		}
		out[g] = append(out[g], f)
	}
	return out
}

// TestFixturesMatchGoldens runs every callback fixture through the
// enricher (Platform ones served by the simulator with their details,
// Netverify /data ones with confirmation on) and compares each enriched
// result with the mapping's golden output. The result's Enriched time is
// the enricher's own; every other field, Received included, must match.
func TestFixturesMatchGoldens(t *testing.T) {
	groups := fixtures(t)
	keys := make([]group, 0, len(groups))
	for g := range groups {
		keys = append(keys, g)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].name() < keys[j].name() })
	total := 0
	for _, g := range keys {
		fs := groups[g]
		total += len(fs)
		t.Run(g.name(), func(t *testing.T) {
			runFixtures(t, g, fs)
		})
	}
	if total < 20 {
		t.Errorf("only %d fixtures ran", total)
	}
}

func (g group) name() string { return string(g.region) + "/confirm=" + strconv.FormatBool(g.confirm) }

func runFixtures(t *testing.T, g group, fs []fixture) {
	h := newHarness(t, jumiotest.Config{})
	for _, f := range fs {
		switch {
		case f.details != nil:
			if _, err := h.jumio.AddDetails(f.details); err != nil {
				t.Fatalf("%s: %v", f.name, err)
			}
		case f.data != nil:
			err := h.jumio.AddNetverifyScan(jumiotest.NetverifyScan{
				Kind: events.KindIDVerification, Reference: f.event.WorkflowExecutionID, Data: f.data, // the status the data's own
			})
			if err != nil {
				t.Fatalf("%s: %v", f.name, err)
			}
		}
	}
	cfg := h.config()
	cfg.Jumio.Region = g.region
	cfg.NetverifyConfirm = enricher.ConfirmOff
	if g.confirm {
		cfg.NetverifyConfirm = enricher.ConfirmOn
	}
	h.start(cfg, nil)
	for _, f := range fs {
		h.publish(f.event, nil)
	}
	l := h.settle(len(fs))
	if l.Results != int64(len(fs)) {
		t.Fatalf("ledger %+v: want %d results", l, len(fs))
	}

	byID := map[string]enrichedMsg{}
	for _, m := range h.enriched() {
		byID[m.Header.Get(events.HeaderCEID)] = m
	}
	// The simulator serves retrieval hrefs on its own URL; the fixtures
	// and goldens name Jumio's.
	jumioHost := wire.RegionHosts(wire.RegionAMER).Retrieval
	restore := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte(h.jumio.URL()), []byte(jumioHost)) }
	for _, f := range fs {
		t.Run(f.name, func(t *testing.T) {
			m, ok := byID[f.event.EventID]
			if !ok {
				t.Fatal("no enriched result")
			}
			r := m.Event.Result
			if r.Timestamps.Enriched == nil {
				t.Error("no enriched timestamp")
			}
			r.Timestamps.Enriched = nil
			got, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var gotR, wantR events.Result
			if err := json.Unmarshal(restore(got), &gotR); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(f.golden, &wantR); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantR, gotR); diff != "" {
				t.Errorf("result differs from %s.golden.json (-want +got):\n%s", f.name, diff)
			}
			switch {
			case f.details != nil:
				if m.Event.RawType != events.RawPlatformDetails || !jsonEqual(t, restore(m.Event.Raw), f.details) {
					t.Errorf("raw %s: want the details fixture", m.Event.RawType)
				}
			case f.data != nil:
				if m.Event.RawType != events.RawNetverifyData || !jsonEqual(t, restore(m.Event.Raw), f.data) {
					t.Errorf("raw %s: want the /data fixture", m.Event.RawType)
				}
			default:
				if m.Event.RawType != events.RawNetverifyCallback {
					t.Errorf("raw type %s, want %s", m.Event.RawType, events.RawNetverifyCallback)
				}
			}
		})
	}
}
