package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// StreamExecutions holds the workflow executions that services announce as
// initiated (InitiatedEvent), so that kycflow reconciles them when Jumio's
// callback does not come. Renaming it makes the services create a new,
// empty stream next to the old one.
const StreamExecutions = "JUMIO_EXECUTIONS"

// SubjectExecutions is the subject root of StreamExecutions; the stream
// captures "jumio.executions.>".
const SubjectExecutions = "jumio.executions"

// TypeInitiated is the ce-type of an InitiatedEvent.
const TypeInitiated = "io.kycflow.jumio.initiated.v1"

// InitiatedSubject is the subject of an InitiatedEvent:
// jumio.executions.initiated.<account>.<execution>. Publish to it with
// JetStream (the stream JUMIO_EXECUTIONS captures it) and wait for the
// ack; InitiatedEvent.Message builds the message.
func InitiatedSubject(accountID, executionID string) string {
	return SubjectExecutions + ".initiated." + AccountToken(accountID) + "." + Token(executionID)
}

// InitiatedEvent says that a Jumio Platform workflow execution was
// initiated (an account created or updated through Jumio's Account API),
// so that a callback is due for it. Any service that initiates
// transactions itself publishes one (Message) on InitiatedSubject; kycflow
// then asks Jumio's status API about the execution if no final callback
// has come by its deadline (initiation plus the token lifetime plus
// processing slack), and feeds the result into the normal pipeline. kycflow
// initiate publishes one for each transaction it creates.
//
// It holds ids and times only, no personal data; schema
// initiated-event.v1.json describes it.
type InitiatedEvent struct {
	// SchemaVersion is 1.
	SchemaVersion int `json:"schemaVersion"`
	// AccountID and WorkflowExecutionID are the ids of the Account API's
	// response (account.id, workflowExecution.id). Required.
	AccountID           string `json:"accountId"`
	WorkflowExecutionID string `json:"workflowExecutionId"`
	// WorkflowDefinitionKey is the workflow key of the request.
	WorkflowDefinitionKey string `json:"workflowDefinitionKey,omitempty"`
	// InitiatedAt is when the account request was answered. Required.
	InitiatedAt time.Time `json:"initiatedAt"`
	// TokenLifetime is the request's tokenLifetime as Jumio reads it
	// ("30m", "2h", "7d"); empty means the tenant's default, which kycflow
	// takes from its configuration.
	TokenLifetime string `json:"tokenLifetime,omitempty"`
	// Source names the service that initiated the transaction, for
	// operators ("onboarding-api"); at most 64 characters.
	Source string `json:"source,omitempty"`
}

// ErrInvalidInitiated is matched by every error InitiatedEvent.Validate
// returns.
var ErrInvalidInitiated = errors.New("events: invalid initiated event")

var (
	uuidRE     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	lifetimeRE = regexp.MustCompile(`^\+?(\d{1,9})([smhd])$`)
)

// Validate checks the event: schema version 1, UUID ids, an initiation
// time, a token lifetime Jumio would take (5m to 60d). Errors name the
// field, never its value.
func (e InitiatedEvent) Validate() error {
	var bad []string
	if e.SchemaVersion != 1 {
		bad = append(bad, "schemaVersion is not 1")
	}
	if !uuidRE.MatchString(e.AccountID) {
		bad = append(bad, "accountId is not a UUID")
	}
	if !uuidRE.MatchString(e.WorkflowExecutionID) {
		bad = append(bad, "workflowExecutionId is not a UUID")
	}
	if e.InitiatedAt.IsZero() {
		bad = append(bad, "initiatedAt is missing")
	}
	if e.TokenLifetime != "" {
		if d, err := ParseTokenLifetime(e.TokenLifetime); err != nil || d < 5*time.Minute || d > 60*24*time.Hour {
			bad = append(bad, "tokenLifetime is not 5m to 60d like 30m, 2h or 7d")
		}
	}
	if len(e.Source) > 64 || strings.ContainsFunc(e.Source, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		bad = append(bad, "source is longer than 64 characters or holds control characters")
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidInitiated, strings.Join(bad, "; "))
	}
	return nil
}

// ParseTokenLifetime reads a tokenLifetime of Jumio's Account API: a
// number and a unit, s, m, h or d ("30m", "7d").
func ParseTokenLifetime(s string) (time.Duration, error) {
	m := lifetimeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("events: token lifetime %q is not like 30m, 2h or 7d", s)
	}
	var n int64
	for _, c := range m[1] {
		n = n*10 + int64(c-'0')
	}
	unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
	return time.Duration(n) * unit, nil
}

// EventID is the event's deterministic id: one per execution, so that
// announcing an execution twice stores it once.
func (e InitiatedEvent) EventID() string {
	return EventID("initiated", e.AccountID, e.WorkflowExecutionID)
}

// Subject is InitiatedSubject of the event's ids.
func (e InitiatedEvent) Subject() string { return InitiatedSubject(e.AccountID, e.WorkflowExecutionID) }

// Message returns the message to publish with JetStream: the subject, the
// headers (CloudEvents binary mode, Nats-Msg-Id = EventID, so a repeated
// announcement within the stream's duplicate window is stored once) and
// the JSON body. source is the ce-source ("/onboarding-api"). It checks
// the event first (Validate). With nats.go:
//
//	subj, hdr, body, err := ev.Message("/onboarding-api")
//	_, err = js.PublishMsg(ctx, &nats.Msg{Subject: subj, Header: nats.Header(hdr), Data: body})
func (e InitiatedEvent) Message(source string) (subject string, header map[string][]string, body []byte, err error) {
	if err := e.Validate(); err != nil {
		return "", nil, nil, err
	}
	body, err = json.Marshal(e)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%w: %w", ErrInvalidInitiated, err)
	}
	id := e.EventID()
	header = map[string][]string{
		HeaderCESpecVersion: {CESpecVersion},
		HeaderCEID:          {id},
		HeaderCEType:        {TypeInitiated},
		HeaderCESource:      {source},
		HeaderCETime:        {e.InitiatedAt.UTC().Format(time.RFC3339Nano)},
		HeaderCESubject:     {e.WorkflowExecutionID},
		HeaderContentType:   {ContentTypeJSON},
		HeaderMsgID:         {id},
	}
	return e.Subject(), header, body, nil
}

// SourceReconciler is the ce-source of the callbacks the reconciler feeds
// into JUMIO_CALLBACKS.
const SourceReconciler = "/kycflow/reconciler"

// ReconciledEventID is the event id of a reconciled callback
// (CallbackEvent.Reconciled): sha256(workflow execution id, status,
// "reconciled"). Jumio's status API gives no callbackSentAt, so the id
// cannot be the one the missed callback would have had; it is the same
// for every reconciliation of the execution in that status instead, so two
// replicas or two passes that reconcile it store it once, and the enricher
// drops the missed callback if it arrives after all (see
// docs/architecture.md#reconciliation-of-missed-callbacks).
func ReconciledEventID(executionID, status string) string {
	return EventID(string(APIPlatform), executionID, status, "reconciled")
}
