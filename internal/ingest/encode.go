package ingest

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/kycflow/kycflow/pkg/events"
)

// appendEvent appends ev as JSON, byte for byte as encoding/json encodes
// it with HTML escaping off (a test compares the two on fixtures and fuzzed
// values, and fails when events.CallbackEvent gains a field this function
// does not write). It spares every stored callback a pass of reflection.
func appendEvent(b []byte, ev events.CallbackEvent) ([]byte, error) {
	b = append(b, `{"schemaVersion":`...)
	b = strconv.AppendInt(b, int64(ev.SchemaVersion), 10)
	b = appendField(b, "eventId", ev.EventID)
	b = appendField(b, "api", string(ev.API))
	b = appendField(b, "kind", string(ev.Kind))
	if ev.Region != "" {
		b = appendField(b, "region", ev.Region)
	}
	if ev.AccountID != "" {
		b = appendField(b, "accountId", ev.AccountID)
	}
	b = appendField(b, "workflowExecutionId", ev.WorkflowExecutionID)
	if ev.WorkflowDefinitionKey != "" {
		b = appendField(b, "workflowDefinitionKey", ev.WorkflowDefinitionKey)
	}
	b = appendField(b, "status", ev.Status)
	if ev.CallbackSentAt != nil {
		b = append(b, `,"callbackSentAt":`...)
		b = appendTime(b, *ev.CallbackSentAt)
	}
	b = append(b, `,"receivedAt":`...)
	b = appendTime(b, ev.ReceivedAt)
	if len(ev.JSON) > 0 {
		b = append(b, `,"json":`...)
		buf := bytes.NewBuffer(b)
		if err := json.Compact(buf, ev.JSON); err != nil {
			return nil, err
		}
		b = buf.Bytes()
	}
	if ev.Form != "" {
		b = appendField(b, "form", ev.Form)
	}
	return append(b, '}'), nil
}

func appendField(b []byte, name, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

// appendTime writes t as time.Time.MarshalJSON does for the UTC times of a
// callback event.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way encoding/json does with
// HTML escaping off: control characters, '"' and '\\' escaped, invalid
// UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
