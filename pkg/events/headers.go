package events

// Header names. Messages carry CloudEvents attributes in binary mode (one
// "ce-" header each), the W3C trace context and kycflow's own headers.
// Consumers match on these names: renaming one breaks them.
const (
	HeaderCESpecVersion = "ce-specversion"
	HeaderCEID          = "ce-id"
	HeaderCEType        = "ce-type"
	HeaderCESource      = "ce-source"
	HeaderCETime        = "ce-time"
	HeaderCESubject     = "ce-subject"
	HeaderContentType   = "Content-Type"

	// HeaderMsgID is JetStream's de-duplication header; kycflow sets it to
	// the ce-id, so a repeated event within the stream's duplicate window
	// is stored once.
	HeaderMsgID = "Nats-Msg-Id"

	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"

	// HeaderReplay marks a message re-fed by "kycflow replay" or "kycflow dlq
	// redrive". Its value is a ReplayMarker.
	HeaderReplay = "Kycflow-Replay"

	// HeaderRefed marks a copy that "kycflow replay" or "kycflow dlq
	// redrive" wrote into a stage's input stream; its value is the replay
	// id. No stage passes it on: the enricher's output made from a re-fed
	// callback carries Kycflow-Replay but not this header, so it is a
	// result of its own, while the copy is never selected by a later
	// replay.
	HeaderRefed = "Kycflow-Refed"

	// HeaderLane puts a callback kycflow itself feeds into JUMIO_CALLBACKS
	// (reconciliation) into a bulk lane of the enricher's Jumio budget:
	// "reconcile", "replay" or "migrate". Ingest never sets it; callbacks
	// without it are live (replays and migrated scans are recognised
	// without it).
	HeaderLane = "Kycflow-Lane"

	// HeaderEventID carries the id of the callback event a message derives
	// from, on every stage, so that one verification can be followed from
	// the callback to every delivery.
	HeaderEventID = "Kycflow-Event-Id"

	// Dead-letter headers.
	HeaderError           = "Kycflow-Error"
	HeaderStage           = "Kycflow-Stage"
	HeaderAttempts        = "Kycflow-Attempts"
	HeaderOriginalSubject = "Kycflow-Original-Subject"
	HeaderRoute           = "Kycflow-Route"
	HeaderErrorClass      = "Kycflow-Error-Class"
	// HeaderErrorStack is where a handler panicked, for class "panic":
	// "function file:line" frames from the panic outwards, joined by
	// " < ", without argument values.
	HeaderErrorStack       = "Kycflow-Error-Stack"
	HeaderDeadLetteredAt   = "Kycflow-Dead-Lettered-At"
	HeaderOriginalStream   = "Kycflow-Original-Stream"
	HeaderOriginalSequence = "Kycflow-Original-Sequence"
)

// CloudEvents attribute values.
const (
	// CESpecVersion is the CloudEvents version of every kycflow message.
	CESpecVersion = "1.0"

	// TypeCallback is the ce-type of a stored Jumio callback.
	TypeCallback = "io.kycflow.jumio.callback.v1"
	// TypeEnriched is the ce-type of an enriched result.
	TypeEnriched = "io.kycflow.jumio.enriched.v1"
	// TypeResult is the ce-type of a result for downstream services.
	TypeResult = "io.kycflow.jumio.result.v1"

	// Sources of each stage.
	SourceIngest   = "/kycflow/ingest"
	SourceEnricher = "/kycflow/enricher"
	SourceNotifier = "/kycflow/notifier"

	// ContentTypeJSON is the content type of every kycflow message body.
	ContentTypeJSON = "application/json"
)
