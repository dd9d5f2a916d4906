package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/bench"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/httpserver"
	"github.com/kycflow/kycflow/internal/ingest"
	"github.com/kycflow/kycflow/internal/ingest/ingesttest"
	"github.com/kycflow/kycflow/internal/telemetry"
)

func withAdminAddr(c *ingest.Config) { c.AdminAddr = "127.0.0.1:0" }

// get answers the status of GET url, and the type of the problem document
// answered ("" for none).
func (h *harness) get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := h.client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var p httpserver.ProblemDetails
	if resp.Header.Get("Content-Type") == "application/problem+json" {
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
			t.Fatalf("GET %s: problem: %v", url, err)
		}
	}
	return resp.StatusCode, p.Type
}

// TestAdminAddr: the callback port serves the callbacks and bare health
// answers and nothing else (the usual 404 problem for /metrics), and the
// admin port serves /healthz, /readyz and /metrics and no callbacks.
func TestAdminAddr(t *testing.T) {
	h := startIngest(t, nil, withAdminAddr)
	if h.adminURL == "" {
		t.Fatal("no admin listener")
	}
	notFound := httpserver.ProblemTypeBase + ingest.ReasonNotFound
	for _, tc := range []struct {
		url        string
		wantStatus int
		wantType   string
	}{
		{h.url + "/healthz", http.StatusOK, ""},
		{h.url + "/readyz", http.StatusOK, ""},
		{h.url + "/metrics", http.StatusNotFound, notFound},
		{h.url + "/debug/pprof/", http.StatusNotFound, notFound},
		{h.adminURL + "/healthz", http.StatusOK, ""},
		{h.adminURL + "/readyz", http.StatusOK, ""},
		{h.adminURL + "/metrics", http.StatusOK, ""},
	} {
		if status, typ := h.get(t, tc.url); status != tc.wantStatus || typ != tc.wantType {
			t.Errorf("GET %s: got %d %q, want %d %q", tc.url, status, typ, tc.wantStatus, tc.wantType)
		}
	}

	cb := bench.PlatformCallback(t.Name(), 0)
	if r := h.send(t, cb); r.status != http.StatusOK {
		t.Fatalf("callback on the callback port: got %d (%s), want 200", r.status, r.problem.Type)
	}
	resp, err := h.client.Post(h.adminURL+"/callbacks/platform", cb.ContentType, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("callback on the admin port: got %d, want 404", resp.StatusCode)
	}
	if n := len(h.stored(t)); n != 1 {
		t.Errorf("stored: got %d messages, want 1", n)
	}
	// /metrics and the others asked on the callback port count as unknown
	// paths, as any stray request there does.
	if got := h.metric(t, "kycflow_ingest_rejected_total", map[string]string{"reason": ingest.ReasonUnknownPath}); got != 2 {
		t.Errorf("unknown paths counted: got %v, want 2", got)
	}
}

// TestCallbackPortHidesDetails: not ready (the broker down), the admin
// port's /readyz says why and the callback port's says nothing but 503:
// the reason names the broker and its error, which the internet need not
// know.
func TestCallbackPortHidesDetails(t *testing.T) {
	broker := brokertest.Start(t)
	h := startIngest(t, broker, withAdminAddr)
	ingesttest.WaitReady(t, h.adminURL)
	broker.Stop()
	problem := func(url string) (int, httpserver.ProblemDetails) {
		resp, err := h.client.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		var p httpserver.ProblemDetails
		_ = json.NewDecoder(resp.Body).Decode(&p)
		return resp.StatusCode, p
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if status, _ := problem(h.adminURL + "/readyz"); status == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz on the admin port stays ready with the broker down")
		}
	}
	if status, p := problem(h.adminURL + "/readyz"); status != http.StatusServiceUnavailable || p.Detail == "" {
		t.Errorf("admin /readyz: %d, detail %q; want 503 with the reason", status, p.Detail)
	}
	if status, p := problem(h.url + "/readyz"); status != http.StatusServiceUnavailable || p.Detail != "" {
		t.Errorf("callback port /readyz: %d, detail %q; want 503 without a reason", status, p.Detail)
	}
}

