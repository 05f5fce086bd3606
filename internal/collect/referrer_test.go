package collect

import (
	"fmt"
	"net/url"
	"testing"

	"waymark.dev/waymark/internal/analytics"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	page, _ := url.Parse("https://www.shop.example/p")
	tests := []struct {
		ref  string
		utm  UTM
		want Source
	}{
		{"", UTM{}, Source{"", analytics.SourceDirect, analytics.ChannelDirect}},
		{"https://shop.example/other", UTM{}, Source{"", analytics.SourceDirect, analytics.ChannelDirect}},
		{"https://www.google.co.uk/search?q=x", UTM{}, Source{"google.co.uk", "Google", analytics.ChannelOrganicSearch}},
		{"https://duckduckgo.com/", UTM{}, Source{"duckduckgo.com", "DuckDuckGo", analytics.ChannelOrganicSearch}},
		{"https://t.co/abc", UTM{}, Source{"t.co", "Twitter", analytics.ChannelOrganicSocial}},
		{"https://m.facebook.com/", UTM{}, Source{"m.facebook.com", "Facebook", analytics.ChannelOrganicSocial}},
		{"https://mail.google.com/", UTM{}, Source{"mail.google.com", "Gmail", analytics.ChannelEmail}},
		{"https://www.youtube.com/watch?v=1", UTM{}, Source{"youtube.com", "YouTube", analytics.ChannelOrganicVideo}},
		{"https://chatgpt.com/", UTM{}, Source{"chatgpt.com", "ChatGPT", analytics.ChannelAIAssistants}},
		{"https://blog.example.org/post", UTM{}, Source{"blog.example.org", "blog.example.org", analytics.ChannelReferral}},
		{"", UTM{Source: "newsletter", Medium: "email"}, Source{"", "newsletter", analytics.ChannelEmail}},
		{"", UTM{Source: "partner", Medium: "cpc"}, Source{"", "partner", analytics.ChannelPaidOther}},
		{"", UTM{Source: "partner", Medium: "affiliate"}, Source{"", "partner", analytics.ChannelAffiliates}},
		{"", UTM{Source: "partner", Medium: "banner"}, Source{"", "partner", analytics.ChannelDisplay}},
		{"", UTM{Source: "partner", Campaign: "Spring cross-network"}, Source{"", "partner", analytics.ChannelCrossNetwork}},
		{"", UTM{Source: "sms"}, Source{"", "sms", analytics.ChannelSMS}},
		{"https://www.google.com/", UTM{Source: "adwords", Medium: "cpc"}, Source{"google.com", "Google", analytics.ChannelPaidSearch}},
		{"https://www.facebook.com/", UTM{Source: "facebook", Medium: "paid_social"}, Source{"facebook.com", "Facebook", analytics.ChannelPaidSocial}},
		{"https://www.amazon.com/", UTM{}, Source{"amazon.com", "amazon.com", analytics.ChannelOrganicShopping}},
		{"not a url", UTM{}, Source{"", analytics.SourceDirect, analytics.ChannelDirect}},
		{"ftp://files.example/", UTM{}, Source{"", analytics.SourceDirect, analytics.ChannelDirect}},
		// Plausible's Events API tests: local and non-web referrers are
		// none; a utm_source naming a known source shows that source.
		{"http://localhost:4000/", UTM{}, Source{"", analytics.SourceDirect, analytics.ChannelDirect}},
		{"http://192.168.1.10/admin", UTM{}, Source{"", analytics.SourceDirect, analytics.ChannelDirect}},
		{"android-app://com.google.android.gm", UTM{}, Source{"", analytics.SourceDirect, analytics.ChannelDirect}},
		{"https:://twitter.com", UTM{}, Source{"", analytics.SourceDirect, analytics.ChannelDirect}},
		{"", UTM{Source: "facebook"}, Source{"", "Facebook", analytics.ChannelOrganicSocial}},
		{"", UTM{Source: "fb", Medium: "email"}, Source{"", "Facebook", analytics.ChannelOrganicSocial}},
		{"", UTM{Source: "betalist"}, Source{"", "betalist", analytics.ChannelReferral}},
		{"https://betalist.com/my-product", UTM{Source: "betalist"}, Source{"betalist.com", "betalist", analytics.ChannelReferral}},
	}
	for _, tt := range tests {
		if got := Classify(tt.ref, page, tt.utm); got != tt.want {
			t.Errorf("Classify(%q, %+v) = %+v, want %+v", tt.ref, tt.utm, got, tt.want)
		}
	}
	// Google Ads' and Microsoft Advertising's click ids: paid search.
	for raw, want := range map[string]Source{
		"https://shop.example/p?gclid=abc":   {"", "Google", analytics.ChannelPaidSearch},
		"https://shop.example/p?msclkid=abc": {"", "Bing", analytics.ChannelPaidSearch},
	} {
		u, _ := url.Parse(raw)
		if got := Classify("", u, UTM{}); got != want {
			t.Errorf("Classify(%s) = %+v, want %+v", raw, got, want)
		}
	}
}

