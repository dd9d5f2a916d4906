package cli

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kycflow/kycflow/internal/ingest/ingesttest"
)

// TestSendHintsAtThePathSecret: when every callback is answered 404, send
// says that ingest may have a secret path segment and how to give it;
// other failures get no such hint.
func TestSendHintsAtThePathSecret(t *testing.T) {
	for _, tc := range []struct {
		status int
		hint   bool
	}{{http.StatusNotFound, true}, {http.StatusServiceUnavailable, false}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tc.status) }))
		var out, errOut ingesttest.SyncBuffer
		code := Main(t.Context(), []string{"send", "--url", srv.URL, "--samples"}, func(string) string { return "" }, nil, &out, &errOut)
		srv.Close()
		if code != 1 {
			t.Errorf("%d: exit %d, want 1", tc.status, code)
		}
		if got := strings.Contains(errOut.String(), "KYCFLOW_INGEST_PATH_SECRET"); got != tc.hint {
			t.Errorf("%d: hint at the path secret %v, want %v:\n%s", tc.status, got, tc.hint, errOut.String())
		}
	}
}
