package proxy

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"

	"golang.org/x/net/http/httpguts"
)

// simpleRequest is a request head of the one shape the proxy's own
// HTTP/1.1 loop reads (ConnServer): an absolute http:// URL, HTTP/1.1,
// exactly one valid Host field, no Transfer-Encoding, Expect or Upgrade,
// at most one Content-Length of plain digits, every line ending in CRLF
// and every field a token, a colon and a value of visible characters.
// Anything else is left to net/http, whose parser is the authority on
// the unusual and the malformed.
type simpleRequest struct {
	method        string
	target        string
	url           *url.URL
	header        http.Header
	contentLength int64
	close         bool // Request.Close
	closeAfter    bool // the connection ends after the answer, as net/http decides
}

// maxSimpleFields bounds the fields of a request the loop reads itself.
const maxSimpleFields = 64

// parseSimpleHead parses head, one request head ending in "\r\n\r\n". It
// returns false when the request is not of the simple shape; then nothing
// is decided about it and net/http reads it. What it accepts, net/http's
// server reads the same way (FuzzSimpleHeadMatchesNetHTTP).
func parseSimpleHead(head []byte) (simpleRequest, bool) {
	return parseSimpleHeadInto(head, nil)
}

// parseSimpleHeadInto is parseSimpleHead filling h, an empty map (nil
// for a new one).
func parseSimpleHeadInto(head []byte, h http.Header) (simpleRequest, bool) {
	var r simpleRequest
	line, rest, ok := cutLine(head)
	if !ok {
		return r, false
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || !isToken(line[:sp]) {
		return r, false
	}
	method := line[:sp]
	line = line[sp+1:]
	sp = bytes.IndexByte(line, ' ')
	if sp <= 0 || string(line[sp+1:]) != "HTTP/1.1" {
		return r, false
	}
	target := line[:sp]
	if !bytes.HasPrefix(target, []byte("http://")) || !visible(target) || bytes.IndexByte(target, '#') >= 0 {
		return r, false
	}
	switch string(method) {
	case http.MethodConnect, "PRI":
		return r, false
	}
	r.method = internMethod(method)
	f := newFieldStrings(head)
	r.target = f.str(target)
	u, err := url.ParseRequestURI(r.target)
	if err != nil || u.Host == "" || u.Scheme != "http" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return r, false
	}
	r.url = u
	if h == nil {
		h = make(http.Header, 8)
	}
	r.header = h
	hosts, lengths := 0, 0
	var length []byte
	simple := readFields(rest, f, h, func(name string, value []byte) (ok, drop bool) {
		switch name {
		case "Host":
			hosts++
			// net/http takes the host from the URL and drops the field.
			return validHost(value), true
		case "Content-Length":
			lengths++
			length = value
		case "Transfer-Encoding", "Expect", "Upgrade", "Te", "Trailer":
			return false, false
		}
		return true, false
	})
	if !simple || hosts != 1 || lengths > 1 {
		return r, false
	}
	if lengths == 1 {
		if r.contentLength, ok = parseLength(length); !ok {
			return r, false
		}
	}
	r.close = hasToken(r.header["Connection"], "close")
	r.closeAfter = r.close || namesClose(firstValue(r.header["Connection"]))
	if p, ok := r.header["Pragma"]; ok && len(p) > 0 && p[0] == "no-cache" {
		if _, ok := r.header["Cache-Control"]; !ok {
			r.header["Cache-Control"] = []string{"no-cache"}
		}
	}
	return r, true
}

// readFields reads the field lines that follow a head's first line into
// h, as both simple readers require them: every line ending in CRLF, a
// token name, a colon, a value of visible characters trimmed of spaces
// and tabs, at most maxSimpleFields names, nothing after the empty line.
// each sees every field under its canonical name and says whether the
// head stays simple and whether to leave the field out of h. readFields
// reports false when the head is not simple.
func readFields(rest []byte, f *fieldStrings, h http.Header, each func(name string, value []byte) (ok, drop bool)) bool {
	for {
		line, next, ok := cutLine(rest)
		if !ok {
			return false
		}
		rest = next
		if len(line) == 0 {
			return len(rest) == 0
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) || len(h) >= maxSimpleFields {
			return false
		}
		value := trimOWS(line[colon+1:])
		if !fieldValue(value) {
			return false
		}
		name := canonicalName(line[:colon])
		ok, drop := each(name, value)
		if !ok {
			return false
		}
		if !drop {
			f.add(h, name, value)
		}
	}
}

