// Package ingest is the HTTP service Jumio calls when a verification ends.
// It verifies the sender, reads the Platform (JSON) or Netverify (form or
// query string) callback, and stores it in the JUMIO_CALLBACKS stream under
// a deterministic event id before it answers: 200 means stored. A repeated
// callback is stored once (JetStream's duplicate window) and still answered
// 200; a broker that is down or slow gets 503 with Retry-After, never 200.
//
// Endpoints:
//
//	POST /callbacks/platform[/<secret>]   application/json
//	POST /callbacks/netverify[/<secret>]  application/x-www-form-urlencoded, or a query string
//
// Sender verification, each part switchable: the client address (from
// X-Forwarded-For only when the peer is a trusted proxy) against Jumio's
// published callback addresses for the configured region; an unguessable
// path segment compared in constant time; and an HMAC token in
// userReference (wire.VerifyUserReference). Jumio documents no callback
// signature, so these are the checks there are. A per-address rate limit
// applies to addresses outside the allowed sources only: Jumio's own are
// never turned away with 429. A Platform callback whose href names another
// region than the configured one is stored with that region, counted and
// logged; the enricher dead-letters it until the configuration is fixed.
//
// Errors are RFC 9457 problem documents whose type ends in a stable reason
// (see the Reason constants); the same reason labels the
// kycflow_ingest_rejected_total metric. Logs and spans carry ids and
// reasons, never callback bodies.
//
// Jumio callback documentation:
// https://documentation.jumio.ai/docs/developer-resources/callback and
// https://github.com/Jumio/implementation-guides/blob/master/netverify/callback.md
package ingest
