// Package reconcile finds workflow executions whose final callback Jumio
// never delivered and feeds them into the pipeline from Jumio's status API.
//
// Jumio retries a callback a few times, then gives up without telling
// anyone; its guidance is to fall back on the Retrieval API
// (docs/jumio.md, §1.4 and §4.2). The reconciler learns of executions that
// are due a callback from three sources: non-final Platform callbacks
// (INITIATED, ACQUIRED) stored in JUMIO_CALLBACKS, "kycflow initiate", and
// the events.InitiatedEvent any service publishes on
// jumio.executions.initiated.<account>.<execution> (JUMIO_EXECUTIONS). It
// keeps each in the key-value bucket Bucket with a deadline: when it was
// initiated plus its token lifetime plus processing slack. A final callback
// ends it. When the deadline passes first, a pass asks Jumio's status API
// (in the reconcile lane of the Jumio budget) and, when the execution is
// final, publishes a callback event marked Reconciled into JUMIO_CALLBACKS,
// so the enricher and notifier produce its result as for any callback;
// expired tokens and sessions go the same way, reported as such. An
// execution still not final is asked again later, and given up after a
// number of checks.
//
// The reconciler runs inside the enricher process (Enricher.Run starts it)
// and is safe with any number of replicas: they share the durable consumers
// that feed the bucket, every write to the bucket is a compare-and-set, a
// pass claims an execution (a lease in its entry) before asking Jumio, and
// the reconciled callback's event id is the same whoever publishes it
// (events.ReconciledEventID), so JetStream and the enricher store and
// enrich it once. docs/architecture.md#reconciliation-of-missed-callbacks
// says why it is built this way.
package reconcile
