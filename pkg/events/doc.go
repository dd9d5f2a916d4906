// Package events is kycflow's wire contract: stream names, subjects, header
// names, event ids, the callback event stored by ingest, the enriched event
// stored by the enricher and the normalized verification result that
// downstream services consume.
//
// Downstream services import this package, so it depends on the standard
// library only. Everything named here is API: renaming a stream, a subject
// token or a header breaks consumers that were built against it.
//
// Results hold personal data. Project gives a consumer only what its field
// policy allows (full, no_pii, decision_only), and the types that hold
// personal data (Result, Document, Person, Address, ImageRef,
// EnrichedEvent) implement slog.LogValuer and fmt.Stringer so that logs
// and error strings carry ids and decisions, never names, numbers or image
// links.
//
// Webhooks from the notifier follow the Standard Webhooks specification:
// VerifyWebhook checks one in a downstream Go service (see its example),
// and SignWebhook is the signing side the notifier uses, so both share one
// implementation.
//
// The flow and the contracts are described in docs/architecture.md; the
// JSON Schema files next to this package (schema/*.json) describe the
// same shapes for consumers written in other languages.
package events
