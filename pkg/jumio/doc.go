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
// Types that decode Jumio payloads are tolerant: unknown enum values pass
// through as strings, "N/A" is empty, timestamps take 0–3 fractional digits,
// and fields Jumio sends in more than one shape decode from each.
package jumio
