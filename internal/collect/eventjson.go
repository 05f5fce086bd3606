package collect

import (
	"encoding/json"
	"unicode/utf8"
)

// decodeEventJSON reads an events API body into ej without reflection:
// encoding/json was a quarter of the event handler's time. It covers what
// trackers send, a flat object of known keys whose strings have no escapes,
// and reports false for anything else (an unknown or differently cased
// key, an escape, invalid UTF-8, a type the field does not take, malformed
// JSON), which the caller then hands to encoding/json. Where it reports
// true, ej is what json.Unmarshal would have produced; FuzzDecodeEventJSON
// holds it to that.
func decodeEventJSON(body []byte, ej *eventJSON) bool {
	d := eventDecoder{b: body, s: string(body)}
	d.space()
	if !d.byte('{') {
		return false
	}
	d.space()
	if d.byte('}') {
		return d.end()
	}
	for {
		key, ok := d.plainString()
		if !ok {
			return false
		}
		d.space()
		if !d.byte(':') {
			return false
		}
		d.space()
		if !d.field(key, ej) {
			return false
		}
		d.space()
		if d.byte(',') {
			d.space()
			continue
		}
		if d.byte('}') {
			return d.end()
		}
		return false
	}
}

// eventDecoder is a cursor over a JSON body. The strings it returns are
// parts of s, one copy of the body, and the fields point into strs: a
// beacon costs two allocations however many fields it has.
type eventDecoder struct {
	b    []byte
	s    string
	i    int
	strs []string
}

func (d *eventDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// byte consumes c if it is next.
func (d *eventDecoder) byte(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (d *eventDecoder) end() bool {
	d.space()
	return d.i == len(d.b)
}

// plainString reads a string without escapes or control characters, in
// valid UTF-8, and returns its bytes (which alias the body).
func (d *eventDecoder) plainString() ([]byte, bool) {
	if !d.byte('"') {
		return nil, false
	}
	start, ascii := d.i, true
	for i := start; i < len(d.b); i++ {
		switch c := d.b[i]; {
		case c == '"':
			d.i = i + 1
			s := d.b[start:i]
			return s, ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, false
}

// literal consumes word (null, true, false).
func (d *eventDecoder) literal(word string) bool {
	if len(d.b)-d.i >= len(word) && string(d.b[d.i:d.i+len(word)]) == word {
		d.i += len(word)
		return true
	}
	return false
}

// number reads a JSON number and returns its text.
func (d *eventDecoder) number() (string, bool) {
	start := d.i
	d.byte('-')
	switch {
	case d.byte('0'):
	case d.digits() == 0:
		return "", false
	}
	if d.byte('.') && d.digits() == 0 {
		return "", false
	}
	if d.byte('e') || d.byte('E') {
		if !d.byte('+') {
			d.byte('-')
		}
		if d.digits() == 0 {
			return "", false
		}
	}
	return d.s[start:d.i], true
}

// digits consumes decimal digits and returns how many.
func (d *eventDecoder) digits() int {
	start := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i - start
}

// value skips any JSON value and returns its bytes, for the fields kept
// raw. Strings inside it may have escapes; only the structure is checked
// here, the rest by whoever reads the raw value (parseProps).
func (d *eventDecoder) value(depth int) ([]byte, bool) {
	if depth > 32 {
		return nil, false
	}
	start := d.i
	if d.i >= len(d.b) {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '"':
		if _, ok := d.plainString(); !ok {
			return nil, false
		}
	case c == '{' || c == '[':
		d.i++
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		d.space()
		if !d.byte(closing) {
			for {
				if c == '{' {
					if _, ok := d.plainString(); !ok {
						return nil, false
					}
					d.space()
					if !d.byte(':') {
						return nil, false
					}
					d.space()
				}
				if _, ok := d.value(depth + 1); !ok {
					return nil, false
				}
				d.space()
				if d.byte(closing) {
					break
				}
				if !d.byte(',') {
					return nil, false
				}
				d.space()
			}
		}
	case c == 't':
		if !d.literal("true") {
			return nil, false
		}
	case c == 'f':
		if !d.literal("false") {
			return nil, false
		}
	case c == 'n':
		if !d.literal("null") {
			return nil, false
		}
	default:
		if _, ok := d.number(); !ok {
			return nil, false
		}
	}
	return d.b[start:d.i], true
}

// str reads a string field: a plain string, or null (which leaves the
// field unset, as encoding/json does for a pointer).
func (d *eventDecoder) str(p **string) bool {
	if d.literal("null") {
		*p = nil
		return true
	}
	start := d.i + 1
	if _, ok := d.plainString(); !ok {
		return false
	}
	if d.strs == nil {
		d.strs = make([]string, 0, 8)
	}
	v := d.s[start : d.i-1]
	if len(d.strs) == cap(d.strs) {
		*p = &v
		return true
	}
	d.strs = append(d.strs, v)
	*p = &d.strs[len(d.strs)-1]
	return true
}

// num reads a number field; null leaves it as it was.
func (d *eventDecoder) num(p *json.Number) bool {
	if d.literal("null") {
		return true
	}
	s, ok := d.number()
	if ok {
		*p = json.Number(s)
	}
	return ok
}

// raw reads a field kept as raw JSON; it owns a copy of the bytes.
func (d *eventDecoder) raw(p *json.RawMessage) bool {
	v, ok := d.value(0)
	if ok {
		*p = append(json.RawMessage(nil), v...)
	}
	return ok
}

// field reads the value of key into ej.
func (d *eventDecoder) field(key []byte, ej *eventJSON) bool {
	switch string(key) {
	case "n":
		return d.str(&ej.N)
	case "u":
		return d.str(&ej.U)
	case "d":
		return d.str(&ej.D)
	case "r":
		return d.str(&ej.R)
	case "p":
		return d.raw(&ej.P)
	case "sw":
		return d.num(&ej.SW)
	case "w":
		return d.num(&ej.W)
	case "screen_width":
		return d.num(&ej.ScreenWidth)
	case "sh":
		return d.num(&ej.SH)
	case "vw":
		return d.num(&ej.VW)
	case "vh":
		return d.num(&ej.VH)
	case "dpr":
		return d.num(&ej.DPR)
	case "cd":
		return d.num(&ej.CD)
	case "l":
		return d.str(&ej.L)
	case "tz":
		return d.str(&ej.TZ)
	case "pid":
		return d.str(&ej.PID)
	case "e":
		return d.num(&ej.E)
	case "sd":
		return d.num(&ej.SD)
	case "h":
		return d.raw(&ej.H)
	case "m":
		return d.raw(&ej.M)
	case "name":
		return d.str(&ej.Name)
	case "url":
		return d.str(&ej.URL)
	case "domain":
		return d.str(&ej.Domain)
	case "referrer":
		return d.str(&ej.Referrer)
	case "props":
		return d.raw(&ej.Props)
	case "$":
		return d.raw(&ej.Rev)
	case "revenue":
		return d.raw(&ej.Revenue)
	case "i":
		return d.raw(&ej.I)
	case "interactive":
		return d.raw(&ej.Interactive)
	}
	return false
}
