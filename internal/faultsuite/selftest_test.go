package faultsuite

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/bench/rig"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestLedgerCatchesLoss is the suite's check on itself: TestStagesKilled's
// run against an enricher that loses about one callback in 16 (acked
// without output, dead letter, metric or log line: the test-only fault
// hook of internal/enricher/faulthooks_on.go) must fail on the ledger,
// with the lost callbacks named. A fault case whose ledger passed here
// could not fail at all. The enricher the other cases run, built without
// the hook's tag as release builds are, must not even name the hook's
// variable.
func TestLedgerCatchesLoss(t *testing.T) {
	const oneIn = 16
	b := binaries(t)
	normal, err := os.ReadFile(b.Enricher)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(normal, []byte(enricherDropEnv)) {
		t.Fatalf("the enricher built without the %s tag names %s", rig.FaultHooksTag, enricherDropEnv)
	}

	w := newWorld(t, worldConfig{scenario: jumiotest.Scenario{Seed: 17, Executions: 120, NetverifyScans: 40}, latency: 150 * time.Millisecond, dropOneIn: oneIn})
	sent := stagesKilled(t, w)
	l, err := w.audit(rig.AuditInput{Sent: sent, AllowSameIDRepeats: true})
	switch {
	case l == nil:
		t.Fatalf("audit: %v", err)
	case !errors.Is(err, rig.ErrLedger):
		t.Fatalf("the ledger passed a run whose enricher lost about one callback in %d (audit error %v): the fault cases cannot fail", oneIn, err)
	case len(l.Unaccounted) == 0:
		t.Fatalf("the ledger failed (%v) but named no callback lost in the enricher", err)
	}
	w.figure("the lossy enricher lost %d of %d stored callbacks (about one in %d expected); the ledger failed: %v", len(l.Unaccounted), l.Stored, oneIn, err)
}
