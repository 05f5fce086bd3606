// Package synth generates realistic synthetic traffic for the demo and
// the benchmarks: hits as the collector would make them, for a site and a
// span of time.
package synth

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/collect"
	"waymark.dev/waymark/internal/geo"
	"waymark.dev/waymark/internal/spool"
)

// Generator generates realistic synthetic traffic for benchmarks and demos:
// Zipf-distributed pages and referrers, returning visitors, multi-page
// visits, engagement beacons and a few custom events.
type Generator struct {
	Site  string
	Loc   *time.Location // the site's zone: visitor ids belong to its days
	Pages int            // distinct pages
	Refs  int            // distinct referring sites
	// Paths, when set, are the pages visited (Zipf over the list, most
	// popular first) instead of /page/N; Entry is where visits land when
	// they start on the home page (default "/").
	Paths []string
	Entry string
	// Purchases, when set, is a revenue currency: some views of pages
	// under /products/ end in a "Purchase" event with revenue in it.
	Purchases string
	r         *rand.Rand
	pages     *rand.Zipf
	refs      *rand.Zipf
}

// DemoSite is the demo shop's site domain: where the demo's traffic goes,
// and the benchmarks' default site.
const DemoSite = "demo.waymark.localhost"

// New seeds a generator.
func New(site string, seed uint64) *Generator {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s := &Generator{Site: site, Loc: time.UTC, Pages: 2000, Refs: 5000, r: r}
	s.pages = rand.NewZipf(r, 1.1, 1, uint64(s.Pages-1))
	s.refs = rand.NewZipf(r, 1.2, 1, uint64(s.Refs-1))
	return s
}

var synthAgents = []collect.Agent{
	{Browser: "Chrome", BrowserVersion: "131.0", OS: "Windows", OSVersion: "10", Device: "Desktop"},
	{Browser: "Chrome", BrowserVersion: "131.0", OS: "Android", OSVersion: "14", Device: "Mobile"},
	{Browser: "Safari", BrowserVersion: "18.1", OS: "iOS", OSVersion: "18.1", Device: "Mobile"},
	{Browser: "Safari", BrowserVersion: "18.1", OS: "Mac", OSVersion: "10.15", Device: "Desktop"},
	{Browser: "Firefox", BrowserVersion: "133.0", OS: "Linux", Device: "Desktop"},
	{Browser: "Edge", BrowserVersion: "131.0", OS: "Windows", OSVersion: "10", Device: "Desktop"},
	{Browser: "Samsung Browser", BrowserVersion: "26.0", OS: "Android", OSVersion: "13", Device: "Tablet"},
}

var synthScreens = [][2]uint16{{1920, 1080}, {390, 844}, {1440, 900}, {412, 915}, {2560, 1440}, {820, 1180}, {1366, 768}}

var synthLangs = []string{"en-US", "en-GB", "de-DE", "zh-CN", "fr-FR", "es-ES", "ja-JP"}

// synthPlaces are where synthetic visitors are, weighted by repetition
// (a European shop: Germany first); cities carry their GeoNames ids.
var synthPlaces = func() []analytics.Place {
	type c struct {
		country, region string
		city            uint32
		name            string
		weight          int
	}
	cities := []c{
		{"DE", "DE-BE", 2950159, "Berlin", 9}, {"DE", "DE-BY", 2867714, "Munich", 6}, {"DE", "DE-HH", 2911298, "Hamburg", 4},
		{"US", "US-NY", 5128581, "New York City", 6}, {"US", "US-CA", 5391959, "San Francisco", 4}, {"US", "US-TX", 4671654, "Austin", 2},
		{"GB", "GB-ENG", 2643743, "London", 6}, {"GB", "GB-ENG", 2643123, "Manchester", 2}, {"FR", "FR-IDF", 2988507, "Paris", 5},
		{"NL", "NL-NH", 2759794, "Amsterdam", 3}, {"AT", "AT-9", 2761369, "Vienna", 3}, {"CH", "CH-ZH", 2657896, "Zurich", 2},
		{"ES", "ES-MD", 3117735, "Madrid", 2}, {"PL", "PL-14", 756135, "Warsaw", 2}, {"SE", "SE-AB", 2673730, "Stockholm", 2},
		{"PT", "PT-11", 2267057, "Lisbon", 2}, {"EE", "EE-37", 588409, "Tallinn", 1}, {"CA", "CA-ON", 6167865, "Toronto", 2},
		{"JP", "JP-13", 1850147, "Tokyo", 2}, {"AU", "AU-NSW", 2147714, "Sydney", 1}, {"BR", "BR-SP", 3448439, "São Paulo", 1},
		{"IN", "IN-KA", 1277333, "Bengaluru", 2},
	}
	var out []analytics.Place
	for _, x := range cities {
		p := analytics.Place{Country: x.country, CountryName: geo.CountryName(x.country), Region: x.region,
			RegionName: geo.RegionName(x.region), City: x.city, CityName: x.name}
		for range x.weight {
			out = append(out, p)
		}
	}
	return out
}()

