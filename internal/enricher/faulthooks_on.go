//go:build kycflow_faulthooks

package enricher

import (
	"hash/fnv"
	"os"
	"strconv"
)

// FaultHookDropEnv makes an enricher built with the kycflow_faulthooks tag
// ack about one callback in N without any output, no dead letter, no
// metric and no log line: a deliberately lossy enricher, for the fault
// suite to prove that its ledger fails when callbacks are lost
// (internal/faultsuite, TestLedgerCatchesLoss). Release builds never have
// the tag: the variable is not even in their binaries (.ci/run checks).
const FaultHookDropEnv = "KYCFLOW_FAULTHOOK_ENRICHER_DROP_ONE_IN"

// dropOneIn is FaultHookDropEnv, read once (0: drop nothing).
var dropOneIn = func() uint32 {
	n, _ := strconv.ParseUint(os.Getenv(FaultHookDropEnv), 10, 32)
	return uint32(n)
}()

// dropForFaultTest picks the callbacks the hook loses by their event id,
// so that a redelivered one is lost again.
func dropForFaultTest(eventID string) bool {
	if dropOneIn == 0 {
		return false
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(eventID))
	return h.Sum32()%dropOneIn == 0
}
