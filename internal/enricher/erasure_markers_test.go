package enricher_test

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"

	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/internal/erasure"
	"github.com/kycflow/kycflow/internal/ingest/ingesttest"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestUnreadableErasureMarkerIsATombstone: the marker of the execution, or
// of its account, is there but does not read as a marker (damaged, or
// written by a later version in another form). An erasure wrote it, so
// the execution is erased as of when it was written: a tombstone, never
// the person's data read as "not erased".
func TestUnreadableErasureMarkerIsATombstone(t *testing.T) {
	for _, tc := range []struct {
		name    string
		account bool
		value   string
	}{
		{"execution, not JSON", false, "not a marker"},
		{"execution, no time", false, `{"erasure":"e1"}`},
		{"account, not JSON", true, "{"},
		{"account, no time", true, `{"erasure":"e1","at":"0001-01-01T00:00:00Z"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, x := passedExecution(t, 205, time.Now().Add(-time.Hour))
			if _, err := erasure.Ensure(t.Context(), h.js, erasure.Config{}); err != nil {
				t.Fatal(err)
			}
			kv, err := h.js.KeyValue(t.Context(), erasure.Bucket)
			if err != nil {
				t.Fatal(err)
			}
			key := erasure.ExecutionMarkerKey(x.ID)
			if tc.account {
				key = erasure.AccountMarkerKey(x.AccountID)
			}
			before := time.Now()
			if _, err := kv.PutString(t.Context(), key, tc.value); err != nil {
				t.Fatal(err)
			}
			h.start(h.config(), nil)
			h.publish(h.platformEvent(x, time.Now()), nil)
			h.settle(1)
			ms := h.enriched()
			if len(ms) != 1 {
				t.Fatalf("%d results, want 1", len(ms))
			}
			r := ms[0].Event.Result
			if r.Timestamps.WipedOut == nil || r.Person != nil || len(ms[0].Event.Raw) != 0 {
				t.Fatalf("unreadable marker %q: published decision %s with raw %s (%d bytes), person %v; want a tombstone",
					tc.value, r.Decision.Type, ms[0].Event.RawType, len(ms[0].Event.Raw), r.Person != nil)
			}
			if at := *r.Timestamps.WipedOut; at.Before(before.Add(-time.Second)) || at.After(time.Now()) {
				t.Errorf("wiped out at %v, want when the marker was written (after %v)", at, before)
			}
		})
	}
}

// TestNetverifyErasedWhileFetchedIsATombstone: a confirmed Netverify scan
// is erased while its retrieval data is fetched (the marker is written as
// Jumio answers). The data Jumio sent is not stored: the markers are read
// once more after the fetch, and the result is a tombstone.
func TestNetverifyErasedWhileFetchedIsATombstone(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	_, scans := jumiotest.Generate(jumiotest.Scenario{Seed: 112, NetverifyScans: 1, NetverifyMix: jumiotest.NetverifyMix{Approved: 1}})
	sc := scans[0]
	if err := h.jumio.AddNetverifyScan(sc); err != nil {
		t.Fatal(err)
	}
	reg, err := erasure.Ensure(t.Context(), h.js, erasure.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var marked atomic.Bool
	cfg := hostileJumio(t, h, h.config(), func(_ http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == jumio.PathNetverifyScans+"/"+sc.Reference+"/data" && !marked.Swap(true) {
			if err := reg.Mark(r.Context(), "e1", time.Now(), "", sc.Reference); err != nil {
				t.Error(err)
			}
		}
		return false // the simulator answers, with the scan's data
	})
	h.start(cfg, nil)
	publishForm(t, h, h.jumio.NetverifyCallback(sc, time.Now()))
	h.settle(1)
	ms := h.enriched()
	if len(ms) != 1 {
		t.Fatalf("%d results, want 1", len(ms))
	}
	if r := ms[0].Event.Result; !marked.Load() || r.Timestamps.WipedOut == nil || r.Person != nil || len(ms[0].Event.Raw) != 0 {
		t.Errorf("erased while its data was fetched (marked %v): published decision %s with raw %s (%d bytes), person %v; want a tombstone",
			marked.Load(), r.Decision.Type, ms[0].Event.RawType, len(ms[0].Event.Raw), r.Person != nil)
	}
	if n := h.jumio.Requests(jumio.EndpointNetverifyData); n != 1 {
		t.Errorf("%d data requests, want 1", n)
	}
}

// TestFetchErrorDecidesRetryWhenMarkersUnreadable: Jumio answers the
// details request 429 with Retry-After, and the erasure markers cannot be
// read either (their bucket is gone for a moment). The callback is
// retried as the 429 says (rate_limited, after its Retry-After), not as
// a broker failure; the markers are read again then, and the result
// follows once both are back.
func TestFetchErrorDecidesRetryWhenMarkersUnreadable(t *testing.T) {
	h, x := passedExecution(t, 206, time.Time{})
	if _, err := erasure.Ensure(t.Context(), h.js, erasure.Config{}); err != nil {
		t.Fatal(err)
	}
	var limited atomic.Bool
	cfg := hostileJumio(t, h, h.config(), func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/workflow-executions/"+x.ID) || limited.Swap(true) {
			return false
		}
		if err := h.js.DeleteKeyValue(r.Context(), erasure.Bucket); err != nil {
			t.Error(err)
		}
		w.Header().Set("Retry-After", strconv.Itoa(1))
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	})
	h.start(cfg, nil)
	h.publish(h.platformEvent(x, time.Now()), nil)
	rateLimited := attribute.String("reason", "rate_limited")
	h.eventually("a retry after the 429", func() bool {
		return h.counter(enricher.MetricRetries) > 0
	})
	if n, all := h.counter(enricher.MetricRetries, rateLimited), h.counter(enricher.MetricRetries); n != 1 || all != 1 {
		t.Errorf("retries after a 429 with the markers unreadable: %d rate_limited of %d, want the one retry rate_limited", n, all)
	}
	if _, err := erasure.Ensure(t.Context(), h.js, erasure.Config{}); err != nil {
		t.Fatal(err)
	}
	h.settle(1)
	ms := h.enriched()
	if len(ms) != 1 || ms[0].Event.Result.Decision.Type != events.DecisionPassed {
		t.Fatalf("%d results, want the one PASSED once Jumio and the markers are back", len(ms))
	}
}

// TestUnreadMarkersNeverDeadLetterOnAPermanentFetchError: a late callback
// (sent an hour ago) of an erased account: Jumio answers 404, permanent
// past the not-ready schedule, and the erasure markers cannot be read at
// that moment (their bucket is gone, then back with the marker). Whether
// the account was erased is not known then: the callback is retried, not
// dead-lettered on the 404, and the next attempt makes its tombstone.
func TestUnreadMarkersNeverDeadLetterOnAPermanentFetchError(t *testing.T) {
	h, x := passedExecution(t, 207, time.Time{})
	mark := func() {
		reg, err := erasure.Ensure(context.Background(), h.js, erasure.Config{})
		if err == nil {
			err = reg.Mark(context.Background(), "e1", time.Now().Add(-time.Minute), x.AccountID)
		}
		if err != nil {
			t.Error(err)
		}
	}
	mark()
	var served atomic.Int32
	restored := make(chan struct{})
	cfg := hostileJumio(t, h, h.config(), func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/workflow-executions/"+x.ID) {
			return false
		}
		if served.Add(1) == 1 {
			if err := h.js.DeleteKeyValue(r.Context(), erasure.Bucket); err != nil {
				t.Error(err)
			}
			go func() {
				defer close(restored)
				time.Sleep(300 * time.Millisecond)
				mark()
			}()
		} else {
			// Later attempts wait for the bucket to be back whole:
			// created and then marked, it is briefly back empty, and an
			// attempt read in between finds no marker and rightly
			// dead-letters the 404 (a busy machine made that window).
			select {
			case <-restored:
			case <-r.Context().Done():
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"message":"not found"}`))
		return true
	})
	h.start(cfg, nil)
	h.publish(h.platformEvent(x, time.Now().Add(-time.Hour)), nil)
	l := h.settle(1)
	<-restored
	if l.DeadLetters != 0 || l.Results != 1 {
		t.Fatalf("ledger %+v after %d fetches: want the erased account's callback retried and tombstoned, never dead-lettered", l, served.Load())
	}
	if r := h.enriched()[0].Event.Result; r.Timestamps.WipedOut == nil {
		t.Errorf("decision %s, want a tombstone", r.Decision.Type)
	}
}

