package enricher

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// callback is a stored callback the enricher works on.
type callback struct {
	ev events.CallbackEvent
	// sentAt orders the callbacks of one execution: callbackSentAt, but
	// at most events.MaxCallbackLead after ingest received it (or the
	// stream stored it), else when it was received, else stored
	// (events.CallbackOrderTime).
	sentAt time.Time
	// since is when the callback was sent, as far as kycflow can vouch:
	// sentAt, but never after ingest received it (a callbackSentAt ahead
	// of the clocks must not stretch the retry budgets, which count from
	// it).
	since time.Time
	// replay is set when the message was re-fed by a replay (header
	// Kycflow-Replay); replayHeader is the header as received.
	replay       *events.ReplayMarker
	replayHeader string
	// lane is the Kycflow-Lane header, as received (checked by lane).
	lane string
	// tombstone: the transaction was erased; its result is a tombstone
	// made from the erasure registry.
	tombstone bool
	// attempt is the message's delivery count, 1 on the first.
	attempt int
}

// key is the state key of the callback's execution.
func (c *callback) key() string { return StateKey(c.ev.AccountID, c.ev.WorkflowExecutionID) }

// mark is the callback as the execution state sees it.
func (c *callback) mark() mark {
	return mark{eventID: c.ev.EventID, sentAt: c.sentAt, status: strings.ToUpper(c.ev.Status), reconciled: c.ev.Reconciled}
}

// eventIDRE is what a callback event's id must look like: what ingest
// makes (events.EventID) and the result schema accepts.
var eventIDRE = regexp.MustCompile(events.EventIDPattern)

// invalid returns a permanent ErrInvalidCallback saying what is wrong in
// words of its own, never with a value from the payload.
func invalid(format string, args ...any) error {
	return permanent(fmt.Errorf("%w: %s", ErrInvalidCallback, fmt.Sprintf(format, args...)))
}

// decodeCallback reads and checks the callback event of msg; stored is
// when the stream stored it. Errors are permanent ErrInvalidCallback.
func decodeCallback(msg *message.Message, stored time.Time) (*callback, error) {
	var ev events.CallbackEvent
	// The decoder's own errors can quote the payload; they are replaced.
	if err := json.Unmarshal(msg.Payload, &ev); err != nil {
		return nil, invalid("body is not a callback event JSON object")
	}
	switch {
	case ev.SchemaVersion != 1:
		return nil, invalid("schema version %d is not supported", ev.SchemaVersion)
	case !eventIDRE.MatchString(ev.EventID):
		return nil, invalid("eventId missing or malformed")
	case ev.WorkflowExecutionID == "":
		return nil, invalid("workflowExecutionId missing")
	}
	switch ev.API {
	case events.APIPlatform:
		switch {
		case !wire.ValidID(ev.AccountID):
			return nil, invalid("accountId missing or not a UUID")
		case !wire.ValidID(ev.WorkflowExecutionID):
			return nil, invalid("workflowExecutionId is not a UUID")
		}
	case events.APINetverify:
		if ev.Form == "" {
			return nil, invalid("form missing")
		}
	default:
		return nil, invalid("api is neither platform nor netverify")
	}
	c := &callback{ev: ev, attempt: broker.Attempt(msg)}
	c.sentAt = cmp.Or(events.CallbackOrderTime(ev.CallbackSentAt, cmp.Or(ev.ReceivedAt, stored)), stored)
	c.since = c.sentAt
	if upper := cmp.Or(ev.ReceivedAt, stored); !upper.IsZero() && c.since.After(upper) {
		c.since = upper
	}
	c.lane = msg.Metadata.Get(events.HeaderLane)
	if h := msg.Metadata.Get(events.HeaderReplay); h != "" {
		m, err := events.ParseReplayMarker(h)
		if err != nil {
			return nil, invalid("malformed %s header", events.HeaderReplay)
		}
		c.replay, c.replayHeader = &m, h
	}
	return c, nil
}

// parseForm parses a Netverify callback as ingest stored it. A form that
// is not valid UTF-8 text (ingest refuses those; one stored before it did
// is permanent) is never mapped.
func parseForm(form string) (*wire.NetverifyMessage, url.Values, error) {
	values, _, err := wire.NetverifyForm([]byte(form), "")
	if err != nil {
		return nil, nil, permanent(fmt.Errorf("%w: %w", ErrInvalidCallback, err))
	}
	m, err := wire.ParseNetverifyCallback(values)
	if err != nil {
		// *wire.CallbackError names the field, never its value.
		return nil, nil, permanent(fmt.Errorf("%w: %w", ErrInvalidCallback, err))
	}
	return m, values, nil
}

// formJSON is a Netverify callback's fields as a JSON object: each field
// once, a string, or an array of strings when it was sent more than once.
func formJSON(values url.Values) (json.RawMessage, error) {
	out := make(map[string]any, len(values))
	for k, vs := range values {
		switch len(vs) {
		case 0:
		case 1:
			out[k] = vs[0]
		default:
			out[k] = vs
		}
	}
	return json.Marshal(out)
}
