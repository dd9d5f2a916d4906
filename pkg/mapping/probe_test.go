package mapping

import (
	"encoding/json"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// The probes map one input, given as JSON or form fields, through the real
// code, with a fixed callback event.

// probeEventID is the event id of every probe's callback event.
var probeEventID = strings.Repeat("c0", 32)

var probeReceived = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)

// setPath sets a dotted path in a JSON object; "x[]" is the first element
// of array x (made when missing).
func setPath(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	cur := m
	for i, p := range parts {
		last := i == len(parts)-1
		if name, ok := strings.CutSuffix(p, "[]"); ok {
			arr, _ := cur[name].([]any)
			if len(arr) == 0 {
				arr = []any{map[string]any{}}
				cur[name] = arr
			}
			if last {
				arr[0] = v
				return
			}
			next, ok := arr[0].(map[string]any)
			if !ok {
				next = map[string]any{}
				arr[0] = next
			}
			cur = next
			continue
		}
		if last {
			cur[p] = v
			return
		}
		next, ok := cur[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[p] = next
		}
		cur = next
	}
}

func loadJSON(t testing.TB, name string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(readFile(t, filepath.Join("testdata", name)), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func loadForm(t testing.TB, name string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(strings.TrimSpace(string(readFile(t, filepath.Join("testdata", name)))))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// probePlatform maps details given as JSON with a callback event of the
// given status that names no ids (the details' are used).
func probePlatform(details map[string]any, status string) (events.Result, error) {
	b, _ := json.Marshal(details)
	return platformRaw(b, status)
}

// platformRaw maps workflow details given as raw JSON (duplicate keys
// cannot be written through a map).
func platformRaw(raw []byte, status string) (events.Result, error) {
	var d wire.WorkflowDetails
	if err := json.Unmarshal(raw, &d); err != nil {
		return events.Result{}, err
	}
	ev := events.CallbackEvent{SchemaVersion: 1, EventID: probeEventID, API: events.APIPlatform, Kind: events.KindWorkflow,
		Region: "amer-1", Status: status, ReceivedAt: probeReceived}
	return FromPlatform(ev, &d, nil), nil
}

// probeNetverify parses and maps a Netverify callback as ingest and the
// enricher do.
func probeNetverify(values url.Values) (events.Result, error) {
	m, err := wire.ParseNetverifyCallback(values)
	if err != nil {
		return events.Result{}, err
	}
	return FromNetverify(m.Event(wire.RegionAMER, probeReceived, values.Encode()), m, nil), nil
}

// probeData maps a Netverify retrieval /data response given as JSON.
func probeData(data map[string]any) (events.Result, error) {
	b, _ := json.Marshal(data)
	var d wire.NetverifyData
	if err := json.Unmarshal(b, &d); err != nil {
		return events.Result{}, err
	}
	ev := events.CallbackEvent{SchemaVersion: 1, EventID: probeEventID, API: events.APINetverify, Kind: events.KindIDVerification,
		Region: "amer-1", ReceivedAt: probeReceived}
	return FromNetverifyData(ev, &d, nil), nil
}

func dataDoc(t testing.TB) map[string]any {
	return loadJSON(t, "netverify-data-approved.input.data.json")
}