// TestAdminAddrReadiness: /readyz on the admin port fails while the
// broker is down, as it does on the shared port.
func TestAdminAddrReadiness(t *testing.T) {
	broker := brokertest.Start(t)
	h := startIngest(t, broker, withAdminAddr)
	ingesttest.WaitReady(t, h.adminURL)
	broker.Stop()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		status, typ := h.get(t, h.adminURL+"/readyz")
		if status == http.StatusServiceUnavailable && typ == httpserver.ProblemTypeBase+"not-ready" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz on the admin port with the broker down: still %d", status)
		}
	}
	if status, _ := h.get(t, h.adminURL+"/healthz"); status != http.StatusOK {
		t.Errorf("/healthz with the broker down: got %d, want 200", status)
	}
}

// TestRunWithAdminAddr: Run listens on both addresses, and when ctx ends
// it closes both and returns nil.
func TestRunWithAdminAddr(t *testing.T) {
	broker := brokertest.Start(t)
	_, js := broker.JetStream(t)
	cfg := testConfig()
	cfg.NATS.URL = broker.URL()
	cfg.Server.Addr = ingesttest.FreeAddr(t)
	cfg.AdminAddr = ingesttest.FreeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- ingest.Run(ctx, cfg, telemetry.Discard(), nil) }()
	admin, callbacks := "http://"+cfg.AdminAddr, "http://"+cfg.Server.Addr
	ingesttest.WaitReady(t, admin)

	h := &harness{js: js, url: callbacks, client: &http.Client{Timeout: 10 * time.Second}}
	if status, _ := h.get(t, callbacks+"/metrics"); status != http.StatusNotFound {
		t.Errorf("/metrics on the callback port: got %d, want 404", status)
	}
	if status, _ := h.get(t, admin+"/metrics"); status != http.StatusOK {
		t.Errorf("/metrics on the admin port: got %d, want 200", status)
	}
	if r := h.send(t, bench.NetverifyCallback(t.Name(), 0)); r.status != http.StatusOK {
		t.Errorf("callback: got %d (%s), want 200", r.status, r.problem.Type)
	}
	h.client.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, addr := range []string{cfg.Server.Addr, cfg.AdminAddr} {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Run returned", addr)
		}
	}
	if n := len(h.stored(t)); n != 1 {
		t.Errorf("stored: got %d messages, want 1", n)
	}
}

