package wire

// decodeCallback decodes a Platform callback body into cb (a zero
// Callback) as json.Unmarshal would, for the shape Jumio sends: one object
// whose keys are the documented ones, spelled exactly and each once, with
// string values (definitionKey may be a number) and plain ids, status and
// userReference (printable ASCII, no escapes). For anything else it
// reports false, and the caller decodes with encoding/json: other keys or
// spellings (encoding/json matches them case-insensitively), repeated
// keys, null, escapes, invalid JSON. A test compares the two on fuzzed
// input.
//
// It reads the body once; encoding/json validates it first, then decodes
// it through reflection, which costs a Platform callback several times
// more. Why it is worth its code, on ingest's hot path (every callback):
// BenchmarkDecodeCallback on callback-processed.json, 2 CPUs shared with
// other builds (load average about 20), 10 runs of 0.5 s: hand-written
// 3.8 µs (fastest run; median 7.5 µs, 8 allocations), encoding/json 12.8 µs
// (median 26 µs, 15 allocations): about 3.4 times less, some 9 µs of the
// 150–200 µs of CPU a stored callback costs. The differential fuzz test
// (FuzzDecodeCallback) keeps it decoding as encoding/json does. The timestamp and the definition key go through their own
// UnmarshalJSON, after the whole body was found valid, as encoding/json
// would call them; their error is returned with true.
func decodeCallback(body []byte, cb *Callback) (bool, error) {
	d := callbackDecoder{b: body}
	var sentAt, defKey []byte
	var seen, seenExec, seenAccount uint8
	once := func(seen *uint8, bit uint8) bool {
		if *seen&bit != 0 {
			return false
		}
		*seen |= bit
		return true
	}
	ok := d.object(func(key []byte) bool {
		switch string(key) {
		case "callbackSentAt":
			var ok bool
			sentAt, _, ok = d.str()
			return once(&seen, 1) && ok
		case "userReference":
			return once(&seen, 2) && d.plain(&cb.UserReference)
		case "workflowExecution":
			return once(&seen, 4) && d.object(func(key []byte) bool {
				switch string(key) {
				case "id":
					return once(&seenExec, 1) && d.plain(&cb.WorkflowExecution.ID)
				case "href":
					return once(&seenExec, 2) && d.plain(&cb.WorkflowExecution.Href)
				case "status":
					return once(&seenExec, 4) && d.plain(&cb.WorkflowExecution.Status)
				case "definitionKey":
					var ok bool
					defKey, ok = d.scalar()
					return once(&seenExec, 8) && ok
				}
				return false
			})
		case "account":
			return once(&seen, 8) && d.object(func(key []byte) bool {
				switch string(key) {
				case "id":
					return once(&seenAccount, 1) && d.plain(&cb.Account.ID)
				case "href":
					return once(&seenAccount, 2) && d.plain(&cb.Account.Href)
				}
				return false
			})
		}
		return false
	})
	if d.ws(); !ok || d.i != len(d.b) {
		return false, nil
	}
	if sentAt != nil {
		if err := cb.CallbackSentAt.UnmarshalJSON(sentAt); err != nil {
			return true, err
		}
	}
	if defKey != nil {
		if err := cb.WorkflowExecution.DefinitionKey.UnmarshalJSON(defKey); err != nil {
			return true, err
		}
	}
	return true, nil
}

// callbackDecoder reads JSON tokens from b at i.
type callbackDecoder struct {
	b []byte
	i int
}

func (d *callbackDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next skips whitespace and consumes c if it comes next.
func (d *callbackDecoder) next(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// object reads an object whose keys are plain strings, calling value with
// each key to read its value (a switch on string(key) does not allocate).
func (d *callbackDecoder) object(value func(key []byte) bool) bool {
	if !d.next('{') {
		return false
	}
	if d.next('}') {
		return true
	}
	for {
		d.ws()
		raw, plain, ok := d.str()
		if !ok || !plain || !d.next(':') {
			return false
		}
		d.ws()
		if !value(raw[1 : len(raw)-1]) {
			return false
		}
		if !d.next(',') {
			return d.next('}')
		}
	}
}

// plain reads a string of printable ASCII without escapes into v.
func (d *callbackDecoder) plain(v *string) bool {
	raw, plain, ok := d.str()
	if !ok || !plain {
		return false
	}
	*v = string(raw[1 : len(raw)-1])
	return true
}

// scalar reads a string or a number, returning it as it is written.
func (d *callbackDecoder) scalar() ([]byte, bool) {
	if d.i < len(d.b) && d.b[d.i] == '"' {
		raw, _, ok := d.str()
		return raw, ok
	}
	return d.number()
}

// str reads a valid JSON string at i and returns it with its quotes, and
// whether it is plain (printable ASCII, no escapes).
func (d *callbackDecoder) str() (raw []byte, plain, ok bool) {
	b, start := d.b, d.i
	if start >= len(b) || b[start] != '"' {
		return nil, false, false
	}
	plain = true
	for i := start + 1; i < len(b); {
		switch c := b[i]; {
		case c == '"':
			d.i = i + 1
			return b[start:d.i], plain, true
		case c == '\\':
			plain = false
			if i+1 >= len(b) {
				return nil, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+5 >= len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return nil, false, false
				}
				i += 6
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		default:
			if c >= 0x80 {
				plain = false
			}
			i++
		}
	}
	return nil, false, false
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *callbackDecoder) number() ([]byte, bool) {
	b, i := d.b, d.i
	digits := func() bool {
		j := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return nil, false
		}
	}
	raw := b[d.i:i]
	d.i = i
	return raw, true
}
