// Package e2e holds kycflow's end-to-end tests: "kycflow run" as a child
// process with its embedded JetStream server and Jumio simulator, driven
// by the operator commands as a person would (the README's quick start,
// replay, dead-letter re-drive, erasure, restart), and the ledger of the
// whole pipeline (every accepted callback delivered once per matching
// route or dead-lettered). The tests that start processes are skipped
// under -short; CI runs them.
package e2e
