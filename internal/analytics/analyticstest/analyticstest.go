// Package analyticstest is the conformance suite every event store runs:
// the same fixture traffic, written through the sessionizer, must give the
// same answers to the same stats queries on every backend.
package analyticstest

import (
	"context"
	"log/slog"
	"math"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/collect"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/spool"
	"waymark.dev/waymark/internal/stats"
)

// Store is what a backend must provide.
type Store interface {
	analytics.EventWriter
	stats.StatsReader
}

// Site is the fixture's site: Berlin time, two goals.
func Site() *site.Site {
	return &site.Site{Domain: "conf.test", TimeZone: "Europe/Berlin", CreatedAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		Goals: []site.Goal{{Event: "Signup"}, {Page: "/pricing"}}}
}

// Now is the fixture's "now".
var Now = time.Date(2024, 3, 12, 12, 0, 0, 0, time.UTC)

type hitOpt func(*analytics.Hit)

func at(ts string) time.Time {
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		panic(err)
	}
	return t
}

var chromeWin = collect.Agent{Browser: "Chrome", BrowserVersion: "122.0", OS: "Windows", OSVersion: "10", Device: "Desktop"}
var firefoxLinux = collect.Agent{Browser: "Firefox", BrowserVersion: "123.0", OS: "Linux", Device: "Desktop"}

func hit(visitor uint64, ts, name, path, ref string, ag collect.Agent, opts ...hitOpt) analytics.Hit {
	page, _ := urlParse("https://conf.test" + path)
	utm := collect.ParseUTM(page.Query())
	src := collect.Classify(ref, page, utm)
	h := analytics.Hit{
		ID: visitor<<32 | uint64(at(ts).Unix()&0xffffffff), Time: at(ts), Site: "conf.test", Name: name, Hostname: "conf.test",
		Path: page.Path, Referrer: referrerPath(src, ref), ReferrerSource: src.Name, Channel: src.Channel,
		UTMSource: utm.Source, UTMMedium: utm.Medium, UTMCampaign: utm.Campaign,
		Browser: ag.Browser, BrowserVersion: ag.BrowserVersion, OS: ag.OS, OSVersion: ag.OSVersion, Device: ag.Device,
		ScreenW: 1920, ScreenH: 1080, ScreenClass: "Desktop", Language: "en-US", VisitorID: visitorID(visitor, ts),
	}
	for _, o := range opts {
		o(&h)
	}
	return h
}

// referrerPath is the referrer the enricher stores: host and path.
func referrerPath(src collect.Source, ref string) string {
	if src.Referrer == "" {
		return ""
	}
	return collect.ReferrerPath(ref)
}

var berlin, _ = time.LoadLocation("Europe/Berlin")

// visitorID gives a fixture visitor the id the collector would: the same
// person gets a new id on each local day of the site.
func visitorID(n uint64, ts string) uint64 {
	return analytics.DayVisitorID(analytics.LocalDay(at(ts).In(berlin)), n)
}

func engaged(pid uint64, ms uint32, depth uint8) hitOpt {
	return func(h *analytics.Hit) { h.PageviewID, h.EngagedMS, h.ScrollDepth = pid, ms, depth }
}

func props(kv ...string) hitOpt {
	return func(h *analytics.Hit) {
		for i := 0; i+1 < len(kv); i += 2 {
			h.Props = append(h.Props, analytics.Prop{Key: kv[i], Value: kv[i+1]})
		}
	}
}

var (
	tallinn = analytics.Place{Country: "EE", CountryName: "Estonia", Region: "EE-37", RegionName: "Harjumaa", City: 588409, CityName: "Tallinn"}
	london  = analytics.Place{Country: "GB", CountryName: "United Kingdom", Region: "GB-ENG", RegionName: "England", City: 2643743, CityName: "London"}
)

func in(p analytics.Place) hitOpt { return func(h *analytics.Hit) { h.Place = p } }

