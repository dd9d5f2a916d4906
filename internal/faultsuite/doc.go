// Package faultsuite is kycflow's fault suite: it runs the real binaries
// (internal/bench/rig: an external nats-server, ingest, the enricher and
// the notifier as processes, the Jumio simulator, a webhook receiver) and
// breaks things while callbacks flow:
//
//   - the NATS server killed (SIGKILL) and restarted;
//   - the enricher and the notifier killed (SIGKILL) mid-flight and
//     restarted;
//   - Jumio answering 503, then refusing connections, then back;
//   - one webhook endpoint answering 503, then refusing connections, then
//     back, while the other routes deliver;
//   - duplicate, late and out-of-order callbacks;
//   - malformed and hostile requests at ingest (oversize bodies, deep
//     JSON, invalid UTF-8, header floods, slow headers and bodies) next to
//     valid traffic.
//
// Every case ends with the ledger (rig.Ledger): each callback answered
// 200 is delivered per matching route, dead-lettered, dropped as stale or
// suppressed as an identical repeat, and no execution status reaches a
// route under two ids. Cases pass or fail on the ledger and on counts,
// never on timing; they log their figures (recovery times, retries, 429s,
// memory), which "go test -v" shows.
//
// The suite takes a few minutes and is skipped with -short; "go test
// -race ./..." (CI) runs it, with the binaries built with the race
// detector too. Run it alone with
//
//	go test -race -v -count=1 ./internal/faultsuite
//
// and KYCFLOW_TEST_LOG=1 to see the processes' logs.
package faultsuite
