package ingest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/ingest"
	"github.com/kycflow/kycflow/pkg/events"
)

// These tests send what a callback's reader accepted once but a consumer
// of the stored event could not read, and what the sender checks refuse,
// and look at the answer, what was stored and what was counted.

// decodable fails the test for every stored message that is no callback
// event encoding/json reads, as the enricher reads them.
func decodable(t *testing.T, h *harness) {
	t.Helper()
	for _, m := range h.stored(t) {
		var ev events.CallbackEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Errorf("stored %s does not decode: %v", m.Subject, err)
		}
	}
}

// TestTimeOutsideRFC3339YearsRefused: a timestamp whose offset moves it
// out of the years 0–9999 in UTC was stored as an event whose time
// encoding/json cannot read back (the enricher dead-lettered it). It is a
// malformed field: 422, nothing stored.
func TestTimeOutsideRFC3339YearsRefused(t *testing.T) {
	h := startIngest(t, nil, nil)
	pl := strings.Replace(string(fixtureBody(t, "platform/callback-processed.json")),
		"2024-03-14T10:15:30.123Z", "9999-12-31T23:59:59-23:59", 1)
	nv := strings.Replace(string(fixtureBody(t, "netverify/callback-approved-verified.form")),
		"callbackDate=2021-05-10T08%3A05%3A10.123Z", "callbackDate=0000-01-01T00%3A00%3A00%2B01%3A00", 1)
	for _, c := range []struct{ path, ct, body string }{
		{"/callbacks/platform", "application/json", pl},
		{"/callbacks/netverify", "application/x-www-form-urlencoded", nv},
	} {
		if r := h.post(t, c.path, c.ct, []byte(c.body), nil); r.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: got %d, want 422", c.path, r.status)
		}
	}
	if n := len(h.stored(t)); n != 0 {
		t.Errorf("%d callbacks stored, want none", n)
	}
}

// TestDeepBodyRefused: a Platform body nested as deeply as encoding/json
// reads was stored one level deeper inside its event, which then did not
// decode. Nesting is bounded: 400, nothing stored; a body nested as
// Jumio's is, a few levels, is stored and decodes.
func TestDeepBodyRefused(t *testing.T) {
	h := startIngest(t, nil, nil)
	pl := string(fixtureBody(t, "platform/callback-processed.json"))
	for _, depth := range []int{9999, 40} {
		deep := strings.Repeat("[", depth) + strings.Repeat("]", depth)
		body := strings.Replace(pl, `"userReference"`, `"x": `+deep+`, "userReference"`, 1)
		if r := h.post(t, "/callbacks/platform", "application/json", []byte(body), nil); r.status != http.StatusBadRequest {
			t.Errorf("%d levels: got %d, want 400", depth, r.status)
		}
	}
	if n := len(h.stored(t)); n != 0 {
		t.Fatalf("%d callbacks stored, want none", n)
	}
	body := strings.Replace(pl, `"userReference"`, `"x": [[{"y":[1]}]], "userReference"`, 1)
	if r := h.post(t, "/callbacks/platform", "application/json", []byte(body), nil); r.status != http.StatusOK {
		t.Errorf("a few levels: got %d, want 200", r.status)
	}
	decodable(t, h)
}

// TestOtherRegionCountedOnceStored: the region-mismatch warning and
// counter say the configured region may be wrong; a callback of another
// region that the sender checks refuse (another tenant's, sent to this
// URL) says nothing of it and is not counted; the same callback genuinely
// signed is stored, counted and logged.
func TestOtherRegionCountedOnceStored(t *testing.T) {
	h := startIngest(t, nil, func(c *ingest.Config) { c.UserReferenceSecrets = secret("current") })
	body := strings.ReplaceAll(string(fixtureBody(t, "platform/callback-session-expired.json")), "amer-1", "emea-1")
	withRef := func(token string) []byte {
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		m["userReference"] = token
		b, _ := json.Marshal(m)
		return b
	}
	if r := h.post(t, "/callbacks/platform", "application/json", withRef(signed(t, "another-tenants-secret", time.Now())), nil); r.status != http.StatusForbidden {
		t.Fatalf("forged: got %d, want 403", r.status)
	}
	if got := h.metric(t, "kycflow_ingest_region_mismatches_total", nil); got != 0 {
		t.Errorf("kycflow_ingest_region_mismatches_total = %v after a refused callback, want 0", got)
	}
	if strings.Contains(h.logs.String(), "callback names another region") {
		t.Error("a refused callback was logged as naming another region")
	}
	if r := h.post(t, "/callbacks/platform", "application/json", withRef(signed(t, "current", time.Now())), nil); r.status != http.StatusOK {
		t.Fatalf("genuine: got %d, want 200", r.status)
	}
	if got := h.metric(t, "kycflow_ingest_region_mismatches_total", nil); got != 1 {
		t.Errorf("kycflow_ingest_region_mismatches_total = %v after the stored callback, want 1", got)
	}
	if !strings.Contains(h.logs.String(), "callback names another region") {
		t.Error("the stored callback of another region was not logged")
	}
}

