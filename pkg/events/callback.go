package events

import (
	"encoding/json"
	"log/slog"
	"time"
)

// CallbackKind says which kind of Jumio callback an event holds.
type CallbackKind string

// Callback kinds. Platform callbacks are all of kind KindWorkflow; Netverify
// has three kinds with different fields.
const (
	KindWorkflow             CallbackKind = "workflow"
	KindIDVerification       CallbackKind = "id_verification"
	KindAuthentication       CallbackKind = "authentication"
	KindDocumentVerification CallbackKind = "document_verification"
)

// CallbackEvent is what ingest stores in JUMIO_CALLBACKS: the ids it
// verified and the callback exactly as Jumio sent it. It is the JSON body of
// the message; schema/callback-event.v1.json describes it.
//
// Netverify callbacks carry personal data in Form. CallbackEvent implements
// slog.LogValuer, fmt.Stringer and fmt.GoStringer and logs and prints ids
// and the status only.
type CallbackEvent struct {
	// SchemaVersion is 1.
	SchemaVersion int `json:"schemaVersion"`
	// EventID is the deterministic event id (PlatformEventID or
	// NetverifyEventID); it is also the message's ce-id and Nats-Msg-Id.
	EventID string `json:"eventId"`
	// API is the Jumio API that sent the callback.
	API API `json:"api"`
	// Kind is the kind of callback.
	Kind CallbackKind `json:"kind"`
	// Region is the Jumio region configured for this ingest endpoint
	// (amer-1, emea-1, apac-1), cross-checked against the callback's href.
	Region string `json:"region,omitempty"`
	// AccountID is the Jumio account id; empty for Netverify.
	AccountID string `json:"accountId,omitempty"`
	// WorkflowExecutionID is the workflow execution id, or for Netverify
	// the scan (or transaction) reference, which Jumio keeps as the
	// workflow execution id when it migrates data.
	WorkflowExecutionID string `json:"workflowExecutionId"`
	// WorkflowDefinitionKey is the Platform workflow definition key.
	WorkflowDefinitionKey string `json:"workflowDefinitionKey,omitempty"`
	// Status is the Platform workflowExecution.status, the Netverify
	// verificationStatus, the authentication transactionResult or the
	// document verification document status.
	Status string `json:"status"`
	// CallbackSentAt is the Platform callbackSentAt or Netverify
	// callbackDate (timestamp for document verification); absent when Jumio
	// sent none.
	CallbackSentAt *time.Time `json:"callbackSentAt,omitempty"`
	// ReceivedAt is when ingest received the request.
	ReceivedAt time.Time `json:"receivedAt"`
	// JSON is the Platform callback body as received.
	JSON json.RawMessage `json:"json,omitempty"`
	// Form is the Netverify callback as received: the form body, followed
	// by the query string when both were sent ("body&query").
	Form string `json:"form,omitempty"`
	// Reconciled marks a callback that Jumio did not send: kycflow's
	// reconciler made it from Jumio's status API because no final callback
	// had come by the execution's deadline. Its EventID is
	// ReconciledEventID, CallbackSentAt is absent, ReceivedAt is when it
	// was reconciled and JSON is the status API's answer. Platform only.
	Reconciled bool `json:"reconciled,omitempty"`
}

// Subject is the subject the event is stored under.
func (e CallbackEvent) Subject() string {
	return CallbackSubject(e.API, e.AccountID, e.WorkflowExecutionID)
}

// LogValue logs the ids and the status, never the payload.
func (e CallbackEvent) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("event_id", e.EventID),
		slog.String("api", string(e.API)),
		slog.String("kind", string(e.Kind)),
		slog.String("account_id", e.AccountID),
		slog.String("workflow_execution_id", e.WorkflowExecutionID),
		slog.String("status", e.Status),
	)
}
