package faultsuite

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kycflow/kycflow/internal/bench/rig"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestHostileInput: while the simulator's callbacks flow, ingest gets a
// burst of malformed and hostile requests: oversize bodies (declared and
// chunked), a Content-Length far above the body, deeply nested JSON,
// invalid UTF-8 (in ids, in otherwise valid callbacks: a raw or
// percent-encoded name, a userReference, a lone surrogate escape, a query
// string) and binary garbage, header floods, slow headers and slow bodies
// (slowloris), wrong content types, methods and paths, and the admin
// endpoints asked on the callback port. Every hostile request is answered
// 4xx (the kinds that must be refused for one reason, with that status)
// or has its connection closed by the server's limits, never 2xx or 5xx,
// and nothing of them is stored; the valid callbacks are all accepted and
// delivered (the ledger); ingest's memory stays under a generous bound.
func TestHostileInput(t *testing.T) {
	w := newWorld(t, worldConfig{scenario: jumiotest.Scenario{Seed: 16, Executions: 120, NetverifyScans: 30}})
	ctx := t.Context()
	ing := w.p.Ingest()
	before, err := ing.Stats()
	if err != nil {
		t.Fatal(err)
	}
	l := w.startLoad(jumiotest.CallbackOptions{Rate: 30, Concurrency: 4})
	peak := sampleRSS(ing)
	h := &hostile{base: "http://" + ing.Addr()}
	h.run(ctx)
	sent := l.wait()
	maxRSS := peak()
	after, err := ing.Stats()
	if err != nil {
		t.Fatal(err)
	}
	w.settle()

	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	for _, k := range h.kinds() {
		w.figure("%-28s %s", k, h.summary(k))
	}
	w.figure("valid callbacks: %v", statuses(sent))
	w.figure("ingest resident memory: %.1f MiB before, %.1f MiB peak sampled, %.1f MiB after (VmHWM %.1f MiB)",
		mib(before.RSS), mib(maxRSS), mib(after.RSS), mib(after.HWM))
	for _, bad := range h.bad() {
		t.Error(bad)
	}
	for _, s := range sent {
		if s.Err != nil || s.Status != http.StatusOK {
			t.Errorf("valid %s callback %s: answered %d %v", s.API, s.Reference, s.Status, s.Err)
		}
	}
	// Generous: the bodies are bounded at 64 KiB and the headers at
	// 16 KiB per request; hundreds of MiB would mean they are not. The
	// race detector multiplies memory.
	bound := int64(256 << 20)
	if raceEnabled {
		bound = 1 << 30
	}
	if after.HWM > bound {
		t.Errorf("ingest's resident memory peaked at %.0f MiB, over %.0f MiB", mib(after.HWM), mib(bound))
	}
	// Nothing of a hostile request is stored: every stored callback is
	// one of the valid ones answered 200.
	if l := w.ledger(rig.AuditInput{Sent: sent, ExactCounters: true}); l != nil && l.Unanswered != 0 {
		t.Errorf("%d stored callbacks were not answered 200: hostile input was stored", l.Unanswered)
	}
}

// sampleRSS samples a process's resident memory every 50 ms until the
// returned function is called, which returns the highest sample.
func sampleRSS(p *rig.Process) func() int64 {
	done := make(chan struct{})
	res := make(chan int64, 1)
	go func() {
		var peak int64
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if s, err := p.Stats(); err == nil {
				peak = max(peak, s.RSS)
			}
			select {
			case <-done:
				res <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		return <-res
	}
}

// outcome is how the server handled one hostile request: its status, or
// that it closed the connection (closed) without an answer.
type outcome struct {
	status int
	closed bool
	err    error
	took   time.Duration
	// want, when set, is the only status the request may get.
	want int
}

// hostile sends the hostile requests and collects their outcomes by kind.
type hostile struct {
	base string

	mu  sync.Mutex
	out map[string][]outcome
}

func (h *hostile) add(kind string, o outcome) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.out == nil {
		h.out = map[string][]outcome{}
	}
	h.out[kind] = append(h.out[kind], o)
}

func (h *hostile) kinds() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Sorted(maps.Keys(h.out))
}

