package collect

import (
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"
	"waymark.dev/waymark/internal/analytics"
)

type knownSource struct{ name string }

// knownSources maps a registrable domain (or a host) to a display name
// (its channel comes from the name: see Channel). Hosts are looked up first, then their registrable domain, then
// that domain's first label (so google.co.uk finds "google").
var knownSources = map[string]knownSource{
	"google":               {"Google"},
	"bing.com":             {"Bing"},
	"duckduckgo.com":       {"DuckDuckGo"},
	"yahoo":                {"Yahoo!"},
	"search.yahoo.com":     {"Yahoo!"},
	"baidu.com":            {"Baidu"},
	"yandex":               {"Yandex"},
	"ecosia.org":           {"Ecosia"},
	"qwant.com":            {"Qwant"},
	"search.brave.com":     {"Brave Search"},
	"startpage.com":        {"Startpage"},
	"naver.com":            {"Naver"},
	"sogou.com":            {"Sogou"},
	"so.com":               {"360 Search"},
	"perplexity.ai":        {"Perplexity"},
	"chatgpt.com":          {"ChatGPT"},
	"facebook.com":         {"Facebook"},
	"fb.me":                {"Facebook"},
	"instagram.com":        {"Instagram"},
	"t.co":                 {"Twitter"},
	"twitter.com":          {"Twitter"},
	"x.com":                {"Twitter"},
	"linkedin.com":         {"LinkedIn"},
	"lnkd.in":              {"LinkedIn"},
	"reddit.com":           {"Reddit"},
	"youtube.com":          {"YouTube"},
	"pinterest.com":        {"Pinterest"},
	"tiktok.com":           {"TikTok"},
	"weibo.com":            {"Weibo"},
	"zhihu.com":            {"Zhihu"},
	"news.ycombinator.com": {"Hacker News"},
	"mastodon.social":      {"Mastodon"},
	"bsky.app":             {"Bluesky"},
	"github.com":           {"GitHub"},
	"mail.google.com":      {"Gmail"},
	"outlook.live.com":     {"Outlook.com"},
	"mail.yahoo.com":       {"Yahoo! Mail"},
	"mail.qq.com":          {"QQ Mail"},
}

// Source is where a visit came from.
type Source struct {
	Referrer string // host of the referring page, without "www."; "" when none
	Name     string // display name: a known source, the UTM source, the referrer host, or analytics.SourceDirect
	Channel  string
}

// Classify works out a hit's source from its referrer and its page URL's
// campaign parameters. A referrer from the page's own host is internal and
// counts as none.
func Classify(referrer string, page *url.URL, utm UTM) Source {
	return classify(referrerHost(referrer), page, utm, lookupSource)
}

// classify is Classify for a referrer already reduced to its host, with
// the known-source lookup passed in (the enricher's is cached). As in
// Plausible, a campaign's utm_source (or ref, or source) names the source
// over the referrer; a click id of Google or Microsoft Ads without any
// names Google or Bing.
func classify(host string, page *url.URL, utm UTM, lookup func(string) (knownSource, bool)) Source {
	var src Source
	if host != "" && page != nil && strings.TrimPrefix(strings.ToLower(page.Hostname()), "www.") == host {
		host = ""
	}
	src.Referrer = host
	name := ""
	if host != "" {
		if k, ok := lookup(host); ok {
			name = k.name
		} else {
			name = host
		}
	}
	if utm.Source != "" {
		name = utm.Source
		// utm_source=facebook (or fb, facebook.com) is the Facebook a
		// referrer from facebook.com would be, as Plausible shows it.
		if k, ok := sourceAliases[strings.ToLower(strings.TrimSpace(utm.Source))]; ok {
			name = k.name
		}
	}
	click := clickID(page)
	if name == "" {
		switch click {
		case "gclid":
			name = "Google"
		case "msclkid":
			name = "Bing"
		}
	}
	src.Channel = Channel(name, utm.Medium, utm.Campaign, utm.Source, click)
	if name == "" {
		name = analytics.SourceDirect
	}
	src.Name = name
	return src
}

// clickID names the ad network's click id on a page address: gclid
// (Google Ads) or msclkid (Microsoft Advertising), "" for none.
func clickID(page *url.URL) string {
	if page == nil || !strings.Contains(page.RawQuery, "gclid=") && !strings.Contains(page.RawQuery, "msclkid=") { // cheap test first: every hit asks
		return ""
	}
	q := page.Query()
	for _, k := range []string{"gclid", "msclkid"} {
		if q.Get(k) != "" {
			return k
		}
	}
	return ""
}

