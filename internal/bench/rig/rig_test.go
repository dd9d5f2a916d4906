package rig

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
)

// TestGate: requests pass an open gate; a shut one refuses connections;
// opened again, it serves on the same address.
func TestGate(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer backend.Close()
	g, err := NewGate(backend.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	get := func() error {
		tr := &http.Transport{DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(g.URL())
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if string(b) != "ok" {
			t.Errorf("through the gate: got %q, want ok", b)
		}
		return nil
	}
	if err := get(); err != nil {
		t.Fatalf("open gate: %v", err)
	}
	g.Shut()
	if err := get(); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("shut gate: got %v, want connection refused", err)
	}
	if err := g.Open(); err != nil {
		t.Fatal(err)
	}
	if err := get(); err != nil {
		t.Fatalf("opened again: %v", err)
	}
}

// TestReceiver: a signed webhook is logged; a bad signature is refused and
// counted; Fail answers the status without logging a delivery.
func TestReceiver(t *testing.T) {
	r, err := NewReceiver()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	key, err := events.ParseWebhookSecret(r.Secret())
	if err != nil {
		t.Fatal(err)
	}
	env := events.WebhookEnvelope{Type: events.WebhookTypeResult, Data: events.Result{
		IDs: events.IDs{AccountID: "a", WorkflowExecutionID: "e"}, Status: events.StatusProcessed, Decision: events.Decision{Type: events.DecisionPassed}}}
	body, _ := json.Marshal(env)
	send := func(route, id string, sign bool) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+r.Addr()+"/hooks/"+route, bytes.NewReader(body))
		ts := time.Now().Unix()
		req.Header.Set(events.HeaderWebhookID, id)
		req.Header.Set(events.HeaderWebhookTimestamp, strconv.FormatInt(ts, 10))
		sig := events.SignWebhook([][]byte{key}, id, ts, body)
		if !sign {
			sig = events.SignWebhook([][]byte{bytes.Repeat([]byte{1}, 32)}, id, ts, body)
		}
		req.Header.Set(events.HeaderWebhookSignature, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := send("a", "msg_1", true); got != http.StatusNoContent {
		t.Errorf("signed: got %d, want 204", got)
	}
	if got := send("a", "msg_2", false); got != http.StatusUnauthorized {
		t.Errorf("badly signed: got %d, want 401", got)
	}
	r.Fail("b", http.StatusServiceUnavailable)
	if got := send("b", "msg_3", true); got != http.StatusServiceUnavailable {
		t.Errorf("failing route: got %d, want 503", got)
	}
	got := r.Deliveries("")
	if len(got) != 1 || got[0].Route != "a" || got[0].ID != "msg_1" || got[0].ExecutionID != "e" || got[0].Status != events.StatusProcessed {
		t.Errorf("deliveries: got %+v, want msg_1 to a", got)
	}
	if n := r.Invalid(); n != 1 {
		t.Errorf("invalid: got %d, want 1", n)
	}
	if total, failed := r.Attempts("b"); total != 1 || failed != 1 {
		t.Errorf("attempts at b: got %d, %d failed, want 1, 1", total, failed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.WaitFor(ctx, "a", 1); err != nil {
		t.Error(err)
	}
}

// TestMetric: the sum over the series of one metric with the labels
// asked for.
func TestMetric(t *testing.T) {
	exposition := `# HELP kycflow_x_total X.
# TYPE kycflow_x_total counter
kycflow_x_total{otel_scope_name="s",reason="jumio"} 3
kycflow_x_total{otel_scope_name="s",reason="broker"} 2
kycflow_x_total_other{reason="jumio"} 100
kycflow_y 7
`
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, exposition) }), ReadHeaderTimeout: time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	p := &Process{cfg: ProcessConfig{Name: "test"}, addr: ln.Addr().String()}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"kycflow_x_total", nil, 5},
		{"kycflow_x_total", map[string]string{"reason": "jumio"}, 3},
		{"kycflow_x_total", map[string]string{"reason": "none"}, 0},
		{"kycflow_y", nil, 7},
	} {
		got, err := p.Metric(t.Context(), tc.name, tc.labels)
		if err != nil || got != tc.want {
			t.Errorf("Metric(%s, %v): got %v, %v, want %v", tc.name, tc.labels, got, err, tc.want)
		}
	}
}