// summary counts a kind's outcomes.
func (h *hostile) summary(kind string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	counts := map[string]int{}
	var longest time.Duration
	for _, o := range h.out[kind] {
		longest = max(longest, o.took)
		switch {
		case o.closed:
			counts["closed by server"]++
		case o.err != nil:
			counts["client error"]++
		default:
			counts[fmt.Sprint(o.status)]++
		}
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, counts[k]))
	}
	return fmt.Sprintf("%s (longest %s)", strings.Join(parts, ", "), longest.Round(time.Millisecond))
}

// bad lists the outcomes that are neither a 4xx nor a connection the
// server closed.
func (h *hostile) bad() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for kind, os := range h.out {
		for _, o := range os {
			switch {
			case o.want != 0 && !o.closed && (o.err != nil || o.status != o.want):
				out = append(out, fmt.Sprintf("%s: answered %d (%v), want %d", kind, o.status, o.err, o.want))
			case o.closed, o.err == nil && o.status >= 400 && o.status < 500:
			case o.err != nil:
				out = append(out, fmt.Sprintf("%s: %v", kind, o.err))
			default:
				out = append(out, fmt.Sprintf("%s: answered %d, want a 4xx", kind, o.status))
			}
		}
	}
	// A kind refused for one reason must show it: a connection the
	// server closed under load is no answer, but they cannot all be.
	for kind, os := range h.out {
		if want := os[0].want; want != 0 && !slices.ContainsFunc(os, func(o outcome) bool { return o.status == want }) {
			out = append(out, fmt.Sprintf("%s: no request answered %d", kind, want))
		}
	}
	slices.Sort(out)
	return out
}

