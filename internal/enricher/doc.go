// Package enricher is kycflow's enrich stage: it reads the callbacks
// ingest stored in JUMIO_CALLBACKS (durable consumer Durable), fetches the
// full result from Jumio's Retrieval API, maps it into the normalized
// result (pkg/mapping), and stores it with the raw Jumio document in
// JUMIO_ENRICHED; what it cannot enrich goes to JUMIO_DLQ.
//
//   - Platform callbacks: the workflow details are fetched with ids from
//     the callback and the Jumio client's region, never the callback's
//     href, and mapped with mapping.FromPlatform.
//   - Netverify callbacks carry their data, but anyone with a Jumio
//     account can send one: with the Netverify credentials (and unless
//     Config.NetverifyConfirm turns it off) an ID-verification callback
//     only triggers its retrieval (scan status until it is not PENDING,
//     then /data, mapped with mapping.FromNetverifyData); authentication
//     and document-verification callbacks, which cannot be retrieved,
//     are mapped with mapping.FromNetverify and never PASSED. Without
//     confirmation every Netverify callback is mapped from its fields.
//   - A handler that panics is recovered (broker.Recoverer): the callback
//     is redelivered with the back-off of transient failures and
//     dead-lettered with class panic past RetryMaxAttempts.
//
// Per workflow execution a JetStream key-value bucket (StateBucket) holds
// the newest callback enriched or being enriched and the event ids
// recently enriched: a callback older than the newest is dropped as
// stale, a repeated event id is dropped as a duplicate, also across
// redeliveries and restarts. A callback claims its execution before it is
// fetched and checks the claim again before it is published; the output's
// Nats-Msg-Id is the event id, so JetStream's duplicate window drops the
// repeat that a crash between publish and record causes.
//
// Failures are decided in one place (retryPolicy.decide): data not ready
// yet is redelivered on Jumio's 40 s … 940 s schedule counted from the
// callback; 429, 5xx, timeouts, 401 and broker hiccups are redelivered
// with exponential back-off and jitter (no sooner than Retry-After) up to
// a retry budget; permanent failures and callbacks past their budget are
// dead-lettered with their payload, then acked. A redelivery waits on the
// server (NakWithDelay), never in a worker, so one callback's retries
// never hold back the others. The one Jumio client of the process holds one
// OAuth2 token and one rate limiter for every worker: a 429 slows them all.
//
// Jumio documentation: https://documentation.jumio.ai/docs/developer-resources/retrieval
// and https://github.com/Jumio/implementation-guides/blob/master/netverify/netverify-retrieval-api.md.
package enricher
