package enricher_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestLongJumioPauseIsReported: a 429 from Jumio whose Retry-After pauses
// every request for longer than a minute reaches the enricher's own log
// at ERROR and its metrics (kycflow_jumio_long_pauses), where an operator
// sees it.
func TestLongJumioPauseIsReported(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	var logs lockedBuffer
	h.tel.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	h.jumio.Inject(jumiotest.Fault{Endpoints: detailsEndpoint, Status: http.StatusTooManyRequests, RetryAfter: 2 * time.Minute, Count: 1})
	h.start(h.config(), nil)
	h.publishAll(h.executions(1, 31))

	errorLogged := func() bool {
		for line := range strings.SplitSeq(logs.String(), "\n") {
			var rec struct{ Level, Msg string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Level == "ERROR" && strings.Contains(rec.Msg, "every request paused") {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(30 * time.Second)
	for !errorLogged() || h.counter(jumio.MetricLongPauses) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after a 429 with Retry-After 2m: ERROR logged %v, %s = %d; want both\nlogs:\n%s",
				errorLogged(), jumio.MetricLongPauses, h.counter(jumio.MetricLongPauses), logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
