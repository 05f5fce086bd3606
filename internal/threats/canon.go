// Package threats decides whether a URL leads to a known high-risk site:
// Safe Browsing-style canonicalisation and host-suffix/path-prefix
// expressions, a compact database of SHA-256 expression hashes by threat
// list (phishing, malware, unwanted software, lookalike, operator custom)
// with an allowlist over them, parsers for the common public feed formats,
// and lookalike detection for the domains an operator protects.
package threats

import (
	"errors"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"waymark.dev/waymark/internal/netguard"
)

// URL is a canonical URL, split into its parts.
type URL struct {
	Scheme string
	Host   string // lowercase, escaped; IPv4 dotted decimal, IPv6 in brackets
	Path   string // starts with "/", escaped
	Query  string // escaped, without the "?"
	// HasQuery tells "/q?" (an empty query) from "/q".
	HasQuery bool
	// IP is set when the host is an address.
	IP bool
}

// String is the canonical form.
func (u *URL) String() string {
	s := u.Scheme + "://" + u.Host + u.Path
	if u.HasQuery {
		s += "?" + u.Query
	}
	return s
}

// ErrNoHost: the text has no host to check.
var ErrNoHost = errors.New("threats: URL has no host")

// ErrNotURL: the text is not a URL (another scheme's address, or a port
// that is not a number).
var ErrNotURL = errors.New("threats: not a URL")

// maxURL bounds the input: longer text is refused rather than
// canonicalised (browsers stop near 2 MB; links worth checking are short).
const maxURL = 64 << 10

// Canonicalize turns a URL as a browser or a feed writes it into the form
// Safe Browsing lists are made of: tabs and line breaks removed, the
// fragment dropped, percent-escapes undone until none are left, the host
// lowercased with stray dots removed and any IPv4 form written as four
// decimals, the path's "." and ".." segments resolved and repeated slashes
// merged, the port dropped, and then every byte at or below space, at or
// above 0x7f, '#' and '%' escaped again. A missing scheme means http.
func Canonicalize(raw string) (*URL, error) {
	if len(raw) > maxURL {
		return nil, errors.New("threats: URL longer than 64 KiB")
	}
	s := strings.TrimSpace(raw)
	if strings.ContainsAny(s, "\t\r\n") {
		s = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, s)
	}
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	s = unescapeAll(s)

	u := &URL{Scheme: "http"}
	rest := s
	if i := strings.Index(s, "://"); i > 0 && validScheme(s[:i]) {
		u.Scheme, rest = strings.ToLower(s[:i]), s[i+3:]
	} else if i := strings.IndexAny(s, ":/?"); i >= 0 && s[i] == ':' {
		// "host:port/..." has no scheme; "mailto:x@y" is not a URL.
		end := strings.IndexAny(s[i+1:], "/?")
		if end < 0 {
			end = len(s) - i - 1
		}
		if !allDigits(s[i+1 : i+1+end]) {
			return nil, ErrNotURL
		}
	}
	authority, pathQuery := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, pathQuery = rest[:i], rest[i:]
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	host, err := splitPort(authority)
	if err != nil {
		return nil, err
	}
	if u.Host, u.IP, err = canonicalHost(host); err != nil {
		return nil, err
	}
	path := pathQuery
	if i := strings.IndexByte(pathQuery, '?'); i >= 0 {
		path, u.Query, u.HasQuery = pathQuery[:i], pathQuery[i+1:], true
	}
	u.Path = escape(canonicalPath(path))
	u.Query = escape(u.Query)
	return u, nil
}

func validScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func splitPort(a string) (string, error) {
	if strings.HasPrefix(a, "[") {
		i := strings.IndexByte(a, ']')
		if i < 0 {
			return "", ErrNoHost
		}
		if rest := a[i+1:]; rest != "" && (rest[0] != ':' || !allDigits(rest[1:])) {
			return "", ErrNotURL
		}
		return a[:i+1], nil
	}
	if i := strings.LastIndexByte(a, ':'); i >= 0 {
		if !allDigits(a[i+1:]) {
			return "", ErrNotURL
		}
		a = a[:i]
	}
	return a, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// unescapeAll undoes percent-escapes until none are left ("%2525" -> "%").
// A '%' not followed by two hex digits stays as it is.
func unescapeAll(s string) string {
	for strings.IndexByte(s, '%') >= 0 {
		var b []byte
		changed := false
		for i := 0; i < len(s); i++ {
			if s[i] == '%' && i+2 < len(s) {
				hi, ok1 := unhex(s[i+1])
				lo, ok2 := unhex(s[i+2])
				if ok1 && ok2 {
					if b == nil {
						b = append(make([]byte, 0, len(s)), s[:i]...)
					}
					b = append(b, hi<<4|lo)
					i += 2
					changed = true
					continue
				}
			}
			if b != nil {
				b = append(b, s[i])
			}
		}
		if !changed {
			return s
		}
		s = string(b)
	}
	return s
}

const hexUpper = "0123456789ABCDEF"

// escape writes bytes at or below space, at or above 0x7f, '#' and '%' as
// %XX.
func escape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c >= 0x7f || c == '#' || c == '%' {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c >= 0x7f || c == '#' || c == '%' {
			b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

// canonicalHost returns the host's canonical, escaped form and whether it
// is an address.
func canonicalHost(h string) (string, bool, error) {
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		a, err := netip.ParseAddr(h[1 : len(h)-1])
		if err != nil {
			return "", false, ErrNoHost
		}
		return hostOfAddr(a.WithZone("")), true, nil
	}
	h = asciiLower(h)
	if !isASCII(h) && utf8.ValidString(h) {
		// IDNA maps as browsers do ("²" is "2", full stops are dots),
		// so the result is judged again below.
		if a, err := idna.Lookup.ToASCII(strings.Trim(h, ".")); err == nil {
			h = a
		}
	}
	if strings.ContainsAny(h, "[]:") {
		return "", false, ErrNoHost
	}
	h = strings.Trim(h, ".")
	for strings.Contains(h, "..") {
		h = strings.ReplaceAll(h, "..", ".")
	}
	if h == "" {
		return "", false, ErrNoHost
	}
	if a, ok := netguard.ParseIP(h); ok {
		return hostOfAddr(a), true, nil
	}
	return escape(h), false, nil
}

// hostOfAddr writes IPv4, and IPv6 that carries IPv4 (mapped or NAT64),
// as dotted decimal, other IPv6 in brackets.
func hostOfAddr(a netip.Addr) string {
	if a.Is4In6() {
		return a.Unmap().String()
	}
	if a.Is6() {
		b := a.As16()
		if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && [8]byte(b[4:12]) == [8]byte{} {
			return netip.AddrFrom4([4]byte(b[12:])).String()
		}
		return "[" + a.String() + "]"
	}
	return a.String()
}

// asciiLower lowercases A-Z only: strings.ToLower would replace bytes
// that are not UTF-8 with U+FFFD, and those must stay as they are.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// canonicalPath resolves "." and ".." segments and merges repeated
// slashes; a trailing "." or ".." segment leaves a trailing slash.
func canonicalPath(p string) string {
	if p == "" || p == "/" {
		return "/"
	}
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return p
	}
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	trailing := false
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case "", ".":
			trailing = last
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			trailing = last
		default:
			out = append(out, s)
			trailing = false
		}
	}
	r := "/" + strings.Join(out, "/")
	if trailing && len(out) > 0 {
		r += "/"
	}
	return r
}
