// Package integrity makes relayed HTTP content provable: Content-Digest
// (RFC 9530) over the body and an HTTP Message Signature (RFC 9421) made
// with Ed25519 over the status, the digest, the content type and the
// request's target URI, and the verifier for both. It carries the subset
// of Structured Field Values (RFC 8941) those fields use.
package integrity

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Item is a bare item of a structured field: a string, a token, an
// integer, a decimal, a boolean or a byte sequence.
type Item struct {
	Kind  byte // 's' string, 't' token, 'i' integer, 'd' decimal, 'b' boolean, ':' bytes
	Str   string
	Int   int64
	Dec   float64
	Bool  bool
	Bytes []byte
}

// Param is one parameter (;key=value; a bare key is boolean true).
type Param struct {
	Key   string
	Value Item
}

// Params are an item's or inner list's parameters, in order.
type Params []Param

// Get returns a parameter.
func (ps Params) Get(k string) (Item, bool) {
	for _, p := range ps {
		if p.Key == k {
			return p.Value, true
		}
	}
	return Item{}, false
}

// Member is a dictionary member: an item or an inner list, with
// parameters.
type Member struct {
	Inner  bool
	Item   Item
	List   []ListItem
	Params Params
}

// ListItem is an item of an inner list.
type ListItem struct {
	Item   Item
	Params Params
}

// Dict is a dictionary in order.
type Dict struct {
	Keys    []string
	Members map[string]Member
}

// Get returns a member.
func (d *Dict) Get(k string) (Member, bool) {
	m, ok := d.Members[k]
	return m, ok
}

var errSF = errors.New("integrity: malformed structured field")

type sfParser struct {
	s string
	i int
}

func (p *sfParser) ows() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *sfParser) sp() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) fail(what string) error {
	return fmt.Errorf("%w: %s at offset %d", errSF, what, p.i)
}

// ParseDict parses a dictionary field value (RFC 8941 section 4.2.2).
func ParseDict(s string) (*Dict, error) {
	p := &sfParser{s: s}
	d := &Dict{Members: map[string]Member{}}
	p.sp()
	for p.i < len(p.s) {
		k, err := p.key()
		if err != nil {
			return nil, err
		}
		var m Member
		if p.i < len(p.s) && p.s[p.i] == '=' {
			p.i++
			if m, err = p.member(); err != nil {
				return nil, err
			}
		} else {
			m.Item = Item{Kind: 'b', Bool: true}
			if m.Params, err = p.params(); err != nil {
				return nil, err
			}
		}
		if _, dup := d.Members[k]; !dup {
			d.Keys = append(d.Keys, k)
		}
		d.Members[k] = m
		p.ows()
		if p.i >= len(p.s) {
			return d, nil
		}
		if p.s[p.i] != ',' {
			return nil, p.fail("expected ','")
		}
		p.i++
		p.ows()
		if p.i >= len(p.s) {
			return nil, p.fail("trailing ','")
		}
	}
	return d, nil
}

func (p *sfParser) member() (Member, error) {
	var m Member
	var err error
	if p.i < len(p.s) && p.s[p.i] == '(' {
		m.Inner = true
		p.i++
		for {
			p.sp()
			if p.i >= len(p.s) {
				return m, p.fail("unterminated inner list")
			}
			if p.s[p.i] == ')' {
				p.i++
				break
			}
			var li ListItem
			if li.Item, err = p.bareItem(); err != nil {
				return m, err
			}
			if li.Params, err = p.params(); err != nil {
				return m, err
			}
			m.List = append(m.List, li)
			if p.i < len(p.s) && p.s[p.i] != ' ' && p.s[p.i] != ')' {
				return m, p.fail("expected ' ' or ')'")
			}
		}
	} else if m.Item, err = p.bareItem(); err != nil {
		return m, err
	}
	m.Params, err = p.params()
	return m, err
}

func (p *sfParser) key() (string, error) {
	start := p.i
	if p.i >= len(p.s) || !(p.s[p.i] >= 'a' && p.s[p.i] <= 'z' || p.s[p.i] == '*') {
		return "", p.fail("expected a key")
	}
	for p.i < len(p.s) {
		c := p.s[p.i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '*') {
			break
		}
		p.i++
	}
	return p.s[start:p.i], nil
}

func (p *sfParser) params() (Params, error) {
	var ps Params
	for p.i < len(p.s) && p.s[p.i] == ';' {
		p.i++
		p.sp()
		k, err := p.key()
		if err != nil {
			return nil, err
		}
		v := Item{Kind: 'b', Bool: true}
		if p.i < len(p.s) && p.s[p.i] == '=' {
			p.i++
			if v, err = p.bareItem(); err != nil {
				return nil, err
			}
		}
		replaced := false
		for j := range ps {
			if ps[j].Key == k {
				ps[j].Value, replaced = v, true
			}
		}
		if !replaced {
			ps = append(ps, Param{Key: k, Value: v})
		}
	}
	return ps, nil
}

