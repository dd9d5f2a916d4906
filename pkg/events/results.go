package events

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MaxResultPrefixTokens is how many tokens a route's subject prefix may add
// to SubjectResults ("jumio.results.crm" adds one). The bound keeps every
// result of one account or execution a fixed, short list of filters
// (ResultAccountFilters, ResultExecutionFilters), which erasure and replay
// purge and select by.
const MaxResultPrefixTokens = 3

// ErrResultPrefix is returned by ValidateResultPrefix for a prefix that is
// not SubjectResults followed by at most MaxResultPrefixTokens tokens.
var ErrResultPrefix = errors.New("events: invalid result subject prefix")

// decisionTokens are the tokens ResultSubject puts after a prefix for the
// decision.
var decisionTokens = []string{"passed", "warning", "rejected", "not_executed", "undocumented"}

// ValidateResultPrefix checks a subject prefix for results: SubjectResults
// ("jumio.results", the stream's subjects) optionally followed by up to
// MaxResultPrefixTokens tokens of letters, digits, '_' and '-'. No token
// may be a decision token, in any case: a route publishing under
// "jumio.results.passed" would put its rejected results under
// "jumio.results.passed.rejected...", which a subscriber to another
// route's passed results ("jumio.results.passed.>") receives.
func ValidateResultPrefix(prefix string) error {
	rest, ok := strings.CutPrefix(prefix, SubjectResults)
	if !ok {
		return fmt.Errorf("%w: %q does not start with %q", ErrResultPrefix, prefix, SubjectResults)
	}
	if rest == "" {
		return nil
	}
	rest, ok = strings.CutPrefix(rest, ".")
	if !ok {
		return fmt.Errorf("%w: %q does not start with %q", ErrResultPrefix, prefix, SubjectResults+".")
	}
	tokens := strings.Split(rest, ".")
	if len(tokens) > MaxResultPrefixTokens {
		return fmt.Errorf("%w: %q adds %d tokens, at most %d", ErrResultPrefix, prefix, len(tokens), MaxResultPrefixTokens)
	}
	for _, t := range tokens {
		if t == "" || strings.ContainsFunc(t, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
		}) {
			return fmt.Errorf("%w: %q has a token that is empty or not letters, digits, '_' and '-'", ErrResultPrefix, prefix)
		}
		if slices.Contains(decisionTokens, strings.ToLower(t)) {
			return fmt.Errorf("%w: %q has the token %q, which names a decision in result subjects (%s): a subscriber to another route's %s results would receive this route's", ErrResultPrefix, prefix, t, strings.Join(decisionTokens, ", "), strings.ToLower(t))
		}
	}
	return nil
}

// ResultAccountFilters returns the subject filters that select every
// result of one account in StreamResults, whatever prefix a route
// published it under: one filter per prefix length, from SubjectResults
// itself to MaxResultPrefixTokens added tokens. AccountFilters gives only
// the first.
func ResultAccountFilters(accountID string) []string {
	return resultFilters(".*.*." + AccountToken(accountID) + ".*")
}

// ResultExecutionFilters returns the subject filters that select every
// result of one execution in StreamResults, whatever the route prefix (see
// ResultAccountFilters).
func ResultExecutionFilters(executionID string) []string {
	return resultFilters(".*.*.*." + Token(executionID))
}

func resultFilters(tail string) []string {
	out := make([]string, 0, MaxResultPrefixTokens+1)
	prefix := SubjectResults
	for range MaxResultPrefixTokens + 1 {
		out = append(out, prefix+tail)
		prefix += ".*"
	}
	return out
}
