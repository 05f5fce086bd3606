package collect

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"

	"golang.org/x/net/publicsuffix"
)

//go:embed crawler-user-agents.json
var crawlerList []byte

//go:embed referrer-spam.txt
var referrerSpamList string

// headlessMarkers are substrings of automation and headless browsers that
// the crawler list leaves out because they are not crawlers.
var headlessMarkers = []string{"HeadlessChrome", "PhantomJS", "Headless", "Puppeteer", "Playwright", "Selenium", "Lighthouse", "Chrome-Lighthouse", "Cypress"}

// BotMatcher recognises crawler and automation user agents and referrer
// spam. Most list entries are plain text: they are found through an index
// of their first three bytes, in one pass over the user agent; the few real
// regular expressions are combined into one.
type BotMatcher struct {
	byTrigram map[[3]byte][]string
	short     []string
	prefixes  []string
	suffixes  []string
	exact     map[string]bool
	res       []*regexp.Regexp
	Patterns  int // patterns used from the crawler list
	Skipped   int // patterns RE2 cannot compile (look-arounds), left out
	spam      map[string]bool
}

// alt is one plain-text alternative of a pattern, maybe anchored.
type alt struct {
	text       string
	start, end bool // anchored at the start / end of the user agent
}

// expand lists the plain-text alternatives of a pattern made only of
// literals, small character classes, alternation and anchors, such as
// "[wW]get" or "(^| )sentry/". ok is false for anything else.
func expand(re *syntax.Regexp) (alts []alt, ok bool) {
	const limit = 64
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase == 0 {
			return []alt{{text: string(re.Rune)}}, true
		}
		// [wW] parses as a case-folded "w": list the spellings.
		out := []alt{{}}
		for _, r := range re.Rune {
			var next []alt
			for f := r; ; {
				for _, x := range out {
					next = append(next, alt{text: x.text + string(f)})
				}
				if f = unicode.SimpleFold(f); f == r {
					break
				}
			}
			if len(next) > limit {
				return nil, false
			}
			out = next
		}
		return out, true
	case syntax.OpEmptyMatch:
		return []alt{{}}, true
	case syntax.OpBeginText, syntax.OpBeginLine:
		return []alt{{start: true}}, true
	case syntax.OpEndText, syntax.OpEndLine:
		return []alt{{end: true}}, true
	case syntax.OpCapture:
		return expand(re.Sub[0])
	case syntax.OpCharClass:
		var out []alt
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if len(out) >= limit {
					return nil, false
				}
				out = append(out, alt{text: string(r)})
			}
		}
		return out, true
	case syntax.OpAlternate:
		var out []alt
		for _, sub := range re.Sub {
			a, ok := expand(sub)
			if !ok || len(out)+len(a) > limit {
				return nil, false
			}
			out = append(out, a...)
		}
		return out, true
	case syntax.OpConcat:
		out := []alt{{}}
		for _, sub := range re.Sub {
			a, ok := expand(sub)
			if !ok || len(out)*len(a) > limit {
				return nil, false
			}
			var next []alt
			for _, x := range out {
				for _, y := range a {
					// An anchor must sit at the very start or end.
					if y.start && x.text != "" || x.end && (y.text != "" || y.start) {
						return nil, false
					}
					next = append(next, alt{text: x.text + y.text, start: x.start || y.start, end: x.end || y.end})
				}
			}
			out = next
		}
		return out, true
	}
	return nil, false
}

func expandPattern(pattern string) ([]alt, bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, false
	}
	return expand(re.Simplify())
}

func (m *BotMatcher) addLiteral(l string) {
	if len(l) < 3 {
		m.short = append(m.short, l)
		return
	}
	k := [3]byte{l[0], l[1], l[2]}
	m.byTrigram[k] = append(m.byTrigram[k], l)
}

