// Package schema holds the JSON Schema files of kycflow's wire contract, for
// consumers written in other languages and for kycflow's own tests:
//
//   - callback-event.v1.json: events.CallbackEvent, the body of JUMIO_CALLBACKS messages
//   - result.v1.json: events.Result, the body of JUMIO_RESULTS messages and the
//     result inside JUMIO_ENRICHED messages
//   - initiated-event.v1.json: events.InitiatedEvent, the body of the
//     JUMIO_EXECUTIONS messages services publish when they initiate a
//     transaction
//
// The files use JSON Schema draft 2020-12.
package schema

import "embed"

// FS holds the schema files by name.
//
//go:embed *.json
var FS embed.FS

// Names of the schema files in FS.
const (
	CallbackEventV1  = "callback-event.v1.json"
	ResultV1         = "result.v1.json"
	InitiatedEventV1 = "initiated-event.v1.json"
)
