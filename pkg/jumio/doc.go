// Package jumio is kycflow's edge to Jumio: callback parsing and sender
// verification, OAuth2 and Basic authentication, the Platform and Netverify
// Retrieval APIs, the Account API, and typed errors that say whether a
// failure is worth retrying.
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
// or metric carries personal data or credentials. Types that hold personal
// data (Netverify callbacks and retrieval data, workflow details,
// credentials, the Account API request and response, …) implement
// slog.LogValuer, fmt.Stringer and fmt.GoStringer and give ids, statuses
// and document types only.
//
// Types that decode Jumio payloads are tolerant: unknown enum values pass
// through as strings, "N/A" is empty, timestamps take 0–3 fractional digits,
// and fields Jumio sends in more than one shape decode from each.
// Workflow details go further: a field that still cannot be read (a risk
// score as a string, a malformed timestamp, a capability of another shape)
// is left out rather than failing the document (WorkflowDetails.UnmarshalJSON);
// callbacks stay strict.
package jumio
