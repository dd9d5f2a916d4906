// Package rig runs a whole kycflow pipeline on one machine, for the
// end-to-end benchmark ("kycflow bench e2e") and the fault suite
// (internal/faultsuite): the real binaries built from this module (Build),
// an external nats-server process built from the module the broker
// embeds, ingest, the enricher and the notifier as separate processes or
// "kycflow run" as one (StartPipeline), a webhook receiver that verifies
// every signature and logs every request (Receiver), TCP gates that cut a
// dependency off as its clients see an outage (Gate), and the ledger
// (Audit): every callback answered 200 is accounted for as delivered per
// matching route, dead-lettered, dropped as stale or suppressed as an
// identical repeat, and no execution status reaches a route twice.
//
// Everything listens on 127.0.0.1. Process figures (resident memory, CPU
// time) come from /proc, so the rig runs on Linux.
package rig
