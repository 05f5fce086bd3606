package collect

import (
	_ "embed"
	"strings"
	"sync"

	"waymark.dev/waymark/internal/analytics"
)

// Source categories of Google Analytics 4's default channel group, which
// Plausible's acquisition channels are built on.
//
//go:embed source-categories.csv
var sourceCategoriesCSV string

const (
	catSearch   = "SEARCH"
	catSocial   = "SOCIAL"
	catVideo    = "VIDEO"
	catShopping = "SHOPPING"
	catEmail    = "EMAIL"
	catAI       = "AI_ASSISTANTS"
)

// extraCategories come before the GA4 list: Plausible's own additions,
// then Waymark's for the names its known sources carry.
var extraCategories = map[string]string{
	// Plausible's.
	"hacker news": catSocial, "yahoo!": catSearch, "gmail": catEmail, "telegram": catSocial, "slack": catSocial,
	"producthunt": catSocial, "github": catSocial, "steamcommunity.com": catSocial, "statics.teams.cdn.office.net": catSocial,
	"vkontakte": catSocial, "threads": catSocial, "ecosia": catSearch, "brave": catSearch, "temu.com": catShopping,
	"discord": catSocial, "sogou": catSearch, "microsoft teams": catSocial, "bluesky": catSocial, "mastodon": catSocial,
	"chatgpt": catAI, "chatgpt.com": catAI, "claude": catAI, "phind": catAI, "deepseek": catAI, "copilot": catAI,
	"grok": catAI, "google gemini": catAI, "perplexity": catAI, "x (twitter)": catSocial,
	// Waymark's names of known sources that neither list has.
	"brave search": catSearch, "startpage": catSearch, "360 search": catSearch, "zhihu": catSocial,
	"outlook.com": catEmail, "yahoo! mail": catEmail, "qq mail": catEmail,
}

var sourceCategories = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(sourceCategoriesCSV) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if s, c, ok := strings.Cut(line, ","); ok {
			m[s] = c
		}
	}
	for s, c := range extraCategories {
		m[s] = c
	}
	return m
})

// paidSources are utm_source values that mean paid traffic whatever the
// medium says (Plausible keeps such a list too; these are common ones).
var paidSources = map[string]bool{
	"adwords": true, "google-ads": true, "googleads": true, "google_ads": true, "gads": true,
	"fb-ads": true, "fbads": true, "facebook-ads": true, "facebook_ads": true, "facebook_ad": true, "fb_ad": true,
	"ig-ads": true, "instagram-ads": true, "instagram_ads": true, "instagram_ad": true,
	"yt-ads": true, "youtube-ads": true, "youtube_ads": true, "yt_ad": true,
	"linkedin-ads": true, "linkedin_ads": true, "li-ads": true, "twitter-ads": true, "twitter_ads": true, "x-ads": true,
	"bing-ads": true, "bing_ads": true, "microsoft-ads": true, "tiktok-ads": true, "tiktok_ads": true,
	"reddit-ads": true, "pinterest-ads": true,
}

var emailTags = []string{"email", "e-mail", "e_mail", "e mail", "newsletter"}

// paidMedium is Plausible's ^(.*cp.*|ppc|retargeting|paid.*)$ without a
// regular expression (this runs for every hit).
func paidMedium(m string) bool {
	return strings.Contains(m, "cp") || m == "ppc" || m == "retargeting" || strings.HasPrefix(m, "paid")
}

// shoppingCampaign is Plausible's ^(.*(([^a-df-z]|^)shop|shopping).*)$ on
// a lower-cased campaign: "shopping" anywhere, or "shop" at the start or
// after anything but the letters a-d and f-z.
func shoppingCampaign(c string) bool {
	if strings.Contains(c, "shopping") {
		return true
	}
	for i := 0; ; {
		j := strings.Index(c[i:], "shop")
		if j < 0 {
			return false
		}
		j += i
		if j == 0 {
			return true
		}
		if p := c[j-1]; !(p >= 'a' && p <= 'd' || p >= 'f' && p <= 'z') {
			return true
		}
		i = j + 1
	}
}

// Channel is a visit's acquisition channel as Plausible works it out: from
// its source (the name the stats show, "" when direct), its campaign's
// medium, name and utm_source, and the ad click id on its page ("gclid",
// "msclkid" or ""), in Plausible's order of rules.
func Channel(source, medium, campaign, utmSource, click string) string {
	source, medium = strings.ToLower(source), strings.ToLower(medium)
	campaign, utmSource = strings.ToLower(campaign), strings.ToLower(utmSource)
	cat := sourceCategories()[source]
	paid := paidMedium(medium)
	paidSource := paidSources[utmSource]
	shopping := cat == catShopping || shoppingCampaign(campaign)
	containsAny := func(s string, tags []string) bool {
		for _, t := range tags {
			if strings.Contains(s, t) {
				return true
			}
		}
		return false
	}
	switch {
	case strings.Contains(campaign, "cross-network"):
		return analytics.ChannelCrossNetwork
	case shopping && paid:
		return analytics.ChannelPaidShopping
	case cat == catSearch && (paid || paidSource) || source == "google" && click == "gclid" || source == "bing" && click == "msclkid":
		return analytics.ChannelPaidSearch
	case cat == catSocial && (paid || paidSource):
		return analytics.ChannelPaidSocial
	case cat == catVideo && (paid || paidSource):
		return analytics.ChannelPaidVideo
	case medium == "display" || medium == "banner" || medium == "expandable" || medium == "interstitial" || medium == "cpm":
		return analytics.ChannelDisplay
	case paid:
		return analytics.ChannelPaidOther
	case shopping:
		return analytics.ChannelOrganicShopping
	case cat == catSocial || medium == "social" || medium == "social-network" || medium == "social-media" || medium == "sm" ||
		medium == "social network" || medium == "social media":
		return analytics.ChannelOrganicSocial
	case cat == catVideo || strings.Contains(medium, "video"):
		return analytics.ChannelOrganicVideo
	case cat == catAI:
		return analytics.ChannelAIAssistants
	case cat == catSearch:
		return analytics.ChannelOrganicSearch
	case cat == catEmail || containsAny(utmSource, emailTags) || containsAny(medium, emailTags):
		return analytics.ChannelEmail
	case medium == "affiliate":
		return analytics.ChannelAffiliates
	case medium == "audio":
		return analytics.ChannelAudio
	case utmSource == "sms" || medium == "sms":
		return analytics.ChannelSMS
	case strings.HasSuffix(medium, "push") || strings.Contains(medium, "mobile") || strings.Contains(medium, "notification") || source == "firebase":
		return analytics.ChannelMobilePush
	case medium == "referral" || medium == "app" || medium == "link" || source != "":
		return analytics.ChannelReferral
	}
	return analytics.ChannelDirect
}
