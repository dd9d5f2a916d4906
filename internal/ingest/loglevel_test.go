package ingest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kycflow/kycflow/internal/bench"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/ingest"
	"github.com/kycflow/kycflow/internal/telemetry"
)

// TestStoredCallbackLoggedAtDebug: at the default level (info) a stored
// callback, new or repeated, writes no log line; at debug it writes one,
// "callback stored" or "callback already stored", with its event id.
func TestStoredCallbackLoggedAtDebug(t *testing.T) {
	broker := brokertest.Start(t)
	for _, tc := range []struct {
		level string
		want  []string
	}{
		{"info", nil},
		{"debug", []string{"callback stored", "callback already stored"}},
	} {
		t.Run(tc.level, func(t *testing.T) {
			nc, _ := broker.JetStream(t)
			var logs bytes.Buffer
			tel, err := telemetry.Setup(t.Context(), telemetry.Config{ServiceName: "ingest", LogFormat: "json", LogLevel: tc.level}, &logs)
			if err != nil {
				t.Fatal(err)
			}
			svc, err := ingest.New(ingest.LoadConfig(config.FromMap(map[string]string{"KYCFLOW_INGEST_ALLOWED_SOURCES": "127.0.0.1"})), nc, tel)
			if err != nil {
				t.Fatal(err)
			}
			cb := bench.PlatformCallback(t.Name(), 0)
			var ids []string
			for range 2 {
				req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/callbacks/platform", bytes.NewReader(cb.Body))
				req.RemoteAddr = "127.0.0.1:5000"
				req.Header.Set("Content-Type", cb.ContentType)
				w := httptest.NewRecorder()
				svc.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					t.Fatalf("got %d, want 200", w.Code)
				}
				ids = append(ids, w.Header().Get("Kycflow-Event-Id"))
			}
			var got []string
			for line := range strings.Lines(logs.String()) {
				var rec struct {
					Msg     string
					EventID string `json:"event_id"`
				}
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				if rec.EventID != ids[0] {
					t.Errorf("%q: event_id %q, want %q", rec.Msg, rec.EventID, ids[0])
				}
				got = append(got, rec.Msg)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got lines %q, want %q", got, tc.want)
			}
		})
	}
}