// TestReferrerPath: visit:referrer as Plausible keeps it.
func TestReferrerPath(t *testing.T) {
	t.Parallel()
	for ref, want := range map[string]string{
		"https://facebook.com/page/":                         "facebook.com/page",
		"https://www.indiehackers.com/page?query=param#hash": "indiehackers.com/page",
		"http://m.facebook.com/":                             "m.facebook.com",
		"https://news.ycombinator.com/item?id=1":             "news.ycombinator.com/item",
		"https://example.org/caf%C3%A9/":                     "example.org/café",
		"http://localhost:4000/":                             "",
		"android-app://com.google.android.gm":                "",
		"":                                                   "",
	} {
		if got := ReferrerPath(ref); got != want {
			t.Errorf("ReferrerPath(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestParseUTM(t *testing.T) {
	t.Parallel()
	q, _ := url.ParseQuery("ref=hn&utm_medium=social&utm_campaign=launch&utm_term=t&utm_content=c")
	if got, want := ParseUTM(q), (UTM{"hn", "social", "launch", "t", "c"}); got != want {
		t.Errorf("ParseUTM = %+v, want %+v", got, want)
	}
}

func FuzzClassify(f *testing.F) {
	f.Add("https://www.google.com/search", "https://e.com/?utm_source=x")
	f.Add("http://[::1]:80/", "https://e.com/")
	f.Fuzz(func(t *testing.T, ref, page string) {
		u, err := url.Parse(page)
		if err != nil {
			return
		}
		s := Classify(ref, u, ParseUTM(u.Query()))
		if s.Name == "" || s.Channel == "" {
			t.Fatalf("Classify(%q, %q) gave an empty source %+v", ref, page, s)
		}
		NormalizePath(u, []string{"id"}, true)
	})
}

// The enricher's remembered host verdicts say what the uncached lookups
// say, and the cache stays within its bound.
func TestHostCache(t *testing.T) {
	t.Parallel()
	bots, err := NewBotMatcher("spam.example")
	if err != nil {
		t.Fatal(err)
	}
	var c hostCache
	page, _ := url.Parse("https://shop.example/a")
	cached := func(host string) (knownSource, bool) {
		f := c.facts(host, bots)
		return f.source, f.isKnown
	}
	refs := []string{"", "https://www.google.com/search?q=x", "https://news.ycombinator.com/item", "https://t.co/abc",
		"https://blog.example.org/post", "https://shop.example/b", "android-app://com.slack/", "https://sub.spam.example/x", "not a url"}
	for round := range 2 { // the second round reads the cache
		for _, r := range refs {
			for _, utm := range []UTM{{}, {Source: "news", Medium: "email"}} {
				if got, want := classify(referrerHost(r), page, utm, cached), Classify(r, page, utm); got != want {
					t.Errorf("round %d, %q %+v: cached %+v, uncached %+v", round, r, utm, got, want)
				}
			}
		}
	}
	if !c.facts("sub.spam.example", bots).spam || c.facts("blog.example.org", bots).spam {
		t.Error("spam verdicts differ from BotMatcher.IsSpam")
	}
	for i := range hostCacheMax + 10 {
		c.facts(fmt.Sprintf("h%d.example", i), bots)
	}
	if n := len(c.m); n > hostCacheMax {
		t.Errorf("cache holds %d hosts, bound %d", n, hostCacheMax)
	}
}
