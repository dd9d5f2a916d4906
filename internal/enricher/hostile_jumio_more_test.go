package enricher_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/erasure"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestPaddedPendingDetailsRetried: after a PROCESSED callback the details
// still say INITIATED (Jumio lagging), with a trailing space. The check for
// details that lag read the status unpadded and let it through; the
// mapping trims it and published NOT_EXECUTED/INITIATED as the callback's
// verdict, and the real one (PASSED) never followed. The status is read as
// the mapping reads it: the callback waits until the details have ended.
func TestPaddedPendingDetailsRetried(t *testing.T) {
	h, x := passedExecution(t, 201, time.Time{})
	lagging := withWorkflowStatus(t, x.Details, "INITIATED ")
	sim := h.jumio.Handler()
	var served atomic.Int32
	cfg := hostileJumio(t, h, h.config(), func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/workflow-executions/"+x.ID) {
			return false
		}
		if served.Add(1) > 2 { // Jumio catches up
			sim.ServeHTTP(w, r)
			return true
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(lagging)
		return true
	})
	h.start(cfg, nil)
	h.publish(h.platformEvent(x, time.Now()), nil)
	h.settle(1)
	if n := len(h.enriched()); n != 1 {
		t.Fatalf("%d results, want 1", n)
	}
	for _, m := range h.enriched() {
		r := m.Event.Result
		if r.Status != events.StatusProcessed || r.Decision.Type != events.DecisionPassed {
			t.Errorf("PROCESSED callback published as status %s decision %s/%s from lagging details (%d details requests); the callback is acked",
				r.Status, r.Decision.Type, r.Decision.Label, served.Load())
		}
	}
}

// TestExpiredCallbackPassedDetailsNoVerdict: Jumio calls back TOKEN_EXPIRED
// (the user never finished), yet the details answered for it say
// PROCESSED / PASSED. The contradiction was published as PASSED; two
// different ends are an unreadable workflow.status: WARNING.
func TestExpiredCallbackPassedDetailsNoVerdict(t *testing.T) {
	h, x := passedExecution(t, 202, time.Time{})
	h.start(h.config(), nil)
	cb := x
	cb.Status = string(events.StatusTokenExpired)
	h.publish(h.platformEvent(cb, time.Now()), nil)
	h.settle(1)
	if n := len(h.enriched()); n != 1 {
		t.Fatalf("%d results, want 1", n)
	}
	for _, m := range h.enriched() {
		r := m.Event.Result
		if r.Decision.Type == events.DecisionPassed {
			t.Errorf("TOKEN_EXPIRED callback published as status %s decision PASSED (details said PROCESSED)", r.Status)
		}
	}
}

// TestErasedAccountServedAgainIsATombstone: kycflow erased the account
// (its marker is in the registry), but Jumio still answers 200 with the
// details (an erasure with --local-only, a deletion Jumio acknowledged and
// has not done yet). The enricher looked at the registry only on a 404 and
// published the person again. A callback of an erased account or
// execution is a tombstone, whatever Jumio answers.
func TestErasedAccountServedAgainIsATombstone(t *testing.T) {
	m := afterAccountErasure(t, time.Time{}, time.Now())
	if r := m.Event.Result; r.Timestamps.WipedOut == nil || r.Person != nil || len(m.Event.Raw) != 0 {
		t.Errorf("callback of an erased account published with raw %s (%d bytes), person %v, wipedOut %v: want a tombstone",
			m.Event.RawType, len(m.Event.Raw), r.Person != nil, r.Timestamps.WipedOut)
	}
}

