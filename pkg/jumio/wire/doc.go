// Package wire holds Jumio's payloads as Go types, with no HTTP client:
// Platform and Netverify callbacks and their parsers (the event id, the
// sender's region, the signed userReference), Platform workflow details,
// Netverify retrieval data, and the Account API request and response.
// Package jumio sends and receives them; pure code such as pkg/mapping
// imports only this package, so it never links net/http.
//
// Jumio documentation:
//   - Platform callbacks: https://documentation.jumio.ai/docs/developer-resources/callback
//   - Retrieval: https://documentation.jumio.ai/docs/developer-resources/retrieval
//   - Accounts: https://documentation.jumio.ai/docs/developer-resources/API/CreateUpdateAccounts/creating-and-updating-accounts
//   - Netverify callbacks and retrieval: https://github.com/Jumio/implementation-guides/tree/master/netverify
//
// Types that hold personal data (Netverify callbacks and retrieval data,
// workflow details, credentials, the Account API request and response, …)
// implement slog.LogValuer, fmt.Stringer and fmt.GoStringer and give ids,
// statuses and document types only.
//
// Types that decode Jumio payloads are tolerant: unknown enum values pass
// through as strings, "N/A" is empty, timestamps take 0–3 fractional digits,
// and fields Jumio sends in more than one shape decode from each.
// Workflow details go further: a field that still cannot be read (a risk
// score as a string, a malformed timestamp, a capability of another shape)
// is left out rather than failing the document (WorkflowDetails.UnmarshalJSON);
// callbacks stay strict.
package wire
