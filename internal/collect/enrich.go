package collect

import (
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/site"
)

// Reasons a valid beacon is not stored. They are reported to the sender in
// a response header and counted in metrics.
const (
	DropBot     = "bot"
	DropSpam    = "referrer-spam"
	DropIgnored = "ignored"
	// DropNoSalt: the server's clock is outside the days it has visitor
	// salts for (see Visitors.Rotate), so no visitor id can be made.
	DropNoSalt = "no-visitor-salt"
)

// Request is what the collector knows about the sender of a beacon. The IP
// and user agent are used for enrichment and hashing, then forgotten.
type Request struct {
	IP        netip.Addr
	UserAgent string
	// Consented is the visitor's first-party id when the visitor granted
	// analytics (see the consent part); the visitor hash is then made of
	// it instead of the address and user agent. It still changes daily:
	// the salt is the day's.
	Consented *[16]byte
}

// Enricher turns a Beacon into a Hit: agent, source, campaign, screen class,
// place, normalised path and visitor id.
type Enricher struct {
	Agents   *AgentParser
	Bots     *BotMatcher
	Visitors *Visitors
	// Places finds where an address is (nil: no geolocation). The place
	// is kept at the precision it returns; the address is not.
	Places Locator
	Now    func() time.Time

	hosts hostCache // referrer hosts seen; Bots must not change once hits flow
}

// Enrich builds the hit for one site. When the hit must not be stored it
// returns a drop reason instead.
func (e *Enricher) Enrich(b *Beacon, s *site.Site, r Request) (analytics.Hit, string) {
	page := b.page
	if page == nil {
		var err error
		if page, err = url.Parse(b.URL); err != nil {
			return analytics.Hit{}, DropIgnored
		}
	}
	path := NormalizePath(page, s.KeepParams, b.HashMode)
	if s.Ignored(r.IP, path) {
		return analytics.Hit{}, DropIgnored
	}
	agent := e.Agents.Parse(r.UserAgent)
	if agent.Bot {
		return analytics.Hit{}, DropBot
	}
	utm := ParseUTM(page.Query())
	refHost, refPath := referrerParts(b.Referrer)
	src := classify(refHost, page, utm, func(host string) (knownSource, bool) {
		f := e.hosts.facts(host, e.Bots)
		return f.source, f.isKnown
	})
	if src.Referrer != "" && e.hosts.facts(src.Referrer, e.Bots).spam {
		return analytics.Hit{}, DropSpam
	}
	now := e.Now().UTC().Truncate(time.Millisecond)
	var cur, prev uint64
	if r.Consented != nil {
		cur, prev = e.Visitors.HashID(s.Domain, s.Location(), now, r.Consented)
	} else {
		cur, prev = e.Visitors.Hash(s.Domain, s.Location(), now, r.IP, r.UserAgent)
	}
	if cur == 0 {
		return analytics.Hit{}, DropNoSalt
	}
	h := analytics.Hit{
		ID:              randomID(),
		Time:            now,
		Site:            s.Domain,
		Name:            b.Name,
		Hostname:        strings.TrimPrefix(strings.ToLower(page.Hostname()), "www."),
		Path:            path,
		Referrer:        referrerOf(src, refPath),
		ReferrerSource:  src.Name,
		Channel:         src.Channel,
		UTMSource:       utm.Source,
		UTMMedium:       utm.Medium,
		UTMCampaign:     utm.Campaign,
		UTMTerm:         utm.Term,
		UTMContent:      utm.Content,
		Browser:         agent.Browser,
		BrowserVersion:  agent.BrowserVersion,
		OS:              agent.OS,
		OSVersion:       agent.OSVersion,
		Device:          agent.Device,
		ScreenW:         b.ScreenW,
		ScreenH:         b.ScreenH,
		ViewportW:       b.ViewportW,
		ViewportH:       b.ViewportH,
		DPR:             b.DPR,
		ColorDepth:      b.ColorDepth,
		ScreenClass:     ScreenClass(b.ScreenW),
		Language:        normalizeLanguage(b.Language),
		TimeZone:        b.TimeZone,
		VisitorID:       cur,
		PrevVisitorID:   prev,
		PageviewID:      b.PageviewID,
		EngagedMS:       b.EngagedMS,
		ScrollDepth:     b.ScrollDepth,
		Props:           b.Props,
		RevenueMilli:    b.RevenueMilli,
		RevenueCurrency: b.RevenueCurrency,
		NonInteractive:  b.NonInteractive && b.Name != analytics.EventPageview,
	}
	if e.Places != nil {
		h.Place = e.Places.Place(r.IP)
	}
	sanitize(&h)
	return h, ""
}