// Visits generates visits starting in [from, from+span) until emit has
// been given n hits. Hits of a visit come together and in time order;
// visits start in time order. Visits average about 4.1 hits and are
// spread so that n is usually reached just before the span ends; if the
// span ends first, fewer hits are made. It returns the number of hits.
// No hit falls at or after the span's end: a visit that would run past it
// is cut short (the demo's traffic must stay out of the realtime view).
func (s *Generator) Visits(from time.Time, span time.Duration, n int, emit func(*analytics.Hit)) int {
	r := s.r
	visits := max(1, n*10/42)
	step := span / time.Duration(visits)
	// Each day's visitors come from a pool of twice the day's visits: about
	// 1.3 visits per visitor and day, as hashed ids give.
	days := max(1, int(span/(24*time.Hour)))
	visitorPool := uint64(max(1, 2*visits/days))
	count := 0
	t := from
	end := from.Add(span)
	for count < n {
		t = t.Add(time.Duration(r.Float64() * 2 * float64(step)))
		if !t.Before(end) {
			break
		}
		// A visitor keeps one browser, system, device, screen, language
		// and place on all of a day's visits (the breakdowns' shares then
		// add up to 100%, as with real visitors): they are drawn from the
		// visitor's number, not per visit.
		visitor := 1 + r.Uint64N(visitorPool)
		pick := func(salt uint64, n int) int { return int(mix(visitor*0x9e3779b97f4a7c15+salt) % uint64(n)) }
		ag := synthAgents[pick(1, len(synthAgents))]
		scr := synthScreens[pick(2, len(synthScreens))]
		src := collect.Source{Name: analytics.SourceDirect, Channel: analytics.ChannelDirect}
		var utm collect.UTM
		switch x := r.IntN(10); {
		case x < 4:
		case x < 8:
			host := fmt.Sprintf("site%d.example", s.refs.Uint64())
			if x < 6 {
				host = []string{"google.com", "bing.com", "duckduckgo.com", "t.co", "news.ycombinator.com"}[r.IntN(5)]
			}
			src = collect.Classify("https://"+host+"/", nil, utm)
		default:
			utm = collect.UTM{Source: []string{"newsletter", "twitter", "partner"}[r.IntN(3)], Medium: []string{"email", "social", "cpc"}[r.IntN(3)], Campaign: fmt.Sprintf("spring-%d", r.IntN(20))}
			src = collect.Classify("", nil, utm)
		}
		base := analytics.Hit{
			Site: s.Site, Hostname: s.Site,
			Referrer: src.Referrer, ReferrerSource: src.Name, Channel: src.Channel,
			UTMSource: utm.Source, UTMMedium: utm.Medium, UTMCampaign: utm.Campaign,
			Browser: ag.Browser, BrowserVersion: ag.BrowserVersion, OS: ag.OS, OSVersion: ag.OSVersion, Device: ag.Device,
			ScreenW: scr[0], ScreenH: scr[1], ViewportW: scr[0], ViewportH: scr[1] - 100, DPR: 1, ColorDepth: 24,
			ScreenClass: collect.ScreenClass(scr[0]), Language: synthLangs[pick(3, len(synthLangs))], TimeZone: "Europe/Berlin",
			VisitorID: analytics.DayVisitorID(analytics.LocalDay(t.In(s.Loc)), visitor*2654435761),
			Place:     synthPlaces[pick(4, len(synthPlaces))],
		}
		pages := 1 + int(r.ExpFloat64()*1.5)
		ht := t
		// Nothing of a visit falls at or after end: the demo's traffic
		// ends before the realtime window, whatever a visit's length.
		for p := 0; p < pages && count < n && ht.Before(end); p++ {
			h := base
			h.ID = r.Uint64()
			h.Time = ht
			h.Name = analytics.EventPageview
			if len(s.Paths) > 0 {
				h.Path = s.Paths[int(s.pages.Uint64())%len(s.Paths)]
			} else {
				h.Path = fmt.Sprintf("/page/%d", s.pages.Uint64())
			}
			if p == 0 && r.IntN(5) == 0 {
				h.Path = "/"
				if s.Entry != "" {
					h.Path = s.Entry
				}
			}
			h.PageviewID = r.Uint64()
			emit(&h)
			count++
			dwell := time.Duration(5+r.ExpFloat64()*40) * time.Second
			if count < n && r.IntN(10) < 6 && ht.Add(dwell).Before(end) {
				e := h
				e.ID, e.Name, e.Time = r.Uint64(), analytics.EventEngagement, ht.Add(dwell)
				e.EngagedMS, e.ScrollDepth = uint32(dwell/time.Millisecond), uint8(20+r.IntN(81))
				emit(&e)
				count++
			}
			if s.Purchases != "" && count < n && strings.Contains(h.Path, "/products/") && r.IntN(25) == 0 && ht.Add(dwell/2).Before(end) {
				e := h
				e.ID, e.Name, e.Time, e.PageviewID = r.Uint64(), "Purchase", ht.Add(dwell/2), 0
				e.RevenueMilli, e.RevenueCurrency = int64(19_000+r.IntN(230)*1000+990), s.Purchases
				emit(&e)
				count++
			}
			if count < n && r.IntN(40) == 0 && ht.Add(dwell/2).Before(end) {
				e := h
				e.ID, e.Name, e.Time, e.PageviewID = r.Uint64(), "Signup", ht.Add(dwell/2), 0
				e.Props = []analytics.Prop{{Key: "plan", Value: []string{"free", "pro"}[r.IntN(2)]}}
				emit(&e)
				count++
			}
			ht = ht.Add(dwell)
		}
	}
	return count
}

