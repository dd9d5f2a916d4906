// Package migration is kycflow's side of Jumio's Netverify → Platform data
// migration (docs/jumio.md section 7; docs/architecture.md "Data
// migration"): which scans were asked to be migrated, into which account,
// and what became of each, kept in a JetStream key-value bucket (Bucket),
// and the batches "kycflow migrate-data" queues for the enricher in the
// work stream (StreamWork).
//
// The enricher does the Jumio requests, in the migrate lane of its one
// Jumio client, so that the migration uses what live callbacks leave of
// the tenant's request budget (jumio.Lane):
//
//   - Runner.Run sends one batch: one migration request per account
//     group, a scan marked requested before its request leaves, refused
//     scans marked failed with Jumio's class, the account a group went to
//     recorded for its later batches;
//   - Store.Lookup tells the enricher that a Platform callback is the
//     callback of a migrated scan (its execution id is the scan
//     reference): it is fetched in the migrate lane, its result is linked
//     to the Netverify original, and Store.MarkMigrated records that the
//     callback arrived.
//
// Every record holds ids, times and Jumio's error class, never personal
// data. Running a batch again (a redelivery after a crash) repeats no
// scan that was answered: groups done are skipped, and scans Jumio says
// are in progress or migrated already after an earlier attempt of the
// same batch count as requested, not failed.
package migration
