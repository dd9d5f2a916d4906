// Package mapping turns Jumio payloads into kycflow's normalized result
// (events.Result) and Netverify requests into Platform account requests.
//
// Results, one shape from every source:
//
//   - FromPlatform: Platform workflow details (Retrieval API) plus the
//     callback event that triggered their retrieval.
//   - FromNetverify: a Netverify callback of any kind (ID verification,
//     authentication, document verification).
//   - FromNetverifyData: a Netverify retrieval /data response.
//   - LegacyStatus: the Netverify-equivalent verificationStatus and reject
//     code of any result, for consumers written against Netverify.
//
// Requests, for teams moving off Netverify:
//
//   - FromNetverifyInitiate: a Netverify /initiate body → a Platform
//     account request, plus warnings for what cannot be carried over.
//   - FromPerformNetverify: a Netverify /performNetverify body → the same.
//
// The tables behind the mapping (products, workflow keys, reject codes,
// labels) are in code; docs/mapping.md is generated from them. Products and
// workflow keys differ per tenant: Tables starts from the built-in table and
// takes overrides from configuration (ParseProducts, ParseWorkflows).
//
// Everything here is pure: no I/O, no logging, no clock, no network. Every
// function is safe for concurrent use. Nothing unknown makes a mapping
// fail: unknown statuses, decisions, labels, capabilities and codes pass
// through as strings, and a missing value leaves its field empty.
//
// Jumio documents the mapping only in part (its own Netverify → Platform
// tables are not public), so much of it is inferred; docs/mapping.md marks
// how sure each row is. Sources:
// https://docs.jumio.com/production/Content/Migration/v2%20to%20KYX/Netverify%20to%20Jumio%20Platform%20Transaction%20Data%20Mapping.htm
// and https://documentation.jumio.ai/docs/references/capabilities.
package mapping

//go:generate go test -run TestMappingDoc -update .