// TestErasedWhileFetchedIsATombstone: "kycflow erase" marks the execution
// while Jumio answers the enricher's request for its details (the
// request went out before the mark; the erasure's purge would come
// before the result's publish). The registry was read only before the
// fetch, and the person was published after the erasure. The markers are
// read once the details are in hand: a tombstone.
func TestErasedWhileFetchedIsATombstone(t *testing.T) {
	for _, marks := range []struct {
		name    string
		account bool
	}{{"execution", false}, {"account", true}} {
		t.Run(marks.name, func(t *testing.T) {
			h, x := passedExecution(t, 204, time.Time{})
			reg, err := erasure.Ensure(t.Context(), h.js, erasure.Config{})
			if err != nil {
				t.Fatal(err)
			}
			sim := h.jumio.Handler()
			var marked atomic.Bool
			cfg := hostileJumio(t, h, h.config(), func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.HasSuffix(r.URL.Path, "/workflow-executions/"+x.ID) {
					return false
				}
				if !marked.Swap(true) {
					var err error
					if marks.account {
						err = reg.Mark(r.Context(), "e1", time.Now(), x.AccountID)
					} else {
						err = reg.Mark(r.Context(), "e1", time.Now(), "", x.ID)
					}
					if err != nil {
						t.Error(err)
					}
				}
				sim.ServeHTTP(w, r)
				return true
			})
			h.start(cfg, nil)
			h.publish(h.platformEvent(x, time.Now()), nil)
			h.settle(1)
			ms := h.enriched()
			if len(ms) != 1 {
				t.Fatalf("%d results, want 1", len(ms))
			}
			if r := ms[0].Event.Result; !marked.Load() || r.Timestamps.WipedOut == nil || r.Person != nil || len(ms[0].Event.Raw) != 0 {
				t.Errorf("erased while its details were fetched (marked %v): published with raw %s (%d bytes), person %v, wipedOut %v; want a tombstone",
					marked.Load(), ms[0].Event.RawType, len(ms[0].Event.Raw), r.Person != nil, r.Timestamps.WipedOut)
			}
		})
	}
}

// TestNewExecutionAfterAccountErasureIsEnriched: the account was erased a
// day ago (with --local-only: Jumio keeps it); the end user verifies again
// today in the same Platform account. The new execution is a verification
// of its own, enriched in full: only executions made before the erasure
// are tombstones.
func TestNewExecutionAfterAccountErasureIsEnriched(t *testing.T) {
	m := afterAccountErasure(t, time.Now().Add(-10*time.Minute), time.Now().Add(-24*time.Hour))
	if r := m.Event.Result; r.Timestamps.WipedOut != nil || r.Decision.Type != events.DecisionPassed {
		t.Errorf("a new execution of an account erased a day ago: decision %s, wipedOut %v, raw %s; want it enriched",
			r.Decision.Type, r.Timestamps.WipedOut, m.Event.RawType)
	}
}

// afterAccountErasure enriches the callback of a PASSED execution Jumio
// made at created (the scenario's default when zero) whose account
// kycflow marked erased at erased, and returns its one result.
func afterAccountErasure(t *testing.T, created, erased time.Time) enrichedMsg {
	t.Helper()
	h, x := passedExecution(t, 203, created)
	h.start(h.config(), nil)
	reg, err := erasure.Ensure(t.Context(), h.js, erasure.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Mark(t.Context(), "e1", erased, x.AccountID); err != nil {
		t.Fatal(err)
	}
	h.publish(h.platformEvent(x, time.Now()), nil)
	h.settle(1)
	ms := h.enriched()
	if len(ms) != 1 {
		t.Fatalf("%d results, want 1", len(ms))
	}
	return ms[0]
}

// passedExecution is a harness whose simulator serves one PASSED
// execution, made at start (the scenario's default when zero).
func passedExecution(t *testing.T, seed uint64, start time.Time) (*harness, jumiotest.Execution) {
	t.Helper()
	h := newHarness(t, jumiotest.Config{})
	execs, _ := jumiotest.Generate(jumiotest.Scenario{Seed: seed, Executions: 1, Mix: jumiotest.Mix{Passed: 1}, Start: start})
	if err := h.jumio.AddExecution(execs[0]); err != nil {
		t.Fatal(err)
	}
	return h, execs[0]
}
