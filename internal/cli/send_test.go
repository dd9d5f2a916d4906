package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/ingest/ingesttest"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestSendShowsProgressAndCountsOnInterrupt: "kycflow send" prints each
// callback as it is answered, not all at the end, and Ctrl-C stops it with
// how many were sent and how they were answered.
func TestSendShowsProgressAndCountsOnInterrupt(t *testing.T) {
	sim := jumiotest.NewServer(jumiotest.Config{})
	defer sim.Close()
	release := make(chan struct{})
	var n atomic.Int32
	ingest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) > 3 {
			<-release // the fourth callback is never answered while the test runs
		}
	}))
	defer ingest.Close()
	defer close(release)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errOut ingesttest.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"send", "--simulator", sim.URL(), "--url", ingest.URL, "--count", "10", "--rate", "0", "--concurrency", "1", "--data-dir", t.TempDir()},
			noEnv, nil, &out, &errOut)
	}()
	deadline := time.After(30 * time.Second) // fails instead of hanging
	for strings.Count(out.String(), "\n") < 3 {
		select {
		case code := <-done:
			t.Fatalf("send ended (%d) before it was interrupted:\n%s\n%s", code, out.String(), errOut.String())
		case <-deadline:
			t.Fatalf("no line per answered callback while sending:\n%s", out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if code := <-done; code != 1 {
		t.Errorf("exit: got %d, want 1", code)
	}
	if want := "kycflow: send: interrupted after 3 callbacks: 3× 200 (the rest were not sent)\n"; errOut.String() != want {
		t.Errorf("stderr: got %q, want %q", errOut.String(), want)
	}
}

// TestSendRetriesWhatIngestRateLimits: an ingest that answers 429 with
// Retry-After (its per-address limit, as "kycflow run" applies to
// loopback) gets each such callback again after the wait, as Jumio would
// send it again: every callback ends stored and send exits 0. With
// --retries 0 the 429s are the answers, and send exits 1.
func TestSendRetriesWhatIngestRateLimits(t *testing.T) {
	for _, tc := range []struct {
		retries string
		code    int
	}{{"5", 0}, {"0", 1}} {
		t.Run("retries "+tc.retries, func(t *testing.T) {
			sim := jumiotest.NewServer(jumiotest.Config{})
			defer sim.Close()
			var n atomic.Int32
			ingest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1)%2 == 1 { // every other request is over the limit
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(http.StatusTooManyRequests)
				}
			}))
			defer ingest.Close()
			var out, errOut ingesttest.SyncBuffer
			code := Main(t.Context(), []string{"send", "--simulator", sim.URL(), "--url", ingest.URL, "--count", "4", "--rate", "0",
				"--concurrency", "1", "--retries", tc.retries, "--data-dir", t.TempDir()}, noEnv, nil, &out, &errOut)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.code, out.String(), errOut.String())
			}
			if tc.code == 0 && strings.Contains(out.String(), "429") {
				t.Errorf("a 429 was the last answer despite the retries:\n%s", out.String())
			}
		})
	}
}