// Fixture is the traffic every backend stores. See the comments for what
// each visit contributes to the expected answers.
func Fixture() [][]analytics.Hit {
	return [][]analytics.Hit{{
		// Visitor 4, the previous period (2024-03-09): one pageview.
		hit(4, "2024-03-09T12:00:00Z", "pageview", "/", "", chromeWin),
		// Visitor 1, visit 1 (2024-03-10 11:00 Berlin), from Google:
		// /, /pricing, a Signup on /pricing, 20 s engaged, 80% scrolled; 90 s long.
		hit(1, "2024-03-10T10:00:00Z", "pageview", "/", "https://www.google.com/", chromeWin, in(tallinn)),
		hit(1, "2024-03-10T10:01:00Z", "pageview", "/pricing", "https://conf.test/", chromeWin, in(tallinn)),
		hit(1, "2024-03-10T10:01:30Z", "Signup", "/pricing", "https://conf.test/", chromeWin, props("plan", "pro"), in(tallinn)),
		hit(1, "2024-03-10T10:01:30Z", "engagement", "/pricing", "https://conf.test/", chromeWin, engaged(0xA1, 20000, 80), in(tallinn)),
	}, {
		// Visitor 2 (2024-03-11 00:30 Berlin), from Hacker News: a bounce
		// on /blog reported twice (tab hidden, then closed): 4 s + 2 s
		// engaged, scrolled to 50% then 90%; 0 s long (engagement reports
		// do not lengthen a visit, as in Plausible).
		hit(2, "2024-03-10T23:30:00Z", "pageview", "/blog", "https://news.ycombinator.com/item?id=1", chromeWin, in(london)),
		hit(2, "2024-03-10T23:30:05Z", "engagement", "/blog", "https://news.ycombinator.com/item?id=1", chromeWin, engaged(0xB1, 4000, 50), in(london)),
		hit(2, "2024-03-10T23:30:08Z", "engagement", "/blog", "https://news.ycombinator.com/item?id=1", chromeWin, engaged(0xB1, 2000, 90), in(london)),
		// Visitor 1, visit 2 (a day later: a new visit, and a new visitor
		// id as the collector's daily hash gives), direct: /pricing then
		// /docs; 120 s.
		hit(1, "2024-03-11T09:00:00Z", "pageview", "/pricing", "", chromeWin, in(tallinn)),
		hit(1, "2024-03-11T09:02:00Z", "pageview", "/docs", "https://conf.test/pricing", chromeWin, in(tallinn)),
		// Visitor 3, Firefox, from a newsletter campaign: / and a Signup; 10 s.
		hit(3, "2024-03-11T09:10:00Z", "pageview", "/?utm_source=newsletter&utm_medium=email&utm_campaign=spring", "", firefoxLinux, in(tallinn)),
		hit(3, "2024-03-11T09:10:10Z", "Signup", "/", "", firefoxLinux, props("plan", "free"), in(tallinn)),
	}}
}

// Load writes the fixture through a sessionizer, one batch per group, as
// the ingester does.
func Load(t testing.TB, s Store) {
	t.Helper()
	ctx := context.Background()
	z := collect.NewSessionizer(nil)
	var off int64
	for _, group := range Fixture() {
		var evs []analytics.Event
		for i := range group {
			off += 100
			evs = append(evs, z.Add(&group[i], spool.Pos{Seg: 1, Off: off}))
		}
		b := &analytics.Batch{Events: evs, Sessions: z.Flush(), Checkpoint: spool.Pos{Seg: 1, Off: off}}
		if err := s.WriteBatch(ctx, b); err != nil {
			t.Fatalf("WriteBatch: %v", err)
		}
		z.Committed()
	}
}

// Case is one query and its expected rows, written as [dimensions...,
// metrics...] for brevity.
type Case struct {
	Name  string
	Query string // JSON body without site_id
	Want  [][]any
	Total int // expected total_rows when > 0
}