// run sends every kind of hostile request, each kind from its own
// goroutines, all at once.
func (h *hostile) run(ctx context.Context) {
	platform, netverify := h.base+"/callbacks/platform", h.base+"/callbacks/netverify"
	deep := strings.Repeat("[", 60<<10/2) + strings.Repeat("]", 60<<10/2)
	deepObj := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	garbage := make([]byte, 4096)
	_, _ = rand.Read(garbage)
	validish := `{"callbackSentAt":"2024-03-14T10:00:00.000Z","workflowExecution":{"id":"%s","status":"PROCESSED","definitionKey":"10011"},"account":{"id":"%s"}}`
	// Callbacks that would be accepted but for text that is not UTF-8:
	// refused whole with 422, never stored (the ledger would count them).
	withRef := func(ref string) string {
		return `{"callbackSentAt":"2024-03-14T10:00:00.000Z","userReference":"` + ref + `",` +
			`"workflowExecution":{"id":"` + uuid() + `","status":"PROCESSED","definitionKey":"10011"},"account":{"id":"` + uuid() + `"}}`
	}
	idForm := func(extra string) string {
		return "callBackType=NETVERIFYID&jumioIdScanReference=" + uuid() +
			"&verificationStatus=APPROVED_VERIFIED&callbackDate=2024-03-14T10%3A00%3A00.000Z&" + extra
	}
	want := func(status int, o outcome) outcome {
		o.want = status
		return o
	}
	tasks := []struct {
		kind string
		n    int
		fn   func() outcome
	}{
		{"oversize body (1 MiB)", 20, func() outcome {
			return h.request(ctx, http.MethodPost, platform, "application/json", bytes.NewReader(bytes.Repeat([]byte(" "), 1<<20)), nil)
		}},
		{"oversize body (chunked 8 MiB)", 5, func() outcome {
			return h.request(ctx, http.MethodPost, platform, "application/json", io.LimitReader(zeros{}, 8<<20), nil)
		}},
		{"deeply nested JSON array", 20, func() outcome {
			return h.request(ctx, http.MethodPost, platform, "application/json", strings.NewReader(deep), nil)
		}},
		{"deeply nested JSON object", 20, func() outcome {
			return h.request(ctx, http.MethodPost, platform, "application/json", strings.NewReader(deepObj), nil)
		}},
		{"invalid UTF-8 in ids", 20, func() outcome {
			body := fmt.Sprintf(validish, "\xff\xfe-not-utf8", "\xc3\x28")
			return h.request(ctx, http.MethodPost, platform, "application/json", strings.NewReader(body), nil)
		}},
		{"invalid UTF-8 form", 20, func() outcome {
			body := "callBackType=NETVERIFYID&jumioIdScanReference=%FF%FE%FD&verificationStatus=APPROVED_VERIFIED&callbackDate=\xff\xfe"
			return h.request(ctx, http.MethodPost, netverify, "application/x-www-form-urlencoded", strings.NewReader(body), nil)
		}},
		{"invalid UTF-8 userReference", 20, func() outcome {
			return want(http.StatusUnprocessableEntity, h.request(ctx, http.MethodPost, platform, "application/json", strings.NewReader(withRef("usr_\xff\xfe")), nil))
		}},
		{"lone surrogate userReference", 20, func() outcome {
			return want(http.StatusUnprocessableEntity, h.request(ctx, http.MethodPost, platform, "application/json", strings.NewReader(withRef(`usr_\ud800`)), nil))
		}},
		{"percent-encoded invalid UTF-8 name", 20, func() outcome {
			return want(http.StatusUnprocessableEntity, h.request(ctx, http.MethodPost, netverify, "application/x-www-form-urlencoded", strings.NewReader(idForm("idFirstName=%FF%FE")), nil))
		}},
		{"raw invalid UTF-8 name", 20, func() outcome {
			return want(http.StatusUnprocessableEntity, h.request(ctx, http.MethodPost, netverify, "application/x-www-form-urlencoded", strings.NewReader(idForm("idLastName=M\xc3\x28LLER")), nil))
		}},
		{"invalid UTF-8 query string", 20, func() outcome {
			return want(http.StatusUnprocessableEntity, h.request(ctx, http.MethodPost, netverify+"?idFirstName=%C3", "application/x-www-form-urlencoded", strings.NewReader(idForm("x=1")), nil))
		}},
		{"Content-Length 1 GiB, small body", 10, func() outcome {
			return h.slow(ctx, "POST /callbacks/platform HTTP/1.1\r\nHost: ingest\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n{}", " ")
		}},
		{"metrics on the callback port", 10, func() outcome {
			return want(http.StatusNotFound, h.request(ctx, http.MethodGet, h.base+"/metrics", "", nil, nil))
		}},
		{"pprof on the callback port", 10, func() outcome {
			return want(http.StatusNotFound, h.request(ctx, http.MethodGet, h.base+"/debug/pprof/heap", "", nil, nil))
		}},
		{"binary garbage", 20, func() outcome {
			return h.request(ctx, http.MethodPost, platform, "application/json", bytes.NewReader(garbage), nil)
		}},
		{"header flood (3000 headers)", 20, func() outcome {
			hdr := http.Header{}
			for i := range 3000 {
				hdr.Set(fmt.Sprintf("X-Flood-%d", i), "xxxxxxxxxxxxxxxxxxxxxxxx")
			}
			return h.request(ctx, http.MethodPost, platform, "application/json", strings.NewReader("{}"), hdr)
		}},
		{"one 1 MiB header", 5, func() outcome {
			hdr := http.Header{"X-Huge": {strings.Repeat("a", 1<<20)}}
			return h.request(ctx, http.MethodPost, platform, "application/json", strings.NewReader("{}"), hdr)
		}},
		{"wrong content type", 10, func() outcome {
			return h.request(ctx, http.MethodPost, platform, "text/plain", strings.NewReader("hello"), nil)
		}},
		{"wrong method", 10, func() outcome {
			return h.request(ctx, http.MethodGet, platform, "", nil, nil)
		}},
		{"unknown path", 10, func() outcome {
			return h.request(ctx, http.MethodPost, h.base+"/callbacks/../../etc/passwd", "application/json", strings.NewReader("{}"), nil)
		}},
		{"slow headers (slowloris)", 100, func() outcome {
			return h.slow(ctx, "POST /callbacks/platform HTTP/1.1\r\nHost: ingest\r\nContent-Type: application/json\r\n", "X-Slow: a\r\n")
		}},
		{"slow body", 20, func() outcome {
			return h.slow(ctx, "POST /callbacks/platform HTTP/1.1\r\nHost: ingest\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n", " ")
		}},
	}
	var wg sync.WaitGroup
	for _, task := range tasks {
		for range task.n {
			wg.Go(func() { h.add(task.kind, task.fn()) })
		}
	}
	wg.Wait()
}

