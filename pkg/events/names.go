package events

import (
	"strings"
)

// Stream names. Services create these streams at start; renaming one makes
// the services create a new, empty stream next to the old one.
const (
	// StreamCallbacks holds Jumio callbacks as received (Netverify callbacks
	// carry personal data).
	StreamCallbacks = "JUMIO_CALLBACKS"
	// StreamEnriched holds normalized results plus the raw Jumio document.
	StreamEnriched = "JUMIO_ENRICHED"
	// StreamResults holds what downstream services consume, projected per
	// route policy.
	StreamResults = "JUMIO_RESULTS"
	// StreamDLQ holds dead letters: the original payload plus error headers.
	StreamDLQ = "JUMIO_DLQ"
)

// Subject roots of the four streams. Each stream captures "<root>.>".
const (
	SubjectCallbacks = "jumio.callbacks"
	SubjectEnriched  = "jumio.enriched"
	SubjectResults   = "jumio.results"
	SubjectDLQ       = "jumio.dlq"
)

// API names the Jumio API that produced a callback or result.
type API string

// The two Jumio APIs kycflow understands.
const (
	APIPlatform  API = "platform"
	APINetverify API = "netverify"
)

// LegacyAccount is the account token used in subjects for Netverify
// transactions, which have no Jumio account id.
const LegacyAccount = "legacy"

// Stage names a processing stage; it appears in DLQ subjects and in the
// Kycflow-Stage header.
type Stage string

// Stages that can dead-letter a message.
const (
	StageEnrich Stage = "enrich"
	StageNotify Stage = "notify"
	// StageReconcile dead-letters initiated events it cannot read.
	StageReconcile Stage = "reconcile"
	// StageWork is the enricher's bulk Jumio work (migration batches).
	StageWork Stage = "work"
)

// Token makes s safe to use as one NATS subject token: the empty string
// becomes "_", and '.', '*', '>' and whitespace become '_'. Jumio ids
// (UUIDs, numeric workflow keys) pass through unchanged.
func Token(s string) string {
	if s == "" {
		return "_"
	}
	ok := true
	for i := 0; i < len(s); i++ {
		if !tokenByte(s[i]) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; tokenByte(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func tokenByte(c byte) bool {
	switch c {
	case '.', '*', '>', ' ', '\t', '\r', '\n', '\f', '\v':
		return false
	}
	return c > 0x20 && c < 0x7f
}

// AccountToken returns the account token of a subject: the account id, or
// LegacyAccount when there is none (Netverify).
func AccountToken(accountID string) string {
	if accountID == "" {
		return LegacyAccount
	}
	return Token(accountID)
}

// CallbackSubject is the subject of a stored callback:
// jumio.callbacks.<api>.<account>.<execution>.
func CallbackSubject(api API, accountID, executionID string) string {
	return SubjectCallbacks + "." + Token(string(api)) + "." + AccountToken(accountID) + "." + Token(executionID)
}

// EnrichedSubject is the subject of an enriched result:
// jumio.enriched.<account>.<execution>.
func EnrichedSubject(accountID, executionID string) string {
	return SubjectEnriched + "." + AccountToken(accountID) + "." + Token(executionID)
}

// ResultSubject is the subject of a result published for downstream
// services: <prefix>.<decision>.<workflowKey>.<account>.<execution>, where
// prefix defaults to SubjectResults and decision is lower case. A decision
// that is one of the four only in another spelling ("passed", "Passed")
// is not one of them: its token is "undocumented", so that a subscriber
// to the passed results never receives it.
func ResultSubject(prefix string, decision DecisionType, workflowKey, accountID, executionID string) string {
	if prefix == "" {
		prefix = SubjectResults
	}
	token := strings.ToLower(string(decision))
	if !decision.Documented() && DecisionType(strings.ToUpper(token)).Documented() {
		token = "undocumented"
	}
	return prefix + "." + Token(token) + "." + Token(workflowKey) + "." + AccountToken(accountID) + "." + Token(executionID)
}

// DLQSubject is the subject of a dead letter:
// jumio.dlq.<stage>.<account>.<execution>. For the notifier the stage token
// is "notify-<route>", so that one route's dead letters are one filter.
func DLQSubject(stage Stage, route, accountID, executionID string) string {
	return SubjectDLQ + "." + DLQStageToken(stage, route) + "." + AccountToken(accountID) + "." + Token(executionID)
}

// DLQStageToken is the stage token of a DLQ subject: the stage, or
// "<stage>-<route>" when a route is given.
func DLQStageToken(stage Stage, route string) string {
	if route == "" {
		return Token(string(stage))
	}
	return Token(string(stage) + "-" + route)
}

// AccountFilters returns, for each stream, the subject filter that selects
// every message of one account. Erasure purges by these filters.
func AccountFilters(accountID string) map[string]string {
	a := AccountToken(accountID)
	return map[string]string{
		StreamCallbacks:  SubjectCallbacks + ".*." + a + ".*",
		StreamEnriched:   SubjectEnriched + "." + a + ".*",
		StreamResults:    SubjectResults + ".*.*." + a + ".*",
		StreamDLQ:        SubjectDLQ + ".*." + a + ".*",
		StreamExecutions: SubjectExecutions + ".*." + a + ".*",
	}
}

// ExecutionFilters returns, for each stream, the subject filter that selects
// every message of one workflow execution (or Netverify scan reference).
func ExecutionFilters(executionID string) map[string]string {
	e := Token(executionID)
	return map[string]string{
		StreamCallbacks:  SubjectCallbacks + ".*.*." + e,
		StreamEnriched:   SubjectEnriched + ".*." + e,
		StreamResults:    SubjectResults + ".*.*.*." + e,
		StreamDLQ:        SubjectDLQ + ".*.*." + e,
		StreamExecutions: SubjectExecutions + ".*.*." + e,
	}
}