// Fill writes up to n events from g through the sessionizer in
// batches, as the ingester would, and returns how many it wrote.
func (g *Generator) Fill(ctx context.Context, store analytics.EventWriter, from time.Time, span time.Duration, n int) (int, error) {
	// The batches keep the store's spool checkpoint where it is: these
	// events never were in the spool, and moving it would make the
	// ingester skip real hits.
	cp, err := store.Checkpoint(ctx)
	if err != nil {
		return 0, err
	}
	z := collect.NewSessionizer(nil)
	batch := make([]analytics.Event, 0, 100_000)
	var seq int64
	flush := func() error {
		b := &analytics.Batch{Events: batch, Sessions: z.Flush(), Checkpoint: cp}
		if err := store.WriteBatch(ctx, b); err != nil {
			return err
		}
		z.Committed()
		batch = batch[:0]
		return nil
	}
	count := g.Visits(from, span, n, func(h *analytics.Hit) {
		if err != nil {
			return
		}
		seq++
		batch = append(batch, z.Add(h, spool.Pos{Seg: 1, Off: seq}))
		if len(batch) == cap(batch) {
			err = flush()
		}
	})
	if err != nil {
		return 0, err
	}
	return count, flush()
}

// mix is a 64-bit finaliser (SplitMix64's): a visitor number's bits,
// spread.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