// Cases are the conformance queries. Expected values follow from the
// fixture's comments.
var Cases = []Case{
	{Name: "headline", Query: `{"metrics":["visitors","pageviews","events","visits","bounce_rate","visit_duration","views_per_visit","time_on_page","scroll_depth"],"date_range":["2024-03-10","2024-03-11"]}`,
		Want: [][]any{{4, 6, 8, 4, 25, 55, 1.5, 13, 85}}},
	{Name: "short range counts active visitors", Query: `{"metrics":["visitors","pageviews"],"date_range":["2024-03-11T09:01:00Z","2024-03-11T09:11:00Z"]}`,
		Want: [][]any{{2, 2}}},
	{Name: "empty range", Query: `{"metrics":["visitors","visits"],"date_range":["2023-01-01","2023-01-02"]}`, Want: [][]any{{0, 0}}},
	{Name: "empty breakdown", Query: `{"metrics":["visitors"],"date_range":["2023-01-01","2023-01-02"],"dimensions":["event:page"]}`, Want: [][]any{}},
	{Name: "sources", Query: `{"metrics":["visitors","visits","bounce_rate"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["visit:source"]}`,
		Want: [][]any{{"Direct / None", 1, 1, 0}, {"Google", 1, 1, 0}, {"Hacker News", 1, 1, 100}, {"newsletter", 1, 1, 0}}},
	{Name: "channels and referrers", Query: `{"metrics":["visits"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["visit:channel","visit:referrer"]}`,
		Want: [][]any{{"Direct", "Direct / None", 1}, {"Email", "Direct / None", 1}, {"Organic Search", "google.com", 1}, {"Organic Social", "news.ycombinator.com/item", 1}}},
	{Name: "pages", Query: `{"metrics":["visitors","pageviews","visits","time_on_page"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["event:page"]}`,
		Want: [][]any{{"/", 2, 2, 2, nil}, {"/pricing", 2, 2, 2, 20}, {"/blog", 1, 1, 1, 6}, {"/docs", 1, 1, 1, nil}}},
	{Name: "pages paginated", Query: `{"metrics":["visitors"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["event:page"],"pagination":{"limit":2,"offset":1},"include":{"total_rows":true}}`,
		Want: [][]any{{"/pricing", 2}, {"/blog", 1}}, Total: 4},
	{Name: "order by dimension desc", Query: `{"metrics":["pageviews"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["event:page"],"order_by":[["event:page","desc"]]}`,
		Want: [][]any{{"/pricing", 2}, {"/docs", 1}, {"/blog", 1}, {"/", 2}}},
	{Name: "entry pages", Query: `{"metrics":["visits","bounce_rate"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["visit:entry_page"]}`,
		Want: [][]any{{"/", 2, 0}, {"/blog", 1, 100}, {"/pricing", 1, 0}}},
	{Name: "exit pages", Query: `{"metrics":["visits","visitors"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["visit:exit_page"]}`,
		Want: [][]any{{"/", 1, 1}, {"/blog", 1, 1}, {"/docs", 1, 1}, {"/pricing", 1, 1}}},
	{Name: "exit pages with a filter value containing the table alias", Query: `{"metrics":["visits","visitors"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["visit:exit_page"],"filters":[["is_not","visit:referrer",["news.ycombinator.com/item"]]]}`,
		Want: [][]any{{"/", 1, 1}, {"/docs", 1, 1}, {"/pricing", 1, 1}}},
	{Name: "days in Berlin", Query: `{"metrics":["visitors","pageviews","visits"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["time:day"],"include":{"time_labels":true}}`,
		Want: [][]any{{"2024-03-10", 1, 2, 1}, {"2024-03-11", 3, 4, 3}}},
	{Name: "hours", Query: `{"metrics":["pageviews"],"date_range":["2024-03-11","2024-03-11"],"dimensions":["time:hour"]}`,
		Want: [][]any{{"2024-03-11 00:00:00", 1}, {"2024-03-11 10:00:00", 3}}},
	{Name: "months", Query: `{"metrics":["visitors"],"date_range":["2024-03-01","2024-03-31"],"dimensions":["time:month"]}`,
		Want: [][]any{{"2024-03-01", 5}}},
	{Name: "weeks", Query: `{"metrics":["visitors"],"date_range":["2024-03-01","2024-03-31"],"dimensions":["time:week"]}`,
		Want: [][]any{{"2024-03-04", 2}, {"2024-03-11", 3}}},
	{Name: "goals", Query: `{"metrics":["visitors","events","conversion_rate"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["event:goal"]}`,
		Want: [][]any{{"Signup", 2, 2, 50}, {"Visit /pricing", 2, 2, 50}}},
	{Name: "conversion rate alone", Query: `{"metrics":["conversion_rate"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["event:goal"]}`,
		Want: [][]any{{"Signup", 50}, {"Visit /pricing", 50}}},
	{Name: "goal filter", Query: `{"metrics":["visitors","conversion_rate"],"date_range":["2024-03-10","2024-03-11"],"filters":[["is","event:goal",["Signup"]]]}`,
		Want: [][]any{{2, 50}}},
	{Name: "browser filter", Query: `{"metrics":["visitors","pageviews"],"date_range":["2024-03-10","2024-03-11"],"filters":[["is","visit:browser",["Firefox"]]]}`,
		Want: [][]any{{1, 1}}},
	{Name: "case-insensitive filter", Query: `{"metrics":["visitors"],"date_range":["2024-03-10","2024-03-11"],"filters":[["is","visit:browser",["firefox"],{"case_sensitive":false}]]}`,
		Want: [][]any{{1}}},
	{Name: "page filter on visits", Query: `{"metrics":["visits","visitors"],"date_range":["2024-03-10","2024-03-11"],"filters":[["is","event:page",["/pricing"]]]}`,
		Want: [][]any{{2, 2}}},
	{Name: "exit page filter", Query: `{"metrics":["visitors","pageviews","visits"],"date_range":["2024-03-10","2024-03-11"],"filters":[["is","visit:exit_page",["/docs"]]]}`,
		Want: [][]any{{1, 2, 1}}},
	{Name: "or across dimensions", Query: `{"metrics":["visitors"],"date_range":["2024-03-10","2024-03-11"],"filters":[["or",[["is","visit:browser",["Firefox"]],["is","event:page",["/blog"]]]]]}`,
		Want: [][]any{{2}}},
	{Name: "not", Query: `{"metrics":["visitors"],"date_range":["2024-03-10","2024-03-11"],"filters":[["not",["is","visit:browser",["Chrome"]]]]}`,
		Want: [][]any{{1}}},
	{Name: "direct visits", Query: `{"metrics":["visitors","visits"],"date_range":["2024-03-10","2024-03-11"],"filters":[["is","visit:source",["Direct / None"]]]}`,
		Want: [][]any{{1, 1}}},
	{Name: "no referrer", Query: `{"metrics":["visits"],"date_range":["2024-03-10","2024-03-11"],"filters":[["is","visit:referrer",["Direct / None"]]]}`,
		Want: [][]any{{2}}},
	{Name: "page goal filter", Query: `{"metrics":["visitors"],"date_range":["2024-03-10","2024-03-11"],"filters":[["is","event:goal",["Visit /pricing"]]]}`,
		Want: [][]any{{2}}},
	{Name: "is_not", Query: `{"metrics":["visitors"],"date_range":["2024-03-10","2024-03-11"],"filters":[["is_not","visit:source",["Google"]]]}`,
		Want: [][]any{{3}}},
	{Name: "contains", Query: `{"metrics":["visitors"],"date_range":["2024-03-10","2024-03-11"],"filters":[["contains","event:page",["ric"]]]}`,
		Want: [][]any{{2}}},
	{Name: "contains_not", Query: `{"metrics":["pageviews"],"date_range":["2024-03-10","2024-03-11"],"filters":[["contains_not","event:page",["ric"]]]}`,
		Want: [][]any{{4}}},
	{Name: "matches", Query: `{"metrics":["visitors"],"date_range":["2024-03-10","2024-03-11"],"filters":[["matches","event:page",["^/(blog|docs)$"]]]}`,
		Want: [][]any{{2}}},
	{Name: "props", Query: `{"metrics":["events"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["event:props:plan"],"filters":[["is","event:name",["Signup"]]]}`,
		Want: [][]any{{"free", 1}, {"pro", 1}}},
	// Plausible: is_not on a property matches events that have it with
	// another value; pageviews without it are not among them.
	{Name: "negative prop filter", Query: `{"metrics":["events"],"date_range":["2024-03-10","2024-03-11"],"filters":[["is_not","event:props:plan",["pro"]]]}`,
		Want: [][]any{{1}}},
	{Name: "props none", Query: `{"metrics":["pageviews"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["event:props:plan"]}`,
		Want: [][]any{{"(none)", 6}, {"free", 0}, {"pro", 0}}},
	{Name: "two dimensions", Query: `{"metrics":["visitors"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["visit:browser","visit:os"]}`,
		Want: [][]any{{"Chrome", "Windows", 3}, {"Firefox", "Linux", 1}}},
	{Name: "utm", Query: `{"metrics":["visitors"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["visit:utm_campaign"],"filters":[["is","visit:utm_medium",["email"]]]}`,
		Want: [][]any{{"spring", 1}}},
	{Name: "percentage", Query: `{"metrics":["visitors","percentage"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["visit:device"]}`,
		Want: [][]any{{"Desktop", 4, 100}}},
	{Name: "screens and languages", Query: `{"metrics":["visitors"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["visit:screen","visit:language"]}`,
		Want: [][]any{{"Desktop", "en-US", 4}}},
	// 2024-03-10 is a Sunday: its week starts on the range's first day, as
	// Plausible labels it; the next on Monday.
	{Name: "weeks", Query: `{"metrics":["visitors"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["time:week"]}`,
		Want: [][]any{{"2024-03-10", 1}, {"2024-03-11", 3}}},
	// Plausible's behavioural filters: visits 1 and 3 signed up.
	{Name: "has_done", Query: `{"metrics":["visitors","visits","pageviews"],"date_range":["2024-03-10","2024-03-11"],"filters":[["has_done",["is","event:name",["Signup"]]]]}`,
		Want: [][]any{{2, 2, 3}}},
	{Name: "has_not_done", Query: `{"metrics":["visitors","pageviews"],"date_range":["2024-03-10","2024-03-11"],"filters":[["has_not_done",["is","event:name",["Signup"]]]]}`,
		Want: [][]any{{2, 3}}},
	{Name: "has_done by source", Query: `{"metrics":["visitors"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["visit:source"],"filters":[["has_done",["is","event:goal",["Signup"]]]]}`,
		Want: [][]any{{"Google", 1}, {"newsletter", 1}}},
	// Visitors 1 (both days) and 3 come from Tallinn, visitor 2 from London.
	{Name: "countries", Query: `{"metrics":["visitors","visits"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["visit:country"]}`,
		Want: [][]any{{"EE", 3, 3}, {"GB", 1, 1}}},
	{Name: "city by GeoNames id", Query: `{"metrics":["visitors"],"date_range":["2024-03-10","2024-03-11"],"filters":[["is","visit:city",[588409]]]}`,
		Want: [][]any{{3}}},
	{Name: "place names", Query: `{"metrics":["visitors"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["visit:country_name","visit:region_name","visit:city_name"],"filters":[["contains","visit:country_name",["United"]]]}`,
		Want: [][]any{{"United Kingdom", "England", "London", 1}}},
	{Name: "regions and cities", Query: `{"metrics":["pageviews"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["visit:region","visit:city"],"filters":[["is_not","visit:country",["GB"]]]}`,
		Want: [][]any{{"EE-37", "588409", 5}}},
	{Name: "scroll and time by page", Query: `{"metrics":["scroll_depth","time_on_page"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["event:page"],"filters":[["is","event:page",["/blog"]]]}`,
		Want: [][]any{{"/blog", 90, 6}}},
}