// TestRunAdminAddrInUse: Run fails when it cannot listen on the admin
// address, and closes the callback listener.
func TestRunAdminAddrInUse(t *testing.T) {
	broker := brokertest.Start(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := testConfig()
	cfg.NATS.URL = broker.URL()
	cfg.AdminAddr = taken.Addr().String()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := ingest.Run(t.Context(), cfg, telemetry.Discard(), ln); err == nil {
		t.Fatal("Run on an admin address in use: got nil, want an error")
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("callback listener: Accept got %v, want net.ErrClosed", err)
	}
}

// TestAdminAddrInvalid: Run refuses a malformed admin address as a
// configuration error, before it connects anywhere.
func TestAdminAddrInvalid(t *testing.T) {
	cfg := ingest.LoadConfig(config.FromMap(map[string]string{"KYCFLOW_INGEST_ADMIN_ADDR": "9090"}))
	err := ingest.Run(t.Context(), cfg, telemetry.Discard(), nil)
	var ve *ingest.VarError
	if !errors.Is(err, ingest.ErrInvalidConfig) || !errors.As(err, &ve) || ve.Var != "KYCFLOW_INGEST_ADMIN_ADDR" {
		t.Errorf("Run: got %v, want a *VarError for KYCFLOW_INGEST_ADMIN_ADDR", err)
	}
}

// TestRunWarnsChecksOff: standalone ingest logs, at startup and per API,
// a warning naming exactly the sender checks that are off, and none when
// every check is on.
func TestRunWarnsChecksOff(t *testing.T) {
	broker := brokertest.Start(t)
	for _, tc := range []struct {
		name   string
		mutate func(*ingest.Config)
		want   map[string]string // api -> a check named in its warning
	}{
		{"every check on", func(c *ingest.Config) {
			c.PathSecret = secret("s3cr3t-segment-0123456789")
			c.UserReferenceSecrets = secret("hmac-secret")
			c.UserReferenceAPIs = []string{"platform", "netverify"}
		}, map[string]string{}},
		{"source address off, Netverify's userReference unsigned", func(c *ingest.Config) {
			c.CheckSourceIP = false
			c.PathSecret = secret("s3cr3t-segment-0123456789")
			c.UserReferenceSecrets = secret("hmac-secret")
		}, map[string]string{
			"platform":  "KYCFLOW_INGEST_CHECK_SOURCE_IP=false",
			"netverify": "KYCFLOW_INGEST_USER_REFERENCE_APIS does not name netverify",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs lockedLog
			tel, err := telemetry.Setup(t.Context(), telemetry.Config{ServiceName: "ingest", LogFormat: "json", LogLevel: "info"}, &logs)
			if err != nil {
				t.Fatal(err)
			}
			cfg := testConfig()
			cfg.NATS.URL = broker.URL()
			cfg.AdminAddr = ingesttest.FreeAddr(t)
			tc.mutate(&cfg)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- ingest.Run(ctx, cfg, tel, nil) }()
			ingesttest.WaitReady(t, "http://"+cfg.AdminAddr)
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
			got := map[string]string{}
			for line := range strings.SplitSeq(logs.String(), "\n") {
				var rec struct{ Msg, Level, API, Checks string }
				if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "sender checks off" {
					continue
				}
				if rec.Level != "WARN" {
					t.Errorf("%s: level %s, want WARN", rec.API, rec.Level)
				}
				got[rec.API] = rec.Checks
			}
			if len(got) != len(tc.want) {
				t.Errorf("warnings for %v, want for %v", got, tc.want)
			}
			for api, check := range tc.want {
				if !strings.Contains(got[api], check) {
					t.Errorf("%s: warning %q does not name %q", api, got[api], check)
				}
			}
		})
	}
}

// lockedLog is a log destination that a server's goroutines may share.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestCallbackPortReadinessAsksJetStreamSeldom: anyone who reaches the
// callback port can ask its /readyz, as often as they like (the rate
// limit is the callbacks'). Each answer asked JetStream's API about the
// stream, an API every stage shares: requests from the internet were
// requests to it, one for one. The stream is asked about at most once a
// second there; the admin port, which only the cluster reaches, still
// asks every time.
func TestCallbackPortReadinessAsksJetStreamSeldom(t *testing.T) {
	h := startIngest(t, nil, withAdminAddr)
	ingesttest.WaitReady(t, h.adminURL)
	apiCalls := func() uint64 {
		info, err := h.js.AccountInfo(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return info.API.Total
	}
	const asked = 50
	before := apiCalls()
	for range asked {
		if status, _ := h.get(t, h.url+"/readyz"); status != http.StatusOK {
			t.Fatalf("callback port /readyz: got %d, want 200", status)
		}
	}
	// Besides the two AccountInfo requests: the first answer, one more
	// if a second passed, and the stream watch (every 5 s).
	if got := apiCalls() - before; got > 6 {
		t.Errorf("%d requests to the callback port's /readyz made %d JetStream API requests", asked, got)
	}
	before = apiCalls()
	for range 3 {
		if status, _ := h.get(t, h.adminURL+"/readyz"); status != http.StatusOK {
			t.Fatalf("admin /readyz: got %d, want 200", status)
		}
	}
	if got := apiCalls() - before; got < 3 {
		t.Errorf("3 requests to the admin port's /readyz made %d JetStream API requests, want one each", got)
	}
}
