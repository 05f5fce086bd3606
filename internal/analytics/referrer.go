package analytics

import (
	"net/url"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Channels a visit can come from.
const (
	ChannelDirect   = "direct"
	ChannelSearch   = "search"
	ChannelSocial   = "social"
	ChannelEmail    = "email"
	ChannelCampaign = "campaign"
	ChannelReferral = "referral"
)

// SourceDirect is the source of a visit with neither referrer nor campaign.
const SourceDirect = "Direct / None"

type knownSource struct{ name, channel string }

// knownSources maps a registrable domain (or a host) to a display name and
// channel. Hosts are looked up first, then their registrable domain, then
// that domain's first label (so google.co.uk finds "google").
var knownSources = map[string]knownSource{
	"google":               {"Google", ChannelSearch},
	"bing.com":             {"Bing", ChannelSearch},
	"duckduckgo.com":       {"DuckDuckGo", ChannelSearch},
	"yahoo":                {"Yahoo!", ChannelSearch},
	"search.yahoo.com":     {"Yahoo!", ChannelSearch},
	"baidu.com":            {"Baidu", ChannelSearch},
	"yandex":               {"Yandex", ChannelSearch},
	"ecosia.org":           {"Ecosia", ChannelSearch},
	"qwant.com":            {"Qwant", ChannelSearch},
	"search.brave.com":     {"Brave Search", ChannelSearch},
	"startpage.com":        {"Startpage", ChannelSearch},
	"naver.com":            {"Naver", ChannelSearch},
	"sogou.com":            {"Sogou", ChannelSearch},
	"so.com":               {"360 Search", ChannelSearch},
	"perplexity.ai":        {"Perplexity", ChannelSearch},
	"chatgpt.com":          {"ChatGPT", ChannelSearch},
	"facebook.com":         {"Facebook", ChannelSocial},
	"fb.me":                {"Facebook", ChannelSocial},
	"instagram.com":        {"Instagram", ChannelSocial},
	"t.co":                 {"Twitter", ChannelSocial},
	"twitter.com":          {"Twitter", ChannelSocial},
	"x.com":                {"Twitter", ChannelSocial},
	"linkedin.com":         {"LinkedIn", ChannelSocial},
	"lnkd.in":              {"LinkedIn", ChannelSocial},
	"reddit.com":           {"Reddit", ChannelSocial},
	"youtube.com":          {"YouTube", ChannelSocial},
	"pinterest.com":        {"Pinterest", ChannelSocial},
	"tiktok.com":           {"TikTok", ChannelSocial},
	"weibo.com":            {"Weibo", ChannelSocial},
	"zhihu.com":            {"Zhihu", ChannelSocial},
	"news.ycombinator.com": {"Hacker News", ChannelSocial},
	"mastodon.social":      {"Mastodon", ChannelSocial},
	"bsky.app":             {"Bluesky", ChannelSocial},
	"github.com":           {"GitHub", ChannelReferral},
	"mail.google.com":      {"Gmail", ChannelEmail},
	"outlook.live.com":     {"Outlook.com", ChannelEmail},
	"mail.yahoo.com":       {"Yahoo! Mail", ChannelEmail},
	"mail.qq.com":          {"QQ Mail", ChannelEmail},
}

// Source is where a visit came from.
type Source struct {
	Referrer string // host of the referring page, without "www."; "" when none
	Name     string // display name: a known source, the UTM source, the referrer host, or SourceDirect
	Channel  string
}

// Classify works out a hit's source from its referrer and its page URL's
// campaign parameters. A referrer from the page's own host is internal and
// counts as none.
func Classify(referrer string, page *url.URL, utm UTM) Source {
	var src Source
	host := referrerHost(referrer)
	if host != "" && page != nil && strings.TrimPrefix(strings.ToLower(page.Hostname()), "www.") == host {
		host = ""
	}
	src.Referrer = host
	if host != "" {
		if k, ok := lookupSource(host); ok {
			src.Name, src.Channel = k.name, k.channel
		} else {
			src.Name, src.Channel = host, ChannelReferral
		}
	}
	if utm.Source != "" {
		if src.Name == "" || src.Channel == ChannelReferral {
			src.Name = utm.Source
		}
		switch strings.ToLower(utm.Medium) {
		case "email", "e-mail", "newsletter":
			src.Channel = ChannelEmail
		case "social", "social-network", "sm":
			src.Channel = ChannelSocial
		default:
			if src.Channel == "" || src.Channel == ChannelReferral {
				src.Channel = ChannelCampaign
			}
		}
	}
	if src.Name == "" {
		src.Name, src.Channel = SourceDirect, ChannelDirect
	}
	return src
}

func referrerHost(ref string) string {
	if ref == "" {
		return ""
	}
	u, err := url.Parse(ref)
	if err != nil || u.Host == "" {
		return ""
	}
	if u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "android-app" {
		return ""
	}
	h := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	return strings.TrimPrefix(h, "www.")
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
			*p = (*p)[:200]
		}
	}
	return u
}