// referrerOf is the stored referrer: the page's host and path when the
// visit came from another site, "" when direct or internal.
func referrerOf(src Source, path string) string {
	if src.Referrer == "" {
		return ""
	}
	return path
}

// sanitize makes every text field valid UTF-8 without NUL bytes. Parsing
// refuses such input already; this is the last line of defence, because a
// string the event store refuses would stop the ingester on that batch.
func sanitize(h *analytics.Hit) {
	clean := func(s *string) {
		if utf8.ValidString(*s) && strings.IndexByte(*s, 0) < 0 {
			return
		}
		*s = strings.ReplaceAll(strings.ToValidUTF8(*s, "\uFFFD"), "\x00", "")
	}
	for _, s := range []*string{&h.Site, &h.Name, &h.Hostname, &h.Path, &h.Referrer, &h.ReferrerSource, &h.Channel,
		&h.UTMSource, &h.UTMMedium, &h.UTMCampaign, &h.UTMTerm, &h.UTMContent,
		&h.Browser, &h.BrowserVersion, &h.OS, &h.OSVersion, &h.Device, &h.ScreenClass, &h.Language, &h.TimeZone,
		&h.Country, &h.CountryName, &h.Region, &h.RegionName, &h.CityName} {
		clean(s)
	}
	for i := range h.Props {
		clean(&h.Props[i].Key)
		clean(&h.Props[i].Value)
	}
}

// Locator finds where an address is; geo.Resolver is one.
type Locator interface {
	Place(ip netip.Addr) analytics.Place
}

func randomID() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// NormalizePath returns the page path as the stats show it: no query
// string except the parameters the site keeps, no fragment unless the site
// routes by fragment (hashMode, Plausible's "h"), "/" when empty, at most
// MaxURLLen bytes.
func NormalizePath(u *url.URL, keep []string, hashMode bool) string {
	p := u.Path
	if p == "" {
		p = "/"
	}
	if len(keep) > 0 && u.RawQuery != "" {
		q := u.Query()
		kept := url.Values{}
		for _, k := range keep {
			if v, ok := q[k]; ok {
				kept[k] = v
			}
		}
		if len(kept) > 0 {
			p += "?" + kept.Encode()
		}
	}
	if hashMode && u.Fragment != "" {
		p += "#" + u.Fragment
	}
	if len(p) > analytics.MaxURLLen {
		p = p[:analytics.MaxURLLen]
	}
	return p
}

// ScreenClass groups screen widths as Plausible does.
func ScreenClass(width uint16) string {
	switch {
	case width == 0:
		return ""
	case width < 576:
		return "Mobile"
	case width < 992:
		return "Tablet"
	case width < 1440:
		return "Laptop"
	default:
		return "Desktop"
	}
}

// normalizeLanguage keeps a BCP 47 tag's language and region ("en-US").
func normalizeLanguage(l string) string {
	l = strings.TrimSpace(l)
	if l == "" {
		return ""
	}
	parts := strings.Split(strings.ReplaceAll(l, "_", "-"), "-")
	out := strings.ToLower(parts[0])
	for _, p := range parts[1:] {
		if len(p) == 2 || (len(p) == 3 && p[0] >= '0' && p[0] <= '9') {
			out += "-" + strings.ToUpper(p)
			break
		}
	}
	for _, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return ""
		}
	}
	return out
}