// TestCallbackPurgedByTheErasureIsNoWarning: the erasure purges the
// execution's callback from JUMIO_CALLBACKS while the enricher fetches
// it; the enricher then makes the tombstone and finds the callback gone
// when it deletes it. That is the deletion done, not a failure to warn
// an operator about.
func TestCallbackPurgedByTheErasureIsNoWarning(t *testing.T) {
	h, x := passedExecution(t, 209, time.Time{})
	var logs ingesttest.SyncBuffer
	h.tel.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	reg, err := erasure.Ensure(t.Context(), h.js, erasure.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var purged atomic.Bool
	cfg := hostileJumio(t, h, h.config(), func(_ http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/workflow-executions/"+x.ID) && !purged.Swap(true) {
			// What kycflow erase does: mark, then purge the subject.
			if err := reg.Mark(r.Context(), "e1", time.Now(), "", x.ID); err != nil {
				t.Error(err)
			}
			st, err := h.js.Stream(r.Context(), events.StreamCallbacks)
			if err == nil {
				err = st.Purge(r.Context(), jetstream.WithPurgeSubject(events.CallbackSubject(events.APIPlatform, x.AccountID, x.ID)))
			}
			if err != nil {
				t.Error(err)
			}
		}
		return false
	})
	h.start(cfg, nil)
	h.publish(h.platformEvent(x, time.Now()), nil)
	h.settle(1)
	if !purged.Load() || h.enriched()[0].Event.Result.Timestamps.WipedOut == nil {
		t.Fatalf("purged %v: want the tombstone of the erased execution", purged.Load())
	}
	if strings.Contains(logs.String(), "not deleted") {
		t.Errorf("a callback the erasure purged first is logged as not deleted:\n%s", logs.String())
	}
}
