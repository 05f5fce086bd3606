package threats

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Feed formats.
const (
	FormatHosts         = "hosts"          // "0.0.0.0 example.com" lines
	FormatDomains       = "domains"        // one domain per line
	FormatURLs          = "urls"           // one URL per line
	FormatOpenPhish     = "openphish"      // OpenPhish's text feed: one URL per line
	FormatPhishTankCSV  = "phishtank-csv"  // PhishTank's CSV (a "url" column)
	FormatPhishTankJSON = "phishtank-json" // PhishTank's JSON (an array of objects with "url")
	FormatURLhaus       = "urlhaus"        // URLhaus CSV (the third column is the URL)
	FormatAdblock       = "adblock"        // the domain rules of adblock syntax: ||example.com^
)

// Formats lists the feed formats.
var Formats = []string{FormatHosts, FormatDomains, FormatURLs, FormatOpenPhish, FormatPhishTankCSV, FormatPhishTankJSON, FormatURLhaus, FormatAdblock}

// DefaultList is the list a format's entries go to unless told otherwise.
func DefaultList(format string) List {
	switch format {
	case FormatOpenPhish, FormatPhishTankCSV, FormatPhishTankJSON:
		return Phishing
	case FormatURLhaus:
		return Malware
	}
	return Custom
}

