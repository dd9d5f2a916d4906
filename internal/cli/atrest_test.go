package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/broker/embedded"
	"github.com/kycflow/kycflow/internal/ingest/ingesttest"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// testStoreKey is a store key of the tests (not a secret of anything).
const testStoreKey = "kycflow-test-store-key-0123456789abcdef"

// Personal data no generated transaction holds, put into one Platform
// execution and one Netverify scan by piiSim, to be looked for on disk.
var distinctivePII = map[string]string{
	"first":  "ZEPHYRINEQX",
	"last":   "QUILLFEATHERZ",
	"dob":    "1911-02-13",
	"number": "ZQ7731904K",
}

// piiFields names, per kind of personal data, the Jumio fields that hold
// it: Platform extraction data, Netverify retrieval data and Netverify
// callback form fields.
var piiFields = map[string][]string{
	"first":  {"firstName", "idFirstName"},
	"last":   {"lastName", "idLastName"},
	"dob":    {"dateOfBirth", "dob", "idDob"},
	"number": {"documentNumber", "number", "idNumber"},
}

// piiSim is a Jumio simulator with one passed Platform execution and one
// approved Netverify scan, recent, whose person is distinctivePII. It
// returns their ids.
func piiSim(t *testing.T) (*jumiotest.Server, []string) {
	t.Helper()
	sim := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 47, NetverifyMix: jumiotest.NetverifyMix{Approved: 1}}})
	t.Cleanup(sim.Close)
	execs, scans, err := sim.AddGenerated(jumiotest.GenerateOptions{Executions: 1, NetverifyScans: 1, Mix: "passed=1"})
	if err != nil || len(execs) != 1 || len(scans) != 1 {
		t.Fatalf("generate: %d executions, %d scans, %v", len(execs), len(scans), err)
	}
	byField := map[string]string{}
	for kind, fields := range piiFields {
		for _, f := range fields {
			byField[f] = distinctivePII[kind]
		}
	}
	e := execs[0]
	e.Details = replaceFields(t, e.Details, byField)
	if err := sim.AddExecution(e); err != nil {
		t.Fatal(err)
	}
	sc := scans[0]
	sc.Data = replaceFields(t, sc.Data, byField)
	for f, v := range byField {
		if sc.Callback.Has(f) {
			sc.Callback.Set(f, v)
		}
	}
	if err := sim.AddNetverifyScan(sc); err != nil {
		t.Fatal(err)
	}
	for _, doc := range [][]byte{e.Details, sc.Data} {
		if !bytes.Contains(doc, []byte(distinctivePII["first"])) {
			t.Fatalf("the generated document holds no first name to replace:\n%s", doc)
		}
	}
	return sim, []string{e.ID, sc.Reference}
}

// replaceFields sets every string field of the JSON document named in
// values, at any depth, to its value there.
func replaceFields(t *testing.T, doc []byte, values map[string]string) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if s, ok := values[k]; ok {
					if _, isString := c.(string); isString {
						x[k] = s
						continue
					}
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runEmbedded is "kycflow run" with its embedded NATS server on dataDir,
// talking to sim, until stop.
type runEmbedded struct {
	ingest, nats string
	stop         func()
}

func startRunEmbedded(t *testing.T, sim *jumiotest.Server, dataDir string, extra map[string]string) runEmbedded {
	t.Helper()
	vars := jumioVars(sim)
	maps.Copy(vars, extra)
	addr := ingesttest.FreeAddr(t)
	stop := runInBackground(t, vars, "--data-dir", dataDir, "--addr", addr, "--nats-listen", "127.0.0.1:0",
		"--admin-addr", "127.0.0.1:0", "--enricher-addr", "127.0.0.1:0", "--notifier-addr", "127.0.0.1:0")
	ingesttest.WaitReady(t, "http://"+addr)
	b, err := os.ReadFile(filepath.Join(dataDir, runInfoFile))
	if err != nil {
		t.Fatal(err)
	}
	var ri runInfo
	if err := json.Unmarshal(b, &ri); err != nil {
		t.Fatal(err)
	}
	return runEmbedded{ingest: "http://" + addr, nats: ri.NATSURL, stop: stop}
}

// TestPersonalDataAtRest: callbacks and results carrying distinctive
// personal data go through "kycflow run" and its embedded server (the
// callbacks, the enriched events with the raw documents, the results,
// the enricher's and notifier's buckets); once it has stopped, no file
// under its data directory holds any of the values, as they are, in any
// case, or in base64, when the store is encrypted. Without a key every
// value is found, so the search does find what is there.
func TestPersonalDataAtRest(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline twice; runs without -short")
	}
	for _, tc := range []struct {
		name      string
		vars      map[string]string
		encrypted bool
	}{
		{"encrypted", map[string]string{"KYCFLOW_NATS_STORE_KEY": testStoreKey}, true},
		{"encrypted with AES", map[string]string{"KYCFLOW_NATS_STORE_KEY": testStoreKey, "KYCFLOW_NATS_STORE_CIPHER": "aes"}, true},
		{"not encrypted", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim, ids := piiSim(t)
			dataDir := t.TempDir()
			run := startRunEmbedded(t, sim, dataDir, tc.vars)
			sendCallbacks(t, sim, jumiotest.CallbackOptions{
				URL: run.ingest + "/callbacks/platform", NetverifyURL: run.ingest + "/callbacks/netverify", IDs: ids})
			waitStored(t, run.nats, events.StreamResults, len(ids))
			run.stop()

			found := searchDir(t, dataDir, distinctivePII)
			for kind, value := range distinctivePII {
				switch {
				case tc.encrypted && len(found[kind]) > 0:
					t.Errorf("%s (%s) found on disk: %s", kind, value, strings.Join(found[kind], "; "))
				case !tc.encrypted && len(found[kind]) == 0:
					t.Errorf("%s (%s) not found in the plain store: the search finds nothing", kind, value)
				}
			}
			enc, err := embedded.StreamsEncrypted(filepath.Join(dataDir, "jetstream"))
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{events.StreamCallbacks, events.StreamEnriched, events.StreamResults} {
				if got, ok := enc[name]; !ok || got != tc.encrypted {
					t.Errorf("stream %s: encrypted %v (present %v), want %v", name, got, ok, tc.encrypted)
				}
			}
		})
	}
}

// waitStored waits until stream holds n messages.
func waitStored(t *testing.T, url, stream string, n int) {
	t.Helper()
	js := brokertest.Connect(t, url)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if msgs := brokertest.Messages(t, js, stream); len(msgs) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %d messages in %s", n, stream)
		}
	}
}

// searchDir returns, per kind of value, the files under dir holding it:
// as it is, in lower case, or in standard base64 (each of the three
// alignments in an encoded stream).
func searchDir(t *testing.T, dir string, values map[string]string) map[string][]string {
	t.Helper()
	found := map[string][]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		lower := bytes.ToLower(b)
		for kind, v := range values {
			for form, pattern := range encodings(v) {
				hay := b
				if form == "any case" {
					hay = lower
				}
				if bytes.Contains(hay, pattern) {
					rel, _ := filepath.Rel(dir, path)
					found[kind] = append(found[kind], fmt.Sprintf("%s in %s", form, rel))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// encodings are the forms of v searched for, by name.
func encodings(v string) map[string][]byte {
	out := map[string][]byte{"as is": []byte(v), "any case": []byte(strings.ToLower(v))}
	for k := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, k), v...))
		// The characters that depend on v's bytes alone.
		start, end := (k*8+5)/6, (k+len(v))*8/6
		out[fmt.Sprintf("base64 at offset %d", k)] = []byte(enc[start:end])
	}
	return out
}
