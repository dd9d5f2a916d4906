package ingest

import (
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/kycflow/kycflow/pkg/events"
)

// appendEvent appends ev as JSON, byte for byte as encoding/json encodes
// it with HTML escaping off (a test compares the two on fixtures and fuzzed
// values, and fails when events.CallbackEvent gains a field this function
// does not write). It spares every stored callback a pass of reflection:
// BenchmarkEncodeEvent, 2 CPUs shared with other builds (load average
// about 20), 10 runs of 0.5 s, fastest run (median): a Platform callback's
// event 3.0 µs (3.8) against encoding/json's 19.0 µs (22.6), a Netverify
// one's 4.4 µs (6.1) against 8.5 µs (18.2), with no allocation against
// three. On ingest's hot path (every callback) that is 4 to 16 µs of the
// 150–200 µs of CPU a stored callback costs.
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
		var err error
		if b, err = appendCompact(b, ev.JSON); err != nil {
			return nil, err
		}
	}
	if ev.Form != "" {
		b = appendField(b, "form", ev.Form)
	}
	if ev.Reconciled {
		b = append(b, `,"reconciled":true`...)
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

// errInvalidJSON is appendCompact's error: the raw JSON of an event is not
// one JSON value.
var errInvalidJSON = errors.New("ingest: invalid JSON")

// maxNestingDepth is encoding/json's limit on nested arrays and objects.
const maxNestingDepth = 10000

// appendCompact appends src without its insignificant whitespace, byte for
// byte as json.Compact does (a test compares the two), and fails where it
// fails: on anything that is not exactly one JSON value, or nests deeper
// than encoding/json allows. It checks each byte once in a plain loop,
// where json.Compact makes a function call per byte; for a callback body
// that is a fifth of the time.
func appendCompact(dst, src []byte) ([]byte, error) {
	c := compactor{src: src, dst: dst}
	if !c.value() {
		return dst, errInvalidJSON
	}
	return append(c.dst, src[c.start:c.i]...), nil
}

// compactor walks src from i; src[start:i] is not yet copied to dst.
type compactor struct {
	src, dst []byte
	i, start int
	depth    int
	// objects holds, per nesting level, whether it is an object.
	objects [(maxNestingDepth + 63) / 64]uint64
}

// space skips whitespace, copying what came before it.
func (c *compactor) space() {
	j := c.i
	for j < len(c.src) && (c.src[j] == ' ' || c.src[j] == '\t' || c.src[j] == '\n' || c.src[j] == '\r') {
		j++
	}
	if j > c.i {
		c.dst = append(c.dst, c.src[c.start:c.i]...)
		c.start = j
		c.i = j
	}
}

// next skips whitespace and reports whether a byte follows, and which.
func (c *compactor) next() (byte, bool) {
	c.space()
	if c.i >= len(c.src) {
		return 0, false
	}
	return c.src[c.i], true
}

func (c *compactor) push(object bool) bool {
	if c.depth == maxNestingDepth {
		return false
	}
	w, bit := c.depth/64, uint64(1)<<(c.depth%64)
	if object {
		c.objects[w] |= bit
	} else {
		c.objects[w] &^= bit
	}
	c.depth++
	return true
}

func (c *compactor) inObject() bool {
	d := c.depth - 1
	return c.objects[d/64]&(uint64(1)<<(d%64)) != 0
}

// value reads one whole JSON value with the whitespace around it, and
// reports whether it was valid and nothing but whitespace followed.
func (c *compactor) value() bool {
	for {
		// A value starts here: a scalar, or a container that is entered.
		b, ok := c.next()
		if !ok {
			return false
		}
		switch {
		case b == '{':
			if !c.push(true) {
				return false
			}
			c.i++
			if b, ok = c.next(); !ok {
				return false
			}
			if b == '}' {
				c.i++
				c.depth--
				break
			}
			if !c.key() {
				return false
			}
			continue
		case b == '[':
			if !c.push(false) {
				return false
			}
			c.i++
			if b, ok = c.next(); !ok {
				return false
			}
			if b == ']' {
				c.i++
				c.depth--
				break
			}
			continue
		case b == '"':
			if !c.string() {
				return false
			}
		case b == '-' || '0' <= b && b <= '9':
			if !c.number() {
				return false
			}
		case b == 't':
			if !c.literal("true") {
				return false
			}
		case b == 'f':
			if !c.literal("false") {
				return false
			}
		case b == 'n':
			if !c.literal("null") {
				return false
			}
		default:
			return false
		}
		// After a value: close containers, or go on to the next element.
		for {
			b, ok := c.next()
			if c.depth == 0 {
				return !ok
			}
			if !ok {
				return false
			}
			object := c.inObject()
			switch {
			case b == ',':
				c.i++
				if object && !c.key() {
					return false
				}
			case b == '}' && object, b == ']' && !object:
				c.i++
				c.depth--
				continue
			default:
				return false
			}
			break
		}
	}
}

// key reads an object key and its colon.
func (c *compactor) key() bool {
	if b, ok := c.next(); !ok || b != '"' || !c.string() {
		return false
	}
	if b, ok := c.next(); !ok || b != ':' {
		return false
	}
	c.i++
	return true
}

// string reads a string; c.src[c.i] is its opening quote. Bytes from 0x80
// up are taken as they are, as encoding/json's scanner does.
func (c *compactor) string() bool {
	s := c.src
	for i := c.i + 1; i < len(s); {
		switch b := s[i]; {
		case b == '"':
			c.i = i + 1
			return true
		case b == '\\':
			if i+1 >= len(s) {
				return false
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+5 >= len(s) || !isHex(s[i+2]) || !isHex(s[i+3]) || !isHex(s[i+4]) || !isHex(s[i+5]) {
					return false
				}
				i += 6
			default:
				return false
			}
		case b < 0x20:
			return false
		default:
			i++
		}
	}
	return false
}

func isHex(b byte) bool { return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F' }

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?.
func (c *compactor) number() bool {
	s, i := c.src, c.i
	digits := func() bool {
		j := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i > j
	}
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case !digits():
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	c.i = i
	return true
}

func (c *compactor) literal(lit string) bool {
	if len(c.src)-c.i < len(lit) || string(c.src[c.i:c.i+len(lit)]) != lit {
		return false
	}
	c.i += len(lit)
	return true
}
