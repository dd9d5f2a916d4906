// Package jumio is kycflow's client of Jumio's APIs: OAuth2 and Basic
// authentication, the Platform and Netverify Retrieval APIs, the Account
// API, and typed errors that say whether a failure is worth retrying.
//
// Jumio documentation:
//   - Platform callbacks: https://documentation.jumio.ai/docs/developer-resources/callback
//   - OAuth2: https://documentation.jumio.ai/docs/developer-resources/API/authorization
//   - Retrieval: https://documentation.jumio.ai/docs/developer-resources/retrieval
//   - Accounts: https://documentation.jumio.ai/docs/developer-resources/API/CreateUpdateAccounts/creating-and-updating-accounts
//   - Netverify callbacks and retrieval: https://github.com/Jumio/implementation-guides/tree/master/netverify
//
// A Client (NewClient) is shared by every goroutine of a process: it holds
// one OAuth2 token (clientcredentials, refreshed ahead of expiry, one token
// request at a time, a 401 refreshes it once) and one request-rate limiter
// (golang.org/x/time/rate; a 429 pauses every caller for Retry-After and
// halves the rate for a while). Transient failures are retried within a
// call with exponential back-off and jitter (cenkalti/backoff/v4); every
// error that comes back is an *APIError or wraps a sentinel, and Classify
// turns it into RetryNow, RetryAfter(d) or Permanent. A 404 soon after the
// callback means "not ready yet": NotReadyIfRecent marks it, and Classify
// then follows NotReadySchedule, Jumio's 40 s … 940 s retrieval back-off.
// Spans (otelhttp) are named after the Endpoint, and no error string, span
// or metric carries personal data or credentials.
//
// Callers wait for the budget in lanes (Lane, WithLane): live requests
// first and with most of the burst kept for them, the bulk lanes
// (reconcile, replay, migrate) sharing what live leaves by weight. The
// client also speaks Jumio's data migration API (MigrateScans, whose
// documented refusals come back as a *MigrationError by class) and its
// delete endpoints (DeleteAccount, DeleteWorkflowExecution,
// DeleteNetverifyScan, DeleteNetverifyAuthentication).
//
// The payload types the client sends and returns (workflow details,
// Netverify retrieval data, the Account API request and response) and the
// callback parsers live in package wire, which has no HTTP client, so that
// pure code such as pkg/mapping can use them.
package jumio