// Run writes the fixture into a fresh store from open and checks every case.
func Run(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	Load(t, s)
	st := Site()
	t.Run("earliest event", func(t *testing.T) {
		er, ok := s.(stats.EarliestReader)
		if !ok {
			t.Fatal("the store cannot say when a site's first event was (stats.EarliestReader)")
		}
		if got, err := er.EarliestEvent(ctx, st.Domain); err != nil || !got.Equal(at("2024-03-09T12:00:00Z")) {
			t.Errorf("earliest event %v, %v; want 2024-03-09T12:00:00Z", got, err)
		}
		if got, err := er.EarliestEvent(ctx, "none.test"); err != nil || !got.IsZero() {
			t.Errorf("a site without events: %v, %v", got, err)
		}
	})
	runCases := func(t *testing.T) {
		for _, c := range Cases {
			t.Run(c.Name, func(t *testing.T) {
				res := query(t, s, st, c.Query)
				got := flatten(res.Rows)
				if !reflect.DeepEqual(got, normalize(c.Want)) {
					t.Errorf("%s\n got %v\nwant %v", c.Query, got, normalize(c.Want))
				}
				if c.Total > 0 && res.TotalRows != c.Total {
					t.Errorf("total_rows = %d, want %d", res.TotalRows, c.Total)
				}
			})
		}
	}
	runCases(t)
	// Stores with daily rollups give the same answers once the fixture's
	// days are built (and mix built and raw days in longer ranges).
	if rs, ok := s.(stats.RollupStore); ok {
		b := &stats.RollupBuilder{Store: rs, Sites: func() []*site.Site { return []*site.Site{st} },
			Now: func() time.Time { return Now }, Log: slog.Default()}
		n, err := b.BuildDue(ctx)
		if err != nil {
			t.Fatalf("BuildDue: %v", err)
		}
		// 2024-03-09 (the first day with data) to 2024-03-11 (the last
		// that has ended).
		if n != 3 {
			t.Fatalf("BuildDue built %d days, want 3", n)
		}
		t.Run("rollups", runCases)
	}
	t.Run("comparison", func(t *testing.T) {
		res := query(t, s, st, `{"metrics":["visitors","bounce_rate"],"date_range":["2024-03-10","2024-03-11"],"include":{"comparisons":{"mode":"previous_period"}}}`)
		c := res.Rows[0].Comparison
		if c == nil || !reflect.DeepEqual([]float64(c.Metrics), []float64{1, 100}) || !reflect.DeepEqual([]float64(c.Change), []float64{300, -75}) {
			t.Errorf("comparison = %+v, want metrics [1 100] change [300 -75]", c)
		}
	})
	t.Run("percentage comparison", func(t *testing.T) {
		// Chrome: 3 visitors (75%) against 1 (100%) before; Firefox: 1
		// (25%) against none. Changes are relative, as Plausible's.
		res := query(t, s, st, `{"metrics":["visitors","percentage"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["visit:browser"],"include":{"comparisons":{"mode":"previous_period"}}}`)
		if len(res.Rows) != 2 {
			t.Fatalf("rows %+v", res.Rows)
		}
		for i, want := range [][]float64{{200, -25}, {100, 100}} {
			if c := res.Rows[i].Comparison; c == nil || !reflect.DeepEqual([]float64(c.Change), want) {
				t.Errorf("%v: comparison %+v, want change %v", res.Rows[i].Dimensions, c, want)
			}
		}
	})
	t.Run("time series comparison", func(t *testing.T) {
		res := query(t, s, st, `{"metrics":["visitors"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["time:day"],"include":{"comparisons":{"mode":"previous_period"}}}`)
		// The previous period is 03-08 and 03-09; 03-09 lines up with 03-11.
		if c := res.Rows[1].Comparison; c == nil || c.Dimensions[0] != "2024-03-09" || c.Metrics[0] != 1 {
			t.Errorf("comparison of 2024-03-11 = %+v, want 2024-03-09 with 1 visitor", c)
		}
	})
	t.Run("funnel", func(t *testing.T) {
		// Home, then pricing, then a Signup: visitor 1's first visit does
		// all three; visitor 3 reaches the home page and signs up without
		// pricing; visitor 1's second visit sees pricing without home first.
		qr, _ := stats.DecodeQueryRequest([]byte(`{"site_id":"conf.test","metrics":["visitors"],"date_range":["2024-03-10","2024-03-11"]}`))
		bq, err := qr.Build(st, Now)
		if err != nil {
			t.Fatal(err)
		}
		steps, err := s.Funnel(ctx, bq, site.Funnel{Name: "pricing", Steps: []site.Goal{{Page: "/"}, {Page: "/pricing"}, {Event: "Signup"}}})
		if err != nil {
			t.Fatal(err)
		}
		var got [][2]float64
		for _, x := range steps {
			got = append(got, [2]float64{x.Visits, x.Visitors})
		}
		if want := [][2]float64{{2, 2}, {1, 1}, {1, 1}}; !reflect.DeepEqual(got, want) {
			t.Errorf("funnel (visits, visitors) per step = %v, want %v", got, want)
		}
		if steps[2].Name != "Signup" || steps[1].Name != "Visit /pricing" {
			t.Errorf("step names %q, %q", steps[1].Name, steps[2].Name)
		}
	})
	t.Run("property names", func(t *testing.T) {
		qr, _ := stats.DecodeQueryRequest([]byte(`{"site_id":"conf.test","metrics":["visitors"],"date_range":["2024-03-10","2024-03-11"]}`))
		bq, err := qr.Build(st, Now)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := s.PropKeys(ctx, bq, "Signup", 10)
		if err != nil || !reflect.DeepEqual(keys, []string{"plan"}) {
			t.Errorf("PropKeys(Signup) = %v, %v; want [plan]", keys, err)
		}
		if keys, _ := s.PropKeys(ctx, bq, "pageview", 10); len(keys) != 0 {
			t.Errorf("PropKeys(pageview) = %v, want none", keys)
		}
	})
	t.Run("checkpoint", func(t *testing.T) {
		p, err := s.Checkpoint(ctx)
		if err != nil || p != (spool.Pos{Seg: 1, Off: 1200}) {
			t.Errorf("Checkpoint = %+v, %v; want {1 1200}", p, err)
		}
	})
	t.Run("recent sessions", func(t *testing.T) {
		rs, err := s.RecentSessions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The newest activity is visitor 3's at 09:10:10; visitor 1's
		// second visit ended 09:02 and is within 30 minutes of it.
		got := map[uint64]uint32{}
		for _, r := range rs {
			got[r.VisitorID&(1<<48-1)] = r.Pageviews
		}
		if want := map[uint64]uint32{1: 2, 3: 1}; !reflect.DeepEqual(got, want) {
			t.Errorf("recent sessions (visitor: pageviews) = %v, want %v", got, want)
		}
	})
	t.Run("retention", func(t *testing.T) {
		n, err := s.DeleteBefore(ctx, "conf.test", at("2024-03-10T00:00:00Z"))
		if err != nil || n != 1 {
			t.Fatalf("DeleteBefore = %d, %v; want 1 event removed", n, err)
		}
		res := query(t, s, st, `{"metrics":["visitors","visits"],"date_range":["2024-03-01","2024-03-31"]}`)
		if got := flatten(res.Rows); !reflect.DeepEqual(got, normalize([][]any{{4, 4}})) {
			t.Errorf("after retention got %v, want [[4 4]]", got)
		}
	})
}

func query(t *testing.T, s Store, st *site.Site, body string) *stats.Result {
	t.Helper()
	qr, err := stats.DecodeQueryRequest([]byte(strings.Replace(body, "{", `{"site_id":"conf.test",`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	q, err := qr.Build(st, Now)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("query %s: %v", body, err)
	}
	return res
}

func flatten(rows []stats.Row) [][]any {
	out := [][]any{}
	for _, r := range rows {
		var row []any
		for _, d := range r.Dimensions {
			row = append(row, d)
		}
		for _, m := range r.Metrics {
			if math.IsNaN(m) {
				row = append(row, nil) // no value
				continue
			}
			row = append(row, m)
		}
		out = append(out, row)
	}
	return out
}

func normalize(rows [][]any) [][]any {
	out := [][]any{}
	for _, r := range rows {
		var row []any
		for _, v := range r {
			switch v := v.(type) {
			case int:
				row = append(row, float64(v))
			default:
				row = append(row, v)
			}
		}
		out = append(out, row)
	}
	return out
}

func urlParse(s string) (*url.URL, error) { return url.Parse(s) }
