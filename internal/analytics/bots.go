package analytics

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"golang.org/x/net/publicsuffix"
)

//go:embed crawler-user-agents.json
var crawlerList []byte

//go:embed referrer-spam.txt
var referrerSpamList string

// headlessMarkers are substrings of automation and headless browsers that
// the crawler list leaves out because they are not crawlers.
var headlessMarkers = []string{"HeadlessChrome", "PhantomJS", "Headless", "Puppeteer", "Playwright", "Selenium", "Lighthouse", "Chrome-Lighthouse", "Cypress"}

// BotMatcher recognises crawler and automation user agents and referrer spam.
type BotMatcher struct {
	re       *regexp.Regexp
	Patterns int // patterns compiled from the crawler list
	Skipped  int // patterns RE2 cannot compile (look-arounds), left out
	spam     map[string]bool
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
	m := &BotMatcher{spam: map[string]bool{}}
	var parts []string
	for _, e := range entries {
		if _, err := regexp.Compile(e.Pattern); err != nil {
			m.Skipped++
			continue
		}
		parts = append(parts, "(?:"+e.Pattern+")")
	}
	for _, h := range headlessMarkers {
		parts = append(parts, regexp.QuoteMeta(h))
	}
	re, err := regexp.Compile(strings.Join(parts, "|"))
	if err != nil {
		return nil, fmt.Errorf("analytics: crawler list: %w", err)
	}
	m.re, m.Patterns = re, len(entries)-m.Skipped
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
	return m.re.MatchString(ua)
}

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