// sourceAliases finds a known source by what campaigns put in
// utm_source: its name ("facebook"), a host of it ("facebook.com",
// "t.co") or a common short form ("fb").
var sourceAliases = func() map[string]knownSource {
	m := map[string]knownSource{}
	for host, k := range knownSources {
		m[host] = k
		m[strings.ToLower(k.name)] = k
	}
	for alias, host := range map[string]string{"fb": "facebook.com", "ig": "instagram.com", "yt": "youtube.com", "li": "linkedin.com",
		"tw": "twitter.com", "x": "x.com", "hn": "news.ycombinator.com", "hackernews": "news.ycombinator.com",
		"adwords": "google", "google-ads": "google", "googleads": "google", "google_ads": "google", "bing-ads": "bing.com",
		"bing_ads": "bing.com", "microsoft-ads": "bing.com"} {
		m[alias] = knownSources[host]
	}
	return m
}()

// referrerHost is the host of a referring page: lower case, without
// "www."; "" for addresses that are not http(s), malformed, or local
// (localhost, loopback and private addresses: a developer's machine is
// not a source), as Plausible ignores them.
func referrerHost(ref string) string {
	_, h := parseReferrer(ref)
	return h
}

// parseReferrer parses a referrer and returns it with its host as
// referrerHost gives it ("" and nil when it does not count).
func parseReferrer(ref string) (*url.URL, string) {
	if ref == "" {
		return nil, ""
	}
	u, err := url.Parse(ref)
	if err != nil || u.Host == "" {
		return nil, ""
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, ""
	}
	h := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return nil, ""
	}
	if ip, err := netip.ParseAddr(h); err == nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsLinkLocalUnicast()) {
		return nil, ""
	}
	return u, strings.TrimPrefix(h, "www.")
}

// ReferrerPath is what visit:referrer shows, as Plausible keeps it: the
// referring page's host without "www." and its path without a trailing
// slash; no query or fragment ("indiehackers.com/page"). "" where
// referrerHost is.
func ReferrerPath(ref string) string {
	_, p := referrerParts(ref)
	return p
}

// referrerParts parses a referrer once: its host (as referrerHost) and
// its path as ReferrerPath shows it.
func referrerParts(ref string) (host, path string) {
	u, host := parseReferrer(ref)
	if host == "" {
		return "", ""
	}
	p := strings.TrimRight(u.Path, "/")
	if !utf8.ValidString(p) {
		p = ""
	}
	if len(host)+len(p) > analytics.MaxURLLen {
		p = p[:max(0, analytics.MaxURLLen-len(host))]
		for !utf8.ValidString(p) {
			p = p[:len(p)-1]
		}
	}
	return host, host + p
}

func lookupSource(host string) (knownSource, bool) {
	if k, ok := knownSources[host]; ok {
		return k, true
	}
	reg, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return knownSource{}, false
	}
	if k, ok := knownSources[reg]; ok {
		return k, true
	}
	label, _, _ := strings.Cut(reg, ".")
	k, ok := knownSources[label]
	return k, ok
}

// UTM holds a page URL's campaign parameters.
type UTM struct{ Source, Medium, Campaign, Term, Content string }

// ParseUTM reads campaign parameters; "ref" and "source" stand in for
// utm_source as they do in Plausible.
func ParseUTM(q url.Values) UTM {
	u := UTM{
		Source:   q.Get("utm_source"),
		Medium:   q.Get("utm_medium"),
		Campaign: q.Get("utm_campaign"),
		Term:     q.Get("utm_term"),
		Content:  q.Get("utm_content"),
	}
	if u.Source == "" {
		u.Source = q.Get("ref")
	}
	if u.Source == "" {
		u.Source = q.Get("source")
	}
	for _, p := range []*string{&u.Source, &u.Medium, &u.Campaign, &u.Term, &u.Content} {
		if len(*p) > 200 {
			n := 200
			for n > 0 && !utf8.RuneStart((*p)[n]) {
				n-- // never cut a character in two
			}
			*p = (*p)[:n]
		}
	}
	return u
}

// hostCache remembers what a referrer host is (a known source, referrer
// spam): both need the host's registrable domain from the public suffix
// list, which was a quarter of enrichment. Hosts repeat far more than
// referrer addresses do. It holds at most hostCacheMax hosts and starts
// over when full. The zero value is ready to use.
type hostCache struct {
	mu sync.RWMutex
	m  map[string]hostFacts
}

const hostCacheMax = 20000

type hostFacts struct {
	source  knownSource
	isKnown bool
	spam    bool
}

func (c *hostCache) facts(host string, bots *BotMatcher) hostFacts {
	c.mu.RLock()
	f, ok := c.m[host]
	c.mu.RUnlock()
	if ok {
		return f
	}
	f.source, f.isKnown = lookupSource(host)
	f.spam = bots != nil && bots.IsSpam(host)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= hostCacheMax {
		c.m = make(map[string]hostFacts)
	}
	c.m[host] = f
	c.mu.Unlock()
	return f
}