// TestUncleanPathIsTheNotFoundProblem: a path net/http's router would
// clean ("//callbacks/…", "/…/.") was answered with a bare 307 that
// repeated the path, secret segment and all, uncounted. Every path but
// the callbacks' and the health endpoints' is the 404 problem, counted.
func TestUncleanPathIsTheNotFoundProblem(t *testing.T) {
	h := startIngest(t, nil, func(c *ingest.Config) { c.PathSecret = secret(pathSecret) })
	paths := []string{"//callbacks/platform/" + pathSecret, "/callbacks/platform/" + pathSecret + "/.", "/x//y", "/callbacks/../healthz"}
	for _, p := range paths {
		c, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, "POST "+p+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
		resp, _ := io.ReadAll(c)
		c.Close()
		head, _, _ := strings.Cut(string(resp), "\r\n\r\n")
		if !strings.HasPrefix(head, "HTTP/1.1 404") || !strings.Contains(head, "application/problem+json") || strings.Contains(head, pathSecret) {
			t.Errorf("POST %s: want the 404 problem without the path:\n%s", p, head)
		}
	}
	if got := h.metric(t, "kycflow_ingest_rejected_total", nil); got != float64(len(paths)) {
		t.Errorf("kycflow_ingest_rejected_total = %v, want %d", got, len(paths))
	}
	if r, err := http.Get(h.url + "/healthz"); err != nil || r.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %v %v", r, err)
	}
	// Any other method on the health endpoints is the 404 problem too,
	// as it was.
	if r, err := http.Post(h.url+"/readyz", "application/json", strings.NewReader("{}")); err != nil || r.StatusCode != http.StatusNotFound ||
		r.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("POST /readyz: %v %v", r, err)
	}
}

// documentCallback is a Netverify document-verification callback whose
// document field is the JSON doc, sent as a raw form value.
func documentCallback(doc string) []byte {
	return []byte("scanReference=b2c3d4e5-7777-4888-8999-f00011112222&timestamp=2021-05-12T14%3A03%3A00Z&document=" + doc)
}

// TestRepeatedKeysReadInLinearTime: ingest reads a Netverify document
// callback's document JSON, and checks it for keys sent twice with
// different values. Each key was compared with every key before it, and
// a repeat whose text differs (0 and 0.0) decoded both values again: a
// body of the default size made of one key repeated held a request for
// over 10 s of CPU. Such a body is one value written two ways, and is
// stored. How the work grows with the repeats is counted in allocations,
// not timed, by TestAmbiguousRepeatsInLinearWork (pkg/jumio/wire).
func TestRepeatedKeysReadInLinearTime(t *testing.T) {
	h := startIngest(t, nil, nil)
	const size = ingest.DefaultMaxBodyBytes - 256
	var repeated strings.Builder
	repeated.WriteString(`{"status":"UPLOADED"`)
	for i := 0; repeated.Len() < size; i++ {
		v := "0"
		if i%2 == 1 {
			v = "0.0"
		}
		repeated.WriteString(`,"a":` + v)
	}
	repeated.WriteString("}")
	r := h.post(t, "/callbacks/netverify", "application/x-www-form-urlencoded", documentCallback(repeated.String()), nil)
	if r.status != http.StatusOK {
		t.Fatalf("got %d %s, want 200", r.status, r.problem.Type)
	}
}

// TestDeepFormJSONRefused: a Netverify document callback's document
// JSON nested as deeply as encoding/json reads was checked for repeated
// keys one level of recursion per level of nesting, each level scanning
// what it holds again: a body of the default size held a goroutine stack
// of megabytes and a request for a quadratic scan. The JSON fields of a
// form nest at most as deeply as a Platform body: deeper, the field is
// unreadable, and a document callback without a readable status is
// refused, nothing stored.
func TestDeepFormJSONRefused(t *testing.T) {
	h := startIngest(t, nil, nil)
	const depth = 9990
	deep := `{"status":"UPLOADED","x":` + strings.Repeat(`{"a":`, depth) + "0" + strings.Repeat("}", depth) + "}"
	const parallel = 4
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.StackInuse > peak.Load() {
				peak.Store(ms.StackInuse)
			}
		}
	}()
	var wg sync.WaitGroup
	statuses := make([]int, parallel)
	for i := range parallel {
		wg.Go(func() {
			// One scan reference per request: none is another's duplicate.
			body := strings.Replace(string(documentCallback(deep)), "f00011112222", fmt.Sprintf("f0001111%04d", i), 1)
			// Not h.post: it ends the test, which only the test's own
			// goroutine may do.
			resp, err := h.client.Post(h.url+"/callbacks/netverify", "application/x-www-form-urlencoded", strings.NewReader(body))
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	for i, s := range statuses {
		if s != http.StatusUnprocessableEntity {
			t.Errorf("request %d: got %d, want 422", i, s)
		}
	}
	if n := len(h.stored(t)); n != 0 {
		t.Errorf("%d callbacks stored, want none", n)
	}
	if p := peak.Load(); p > 16<<20 {
		t.Errorf("goroutine stacks peaked at %d MiB reading %d callbacks of %d KiB", p>>20, parallel, len(deep)>>10)
	}
}
