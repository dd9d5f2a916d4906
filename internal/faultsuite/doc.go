// Package faultsuite is kycflow's fault suite: it runs the real binaries
// (internal/bench/rig: external nats-server processes, ingest, the
// enricher and the notifier as processes, the Jumio simulator, a webhook
// receiver) and breaks things while callbacks flow:
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
//     valid traffic; and input ingest must accept that still must not
//     pass (a capability Jumio serves unreadable, forged Netverify copies,
//     a caller's baggage);
//   - and on the shape kycflow ships for, three servers as a JetStream
//     cluster with R3 streams and two processes of each stage: a first
//     start with every stage process started at once on the empty
//     cluster, the stream leader and the meta leader killed, a rolling restart through
//     lame-duck mode, a stage process killed or frozen beyond its ack
//     wait, a server cut off by a partition (network namespaces: root and
//     iproute2, else the case skips), and the operator commands on the R3
//     streams.
//
// Every fault fires once the pipeline is seen holding work, and a case
// fails when nothing was held. Every case ends with the strict ledger
// (rig.Ledger): nothing lost, nothing doubled, drops accounted for by the
// stages' own logs and counters. TestLedgerCatchesLoss proves the ledger
// can fail: against an enricher that loses one callback in 16 it must.
// Cases pass or fail on the ledger and on counts, never on timing; they
// log their figures (held work, recovery times, 503s, same-id repeats),
// which "go test -v" shows.
//
// The suite takes minutes and is skipped with -short; "go test -race
// ./..." (CI) runs it, with the binaries built with the race detector too.
// Run it alone with
//
//	go test -race -v -count=1 ./internal/faultsuite
//
// and KYCFLOW_TEST_LOG=1 to see the processes' logs.
package faultsuite