// parseLength reads a Content-Length value of plain digits (at most 18,
// so it cannot overflow); anything else is left to net/http.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// cutLine cuts b at its first CRLF; a bare CR or LF fails.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 1 || b[i-1] != '\r' {
		return nil, nil, false
	}
	line = b[:i-1]
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, nil, false
	}
	return line, b[i+1:], true
}

// tokenChar marks RFC 9110's tchar.
var tokenChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken[T string | []byte](b T) bool {
	if len(b) == 0 {
		return false
	}
	for i := 0; i < len(b); i++ {
		if !tokenChar[b[i]] {
			return false
		}
	}
	return true
}

// visible says whether b holds only visible ASCII (a request target).
func visible(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// fieldValue says whether a trimmed field value holds only visible
// characters, spaces, tabs and obs-text.
func fieldValue(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// validHost is a conservative Host value: a name or address and port,
// from the characters a host can hold.
func validHost(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == ':', c == '[', c == ']', c == '_':
		default:
			return false
		}
	}
	return true
}

// hasToken says whether a comma-separated field's values hold token,
// ASCII case-insensitively, as a Connection field names close or another
// field. It is the reading net/http gives Request.Close and
// Response.Close: elements trimmed of spaces and tabs only.
func hasToken(values []string, token string) bool {
	return httpguts.HeaderValuesContainsToken(values, token)
}

// namesClose is net/http's server-side reading of a Connection value
// (the first one) when it decides whether to close after the answer:
// "close" anywhere, in any ASCII case, bounded by the value's ends,
// spaces, tabs or commas. It is looser than hasToken ("e close" names
// close here, not there), so a request can have Close false and still
// get the connection closed after its answer.
func namesClose(v string) bool {
	const token = "close"
	for i := 0; i+len(token) <= len(v); i++ {
		if i > 0 && !closeBoundary(v[i-1]) {
			continue
		}
		if end := i + len(token); end != len(v) && !closeBoundary(v[end]) {
			continue
		}
		if asciiEqualFold(v[i:i+len(token)], token) {
			return true
		}
	}
	return false
}

func closeBoundary(b byte) bool { return b == ' ' || b == ',' || b == '\t' }

// asciiEqualFold compares a and b, folding ASCII letters only.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// firstValue is a field's first value, or "" (Header.Get without the
// canonicalisation).
func firstValue(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// commonNames are field names kept as one string each, so that the usual
// fields cost no allocation for their names.
var commonNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Signature",
		"Authorization", "Cache-Control", "Connection", "Content-Digest", "Content-Length", "Content-Type", "Cookie",
		"Date", "Dnt", "Host", "If-Modified-Since", "If-None-Match", "Keep-Alive", "Origin", "Pragma",
		"Proxy-Authorization", "Proxy-Connection", "Range", "Referer", "Sec-Fetch-Dest", "Sec-Fetch-Mode",
		"Sec-Fetch-Site", "Sec-Gpc", "Upgrade-Insecure-Requests", "User-Agent", "Want-Content-Digest",
		"X-Forwarded-For", "X-Requested-With"} {
		m[n] = n
	}
	return m
}()

// canonicalName is textproto's canonical form of a token field name.
func canonicalName(b []byte) string {
	if n, ok := commonNames[string(b)]; ok {
		return n
	}
	return textproto.CanonicalMIMEHeaderKey(string(b))
}

func internMethod(b []byte) string {
	switch string(b) {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodOptions:
		return http.MethodOptions
	case http.MethodPatch:
		return http.MethodPatch
	}
	return string(b)
}

// fieldStrings turns parts of one head into strings that share a single
// copy of it, and field values into header slices that share one array:
// a head costs a few allocations, not one per field.
type fieldStrings struct {
	head []byte
	s    string
	vals []string
}

func newFieldStrings(head []byte) *fieldStrings {
	return &fieldStrings{head: head, s: string(head), vals: make([]string, 0, 16)}
}

// str is b, a slice of the head, as a string.
func (f *fieldStrings) str(b []byte) string {
	i := cap(f.head) - cap(b)
	return f.s[i : i+len(b)]
}

// add appends value (a slice of the head) to h[name].
func (f *fieldStrings) add(h http.Header, name string, value []byte) {
	v := f.str(value)
	if old, ok := h[name]; ok {
		h[name] = append(old, v)
		return
	}
	f.vals = append(f.vals, v)
	n := len(f.vals)
	h[name] = f.vals[n-1 : n : n]
}
