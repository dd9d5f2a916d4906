// Package jumiotest is an in-process fake of Jumio, like net/http/httptest:
// one server speaks the OAuth2 token endpoint, the Account API, the
// Platform Retrieval API, the Netverify v2 Retrieval API, the data
// migration API and the delete endpoints with the shapes Jumio documents
// (migration.go), checks credentials and the User-Agent, enforces a
// per-tenant request budget with Jumio's 429, expires and revokes tokens,
// and counts every request by endpoint and status for test assertions.
//
// Executions come from fixtures (AddDetails, AddExecution,
// AddNetverifyScan) or from a deterministic scenario generator (Scenario,
// Generate): Platform executions with a mix of PASSED, WARNING, REJECTED,
// SESSION_EXPIRED and TOKEN_EXPIRED outcomes across workflow keys and
// countries, with capabilities consistent with the decision and invented
// names, and Netverify ID-verification, authentication and document
// verification transactions.
//
// Faults are injected per endpoint or globally (Inject: error statuses,
// 429s, dropped connections, malformed bodies, latency; NotReady: 404 until
// an execution is ready; RevokeTokens). SendCallbacks posts Platform JSON
// and Netverify form callbacks, once or at a rate, with duplicates and
// out-of-order repeats on request; given one of kycflow ingest's callback
// URLs it derives the other API's (ResolveCallbackURLs).
//
// Start serves on 127.0.0.1; StartInMemory serves over in-memory
// connections (use Transport), so tests can run under testing/synctest.
// cmd/jumiosim serves it for demos and docker compose.
//
// Jumio documentation: https://documentation.jumio.ai/docs/developer-resources/retrieval
// and https://github.com/Jumio/implementation-guides/tree/master/netverify.
package jumiotest
