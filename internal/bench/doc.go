// Package bench measures kycflow on one machine, in one run, and reports
// figures that can be compared between runs (Results, as a table and as
// JSON):
//
//   - RunE2E measures the whole pipeline (internal/bench/rig): the Jumio
//     simulator's callbacks posted to ingest at a fixed rate and at
//     saturation, results delivered to a webhook on loopback and to
//     JUMIO_RESULTS, once as separate processes against an external
//     nats-server and once as "kycflow run"; accepted and delivered per
//     second, latency from each callback's scheduled send time to the
//     webhook's arrival, resident memory and CPU per process, and the
//     ledger of every callback.
//   - RunSoak runs the pipeline as processes at a fixed rate for minutes
//     and samples each process's resident memory, goroutines and open file
//     descriptors, and what the streams store, so that a leak shows as a
//     slope; it judges the services flat and nats-server's memory beyond
//     its stored data flat after a warm-up, and draws the ledger.
//   - RunIngest measures ingest against a minimal reference server on the
//     same JetStream configuration, and reports throughput and latency
//     ratios (the design's targets are ratios, since absolute figures
//     drift between runs and machines).
//
// "kycflow bench" drives them. The package also generates realistic,
// distinct Jumio callbacks, which tests use as load.
package bench
