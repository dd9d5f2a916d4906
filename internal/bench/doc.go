// Package bench measures kycflow's services against minimal reference
// implementations on the same machine, in the same run, with the same
// JetStream configuration, and reports throughput and latency ratios (the
// targets of the design are ratios, since absolute figures drift between
// runs and machines).
//
// It is a library: "kycflow bench ingest" and the end-to-end benchmark
// drive it. It also generates realistic, distinct Jumio callbacks, which
// tests use as load.
package bench