// LineError is a line a feed parser could not use.
type LineError struct {
	Line int    `json:"line"`
	Text string `json:"text"`
	Err  string `json:"error"`
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %s: %q", e.Line, e.Err, e.Text) }

// Parsed is what a feed gave: its entries, the lines it could not use
// (at most maxLineErrors kept, all counted) and the lines it skipped on
// purpose (comments, rules outside the supported subset).
type Parsed struct {
	Entries    []Entry
	Errors     []LineError
	ErrorCount int
	Skipped    int
}

const maxLineErrors = 100

// maxLine is the longest line a feed may have.
const maxLine = 64 << 10

func (p *Parsed) bad(line int, text, err string) {
	p.ErrorCount++
	if len(p.Errors) < maxLineErrors {
		if len(text) > 200 {
			text = text[:200] + "..."
		}
		p.Errors = append(p.Errors, LineError{Line: line, Text: text, Err: err})
	}
}

// addURL adds a URL's most specific expression (without the query when
// the path is the root: "evil.com/" lists the whole host).
func (p *Parsed) addURL(line int, text, raw string, list List, src string, at time.Time) {
	u, err := Canonicalize(raw)
	if err != nil {
		p.bad(line, text, err.Error())
		return
	}
	if !u.IP && !hostName(u.Host) {
		// Canonical form keeps or escapes what a host cannot hold ("not a
		// url" becomes not%20a%20url, "<html>" stays); no real site has
		// such a name, so the line is not a URL.
		p.bad(line, text, "not a host name")
		return
	}
	e := u.Host + u.Path
	if u.HasQuery {
		e += "?" + u.Query
	}
	p.Entries = append(p.Entries, Entry{Expr: e, List: list, Source: src, Added: at})
}

// addHost lists a whole host.
func (p *Parsed) addHost(line int, text, host string, list List, src string, at time.Time) {
	if host == "" || strings.ContainsAny(host, "/?#@ ") {
		p.bad(line, text, "not a domain")
		return
	}
	u, err := Canonicalize("http://" + host + "/")
	if err != nil {
		p.bad(line, text, err.Error())
		return
	}
	if !u.IP && !strings.Contains(u.Host, ".") {
		p.bad(line, text, "a domain needs a dot")
		return
	}
	if !u.IP && !hostName(u.Host) {
		p.bad(line, text, "not a host name")
		return
	}
	p.Entries = append(p.Entries, Entry{Expr: u.Host + "/", List: list, Source: src, Added: at})
}

// ParseFeed reads a feed in format, putting its entries on list with
// source. A bad line is reported with its number and the rest is read.
func ParseFeed(r io.Reader, format string, list List, source string, now time.Time) (*Parsed, error) {
	p := &Parsed{}
	switch format {
	case FormatPhishTankJSON:
		return p, parsePhishTankJSON(r, p, list, source, now)
	case FormatPhishTankCSV, FormatURLhaus:
		return p, parseCSV(r, p, format, list, source, now)
	case FormatHosts, FormatDomains, FormatURLs, FormatOpenPhish, FormatAdblock:
	default:
		return nil, fmt.Errorf("threats: unknown feed format %q (one of %s)", format, strings.Join(Formats, ", "))
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	n := 0
	for sc.Scan() {
		n++
		text := sc.Text()
		line := strings.TrimSpace(text)
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		// Comments: '#' lines, and '!' lines in domain and adblock lists
		// (where "##" starts an element-hiding rule, not a comment).
		if line == "" || line[0] == '#' && format != FormatAdblock || line[0] == '!' && (format == FormatAdblock || format == FormatDomains) {
			continue
		}
		switch format {
		case FormatHosts:
			f := strings.Fields(line)
			if i := indexComment(f); i >= 0 {
				f = f[:i]
			}
			if len(f) < 2 {
				p.bad(n, text, "want an address and at least one name")
				continue
			}
			for _, h := range f[1:] {
				if h == "localhost" || h == "localhost.localdomain" || h == "local" || h == "broadcasthost" || h == "ip6-localhost" || h == "ip6-loopback" || h == "0.0.0.0" {
					p.Skipped++
					continue
				}
				p.addHost(n, text, h, list, source, now)
			}
		case FormatDomains:
			if i := strings.IndexAny(line, " \t#"); i >= 0 {
				line = line[:i]
			}
			p.addHost(n, text, strings.TrimPrefix(line, "*."), list, source, now)
		case FormatURLs, FormatOpenPhish:
			p.addURL(n, text, line, list, source, now)
		case FormatAdblock:
			// Only "||domain^" (optionally "$document" or "$all") lists a
			// whole site; other rules hide page parts or match requests
			// in ways a URL list cannot express.
			if line[0] == '[' || line[0] == '!' {
				continue
			}
			rule, opts, _ := strings.Cut(line, "$")
			if !strings.HasPrefix(rule, "||") || !strings.HasSuffix(rule, "^") || (opts != "" && opts != "document" && opts != "all") ||
				strings.ContainsAny(rule[2:len(rule)-1], "*/^|") {
				p.Skipped++
				continue
			}
			p.addHost(n, text, rule[2:len(rule)-1], list, source, now)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return p, fmt.Errorf("threats: line %d is longer than 64 KiB", n+1)
		}
		return p, fmt.Errorf("threats: reading feed: %w", err)
	}
	return p, nil
}

// hostName: letters, digits, '-', '_' and dots, as DNS names (and
// punycode) are written.
func hostName(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return h != ""
}

func indexComment(f []string) int {
	for i, s := range f {
		if strings.HasPrefix(s, "#") {
			return i
		}
	}
	return -1
}

func parseCSV(r io.Reader, p *Parsed, format string, list List, source string, now time.Time) error {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cr.LazyQuotes = true
	col := -1
	if format == FormatURLhaus {
		col = 2 // id, dateadded, url, url_status, ...
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				p.bad(pe.Line, "", pe.Err.Error())
				continue
			}
			return fmt.Errorf("threats: reading feed: %w", err)
		}
		if col < 0 {
			// PhishTank's first line names the columns.
			for i, h := range rec {
				if strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")), "url") {
					col = i
				}
			}
			if col < 0 {
				return fmt.Errorf("threats: line %d: no \"url\" column in the header", line)
			}
			continue
		}
		if format == FormatURLhaus && len(rec) > 0 && rec[0] == "id" {
			continue // a header line without the leading '#'
		}
		if col >= len(rec) {
			p.bad(line, strings.Join(rec, ","), fmt.Sprintf("no column %d", col+1))
			continue
		}
		p.addURL(line, rec[col], strings.TrimSpace(rec[col]), list, source, now)
	}
}

func parsePhishTankJSON(r io.Reader, p *Parsed, list List, source string, now time.Time) error {
	dec := json.NewDecoder(r)
	t, err := dec.Token()
	if err != nil {
		return fmt.Errorf("threats: reading feed: %w", err)
	}
	if d, ok := t.(json.Delim); !ok || d != '[' {
		return errors.New("threats: a PhishTank JSON feed is an array of objects")
	}
	for i := 1; dec.More(); i++ {
		var item struct {
			URL string `json:"url"`
		}
		if err := dec.Decode(&item); err != nil {
			// A wrong type (the decoder has moved past the item) is one bad
			// item; anything else (broken JSON, a cut-off file) ends it.
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				p.bad(i, "", "item "+err.Error())
				continue
			}
			return fmt.Errorf("threats: item %d: %w", i, err)
		}
		if item.URL == "" {
			p.bad(i, "", "item has no url")
			continue
		}
		p.addURL(i, item.URL, item.URL, list, source, now)
	}
	return nil
}