// zeros reads zero bytes forever.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// request sends one request on a fresh connection and reports how it
// ended.
func (h *hostile) request(ctx context.Context, method, url, contentType string, body io.Reader, hdr http.Header) outcome {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return outcome{err: err}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: time.Minute}).Do(req)
	if err != nil {
		return outcome{closed: closedByServer(err), err: err, took: time.Since(start)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return outcome{status: resp.StatusCode, took: time.Since(start)}
}

// slow opens a connection, writes head, then trickle every 200 ms until
// the server answers or closes the connection (or a minute passes).
func (h *hostile) slow(ctx context.Context, head, trickle string) outcome {
	start := time.Now()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		return outcome{err: err}
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head); err != nil {
		return outcome{closed: true, took: time.Since(start)}
	}
	answered := make(chan outcome, 1)
	go func() {
		_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- outcome{closed: closedByServer(err), err: err, took: time.Since(start)}
			return
		}
		resp.Body.Close()
		answered <- outcome{status: resp.StatusCode, took: time.Since(start)}
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case o := <-answered:
			return o
		case <-tick.C:
			if _, err := io.WriteString(conn, trickle); err != nil {
				return <-answered
			}
		}
	}
}

// closedByServer reports whether err means the server closed the
// connection (EOF, reset, broken pipe) rather than a client-side failure.
// A write on a closed connection (net.ErrClosed) is the server's close
// too: each request has a transport and a connection of its own, which
// the transport closes only once it read the server's close while the
// body was still being written (a loaded machine, a limit's timeout).
func closedByServer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// post sends one callback body and returns the status.
func post(ctx context.Context, url, contentType string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := callbackClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// uuid is a random, well-formed Jumio id.
func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// callerBaggage is the W3C baggage a caller sends with every callback of
// TestHostileAcceptedInput; nothing of kycflow may carry it on.
const callerBaggage = "tenant=hostile-baggage-7f3a,user.email=victim%40example.com"

// TestHostileAcceptedInput: input that ingest must accept, since it may be
// genuine, and that still never yields a verdict the evidence does not
// support. While the simulator's callbacks flow, each with a caller's
// traceparent and baggage:
//   - Jumio serves executions due to pass with a capability entry that
//     cannot be read: their results are WARNING and name the capability;
//   - before the genuine callback of Netverify scans that Jumio did not
//     approve, a forged copy arrives that claims APPROVED_VERIFIED (with an
//     identityVerification that matches, or one that is truncated): it is
//     stored as an event of its own
//     (the genuine one is not taken for its duplicate), and no result of
//     those scans is PASSED, as the enricher maps what Jumio's retrieval
//     returns;
//   - neither a webhook nor any stored message carries the baggage.
//
// The ledger balances: every callback accepted gives its results, once.
func TestHostileAcceptedInput(t *testing.T) {
	w := newWorld(t, worldConfig{scenario: jumiotest.Scenario{Seed: 17, Executions: 60, NetverifyScans: 40}})
	ctx := t.Context()

	broken := map[string]string{} // execution id → capability made unreadable
	for _, e := range w.sim.Executions() {
		if e.Outcome != jumiotest.OutcomePassed || len(broken) == 5 {
			continue
		}
		details, name, ok := breakCapability(e.Details)
		if !ok {
			continue
		}
		e.Details = details
		if err := w.sim.AddExecution(e); err != nil {
			t.Fatal(err)
		}
		broken[e.ID] = name
	}
	forged := map[string]bool{} // scan reference
	var sent []jumiotest.SentCallback
	for _, sc := range w.sim.NetverifyScans() {
		if sc.Kind != events.KindIDVerification || sc.Result == jumiotest.OutcomeApprovedVerified || len(sc.Callback) == 0 || len(forged) == 5 {
			continue
		}
		f, err := url.ParseQuery(string(w.sim.NetverifyCallback(sc, sc.CallbackDate)))
		if err != nil {
			t.Fatal(err)
		}
		f.Set("verificationStatus", jumiotest.OutcomeApprovedVerified)
		// Every other copy is a perfect forgery; the rest carry a
		// truncated identityVerification as well.
		iv := `{"similarity":"MATCH","validity":"TRUE"}`
		if len(forged)%2 == 1 {
			iv = `{"similarity":"MATCH","validity":"TRUE","reas`
		}
		f.Set("identityVerification", iv)
		f.Del("rejectReason")
		body := []byte(f.Encode())
		const form = "application/x-www-form-urlencoded"
		status, err := post(ctx, w.p.CallbackURL(events.APINetverify), form, body)
		sent = append(sent, jumiotest.SentCallback{API: events.APINetverify, Reference: sc.Reference, SentAt: sc.CallbackDate,
			ContentType: form, Body: body, Status: status, Err: err})
		forged[sc.Reference] = true
	}
	if len(broken) == 0 || len(forged) == 0 {
		t.Fatalf("the scenario gave %d executions due to pass and %d Netverify scans not approved: too few to test", len(broken), len(forged))
	}
	for _, s := range sent {
		if s.Err != nil || s.Status != http.StatusOK {
			t.Errorf("forged copy of %s: answered %d %v; it is well-formed and from an allowed address, so it is accepted", s.Reference, s.Status, s.Err)
		}
	}
	hdr := http.Header{
		"Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		"Baggage":     {callerBaggage},
	}
	sent = append(sent, w.send(ctx, jumiotest.CallbackOptions{Concurrency: 4, Header: hdr})...)
	w.settle()
	w.ledger(rig.AuditInput{Sent: sent, ExactCounters: true})

	seen := map[string]bool{}
	for _, d := range w.p.Receiver().Deliveries("") {
		if d.Baggage != "" {
			t.Errorf("webhook %s of %s carried baggage %q", d.ID, d.Route, d.Baggage)
		}
		if name, ok := broken[d.ExecutionID]; ok {
			seen[d.ExecutionID] = true
			if d.Decision != events.DecisionWarning || !slices.Contains(d.Unreadable, "capabilities."+name) {
				t.Errorf("execution %s, served with capability %s unreadable: %s delivered %s with unreadable fields %v, want WARNING naming capabilities.%s",
					d.ExecutionID, name, d.Route, d.Decision, d.Unreadable, name)
			}
		}
		if forged[d.ExecutionID] {
			seen[d.ExecutionID] = true
			if d.Decision == events.DecisionPassed {
				t.Errorf("Netverify scan %s, not approved by Jumio: %s delivered PASSED after a forged APPROVED_VERIFIED copy", d.ExecutionID, d.Route)
			}
		}
	}
	for id := range maps.Keys(broken) {
		if !seen[id] {
			t.Errorf("no webhook for execution %s", id)
		}
	}
	for id := range maps.Keys(forged) {
		if !seen[id] {
			t.Errorf("no webhook for Netverify scan %s", id)
		}
	}
	for _, stream := range []string{events.StreamCallbacks, events.StreamEnriched, events.StreamResults, events.StreamDLQ} {
		msgs, err := rig.ReadStream(ctx, w.p.JetStream(), stream)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if hasBaggage(m) {
				t.Errorf("%s holds a message (subject %s) with the caller's baggage", stream, m.Subject)
			}
		}
	}
	w.figure("%d executions served with an unreadable capability, %d forged Netverify copies, %d callbacks with a caller's baggage",
		len(broken), len(forged), len(sent)-len(forged))
}