func (p *sfParser) bareItem() (Item, error) {
	if p.i >= len(p.s) {
		return Item{}, p.fail("expected an item")
	}
	switch c := p.s[p.i]; {
	case c == '"':
		p.i++
		var b strings.Builder
		for p.i < len(p.s) {
			c := p.s[p.i]
			p.i++
			switch {
			case c == '\\':
				if p.i >= len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\\') {
					return Item{}, p.fail("bad escape in string")
				}
				b.WriteByte(p.s[p.i])
				p.i++
			case c == '"':
				return Item{Kind: 's', Str: b.String()}, nil
			case c < 0x20 || c > 0x7e:
				return Item{}, p.fail("control or non-ASCII character in string")
			default:
				b.WriteByte(c)
			}
		}
		return Item{}, p.fail("unterminated string")
	case c == ':':
		p.i++
		end := strings.IndexByte(p.s[p.i:], ':')
		if end < 0 {
			return Item{}, p.fail("unterminated byte sequence")
		}
		b, err := base64.StdEncoding.DecodeString(p.s[p.i : p.i+end])
		if err != nil {
			return Item{}, p.fail("bad base64 in byte sequence")
		}
		p.i += end + 1
		return Item{Kind: ':', Bytes: b}, nil
	case c == '?':
		if p.i+1 < len(p.s) && (p.s[p.i+1] == '0' || p.s[p.i+1] == '1') {
			p.i += 2
			return Item{Kind: 'b', Bool: p.s[p.i-1] == '1'}, nil
		}
		return Item{}, p.fail("bad boolean")
	case c == '-' || c >= '0' && c <= '9':
		start := p.i
		p.i++
		for p.i < len(p.s) && (p.s[p.i] >= '0' && p.s[p.i] <= '9' || p.s[p.i] == '.') {
			p.i++
		}
		num := p.s[start:p.i]
		if strings.Contains(num, ".") {
			if len(num) > 17 {
				return Item{}, p.fail("decimal too long")
			}
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return Item{}, p.fail("bad decimal")
			}
			return Item{Kind: 'd', Dec: f}, nil
		}
		if len(strings.TrimPrefix(num, "-")) > 15 {
			return Item{}, p.fail("integer too long")
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return Item{}, p.fail("bad integer")
		}
		return Item{Kind: 'i', Int: n}, nil
	case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '*':
		start := p.i
		for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
			p.i++
		}
		return Item{Kind: 't', Str: p.s[start:p.i]}, nil
	}
	return Item{}, p.fail("unknown item type")
}

func isTokenChar(c byte) bool {
	return c > 0x20 && c < 0x7f && !strings.ContainsRune(`"(),;<=>?@[\]{}`, rune(c)) || c == ':' || c == '/'
}

// serialize writes an item as RFC 8941 section 4.1 does.
func (it Item) serialize(b *strings.Builder) {
	switch it.Kind {
	case 's':
		b.WriteByte('"')
		for i := 0; i < len(it.Str); i++ {
			if c := it.Str[i]; c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(it.Str[i])
		}
		b.WriteByte('"')
	case 't':
		b.WriteString(it.Str)
	case 'i':
		b.WriteString(strconv.FormatInt(it.Int, 10))
	case 'd':
		b.WriteString(strconv.FormatFloat(it.Dec, 'f', -1, 64))
	case 'b':
		if it.Bool {
			b.WriteString("?1")
		} else {
			b.WriteString("?0")
		}
	case ':':
		b.WriteByte(':')
		b.WriteString(base64.StdEncoding.EncodeToString(it.Bytes))
		b.WriteByte(':')
	}
}

func (ps Params) serialize(b *strings.Builder) {
	for _, p := range ps {
		b.WriteByte(';')
		b.WriteString(p.Key)
		if p.Value.Kind == 'b' && p.Value.Bool {
			continue
		}
		b.WriteByte('=')
		p.Value.serialize(b)
	}
}

// String serializes a member.
func (m Member) String() string {
	var b strings.Builder
	if m.Inner {
		b.WriteByte('(')
		for i, li := range m.List {
			if i > 0 {
				b.WriteByte(' ')
			}
			li.Item.serialize(&b)
			li.Params.serialize(&b)
		}
		b.WriteByte(')')
	} else {
		m.Item.serialize(&b)
	}
	m.Params.serialize(&b)
	return b.String()
}

// String serializes the dictionary.
func (d *Dict) String() string {
	var b strings.Builder
	for i, k := range d.Keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		m := d.Members[k]
		if !m.Inner && m.Item.Kind == 'b' && m.Item.Bool {
			m.Params.serialize(&b)
			continue
		}
		b.WriteByte('=')
		b.WriteString(m.String())
	}
	return b.String()
}