// NewBotMatcher compiles the embedded crawler-user-agents list and
// referrer-spam list. extraSpam adds more spam domains.
func NewBotMatcher(extraSpam ...string) (*BotMatcher, error) {
	var entries []struct {
		Pattern string `json:"pattern"`
	}
	if err := json.Unmarshal(crawlerList, &entries); err != nil {
		return nil, fmt.Errorf("analytics: crawler list: %w", err)
	}
	m := &BotMatcher{spam: map[string]bool{}, byTrigram: map[[3]byte][]string{}, exact: map[string]bool{}}
	for _, e := range entries {
		if alts, ok := expandPattern(e.Pattern); ok {
			for _, a := range alts {
				switch {
				case a.start && a.end:
					m.exact[a.text] = true
				case a.start:
					m.prefixes = append(m.prefixes, a.text)
				case a.end:
					m.suffixes = append(m.suffixes, a.text)
				default:
					m.addLiteral(a.text)
				}
			}
			continue
		}
		re, err := regexp.Compile(e.Pattern)
		if err != nil {
			m.Skipped++
			continue
		}
		// Separate small expressions beat one large alternation: each
		// starts with a literal or an anchor that rejects most input at once.
		m.res = append(m.res, re)
	}
	for _, h := range headlessMarkers {
		m.addLiteral(h)
	}
	m.Patterns = len(entries) - m.Skipped
	sc := bufio.NewScanner(strings.NewReader(referrerSpamList))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			m.spam[strings.ToLower(l)] = true
		}
	}
	for _, d := range extraSpam {
		m.spam[strings.ToLower(strings.TrimSpace(d))] = true
	}
	return m, nil
}

// IsBot reports whether a user agent is a crawler, an automation tool or
// implausible for a browser (empty or very short).
func (m *BotMatcher) IsBot(ua string) bool {
	if len(ua) < 10 {
		return true
	}
	for i := 0; i+3 <= len(ua); i++ {
		for _, l := range m.byTrigram[[3]byte{ua[i], ua[i+1], ua[i+2]}] {
			if strings.HasPrefix(ua[i:], l) {
				return true
			}
		}
	}
	for _, l := range m.short {
		if strings.Contains(ua, l) {
			return true
		}
	}
	if m.exact[ua] {
		return true
	}
	for _, p := range m.prefixes {
		if strings.HasPrefix(ua, p) {
			return true
		}
	}
	for _, p := range m.suffixes {
		if strings.HasSuffix(ua, p) {
			return true
		}
	}
	for _, re := range m.res {
		if re.MatchString(ua) {
			return true
		}
	}
	return genericBot(ua)
}

// genericBot catches what no list names: a user agent that calls itself
// a crawler, spider or bot as a word of its own ("generic crawler",
// "SomeBot/1.0"), as Plausible's detector does. Inside a word ("Cubot",
// a phone maker) it does not count.
func genericBot(ua string) bool {
	l := strings.ToLower(ua)
	for _, w := range [...]string{"crawler", "spider", "bot"} {
		for i := 0; ; {
			j := strings.Index(l[i:], w)
			if j < 0 {
				break
			}
			j += i
			end := j + len(w)
			before := j == 0 || !isLetter(l[j-1])
			after := end == len(l) || !isLetter(l[end])
			if before && after {
				return true
			}
			i = end
		}
	}
	return false
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' }

// IsSpam reports whether a referrer host is a known referrer spammer.
func (m *BotMatcher) IsSpam(host string) bool {
	if host == "" {
		return false
	}
	if m.spam[host] {
		return true
	}
	reg, err := publicsuffix.EffectiveTLDPlusOne(host)
	return err == nil && m.spam[reg]
}

// ReadSpamFile reads a list of referrer-spam domains, one a line, as the
// community list publishes it (spammers.txt); blank lines and lines
// starting with # are skipped. A line that is not a domain is an error
// naming the file and line.
func ReadSpamFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		d := strings.ToLower(strings.TrimSpace(sc.Text()))
		if d == "" || strings.HasPrefix(d, "#") {
			continue
		}
		if strings.ContainsAny(d, " /:@\t") || !strings.Contains(d, ".") || len(d) > 253 {
			return nil, fmt.Errorf("%s:%d: %q is not a domain", path, n, d)
		}
		out = append(out, d)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}