// breakCapability replaces the entries of the first capability (by name)
// of a workflow details document with one that cannot be read: a
// truncated JSON text where an entry object belongs. It reports false
// when the document has no capability.
func breakCapability(details json.RawMessage) (json.RawMessage, string, bool) {
	var d map[string]json.RawMessage
	if json.Unmarshal(details, &d) != nil {
		return nil, "", false
	}
	var caps map[string]json.RawMessage
	if json.Unmarshal(d["capabilities"], &caps) != nil || len(caps) == 0 {
		return nil, "", false
	}
	name := slices.Sorted(maps.Keys(caps))[0]
	caps[name] = json.RawMessage(`["{\"id\":\"x\",\"decision\":{\"type\":\"PAS"]`)
	var err error
	if d["capabilities"], err = json.Marshal(caps); err != nil {
		return nil, "", false
	}
	out, err := json.Marshal(d)
	return out, name, err == nil
}

// hasBaggage reports whether a stored message carries callerBaggage, in a
// header or its data.
func hasBaggage(m *nats.Msg) bool {
	if bytes.Contains(m.Data, []byte("hostile-baggage")) {
		return true
	}
	for _, vs := range m.Header {
		for _, v := range vs {
			if strings.Contains(v, "hostile-baggage") {
				return true
			}
		}
	}
	return false
}
