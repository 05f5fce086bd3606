package stats

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/site"
)

func TestQueryValidation(t *testing.T) {
	t.Parallel()
	st := &site.Site{Domain: "e.com", TimeZone: "UTC", Goals: []site.Goal{{Event: "Signup"}}}
	noGoals := &site.Site{Domain: "e.com", TimeZone: "UTC"}
	now := time.Date(2024, 6, 15, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name, body, field string
		site              *site.Site
	}{
		{"no metrics", `{"site_id":"e.com","date_range":"7d"}`, "metrics", st},
		{"unknown metric", `{"site_id":"e.com","metrics":["hits"],"date_range":"7d"}`, "metrics", st},
		{"duplicate metric", `{"site_id":"e.com","metrics":["visits","visits"],"date_range":"7d"}`, "metrics", st},
		{"no range", `{"site_id":"e.com","metrics":["visits"]}`, "date_range", st},
		{"bad range", `{"site_id":"e.com","metrics":["visits"],"date_range":"fortnight"}`, "date_range", st},
		{"reversed range", `{"site_id":"e.com","metrics":["visits"],"date_range":["2024-02-01","2024-01-01"]}`, "date_range", st},
		{"unknown dimension", `{"site_id":"e.com","metrics":["visits"],"date_range":"7d","dimensions":["visit:shoe"]}`, "dimensions", st},
		{"unknown place dimension", `{"site_id":"e.com","metrics":["visits"],"date_range":"7d","dimensions":["visit:continent"]}`, "dimensions", st},
		{"two time dimensions", `{"site_id":"e.com","metrics":["visits"],"date_range":"7d","dimensions":["time:day","time:hour"]}`, "dimensions", st},
		{"bad operator", `{"site_id":"e.com","metrics":["visits"],"date_range":"7d","filters":[["equals","visit:browser",["x"]]]}`, "filters[0]", st},
		{"bad nested filter", `{"site_id":"e.com","metrics":["visits"],"date_range":"7d","filters":[["and",[["is","visit:browser",[]]]]]}`, "filters[0][1][0]", st},
		{"has_done on a visit dimension", `{"site_id":"e.com","metrics":["visits"],"date_range":"7d","filters":[["has_done",["is","visit:browser",["x"]]]]}`, "filters[0]", st},
		{"has_not_done without a filter", `{"site_id":"e.com","metrics":["visits"],"date_range":"7d","filters":[["has_not_done"]]}`, "filters[0]", st},
		{"bad regex", `{"site_id":"e.com","metrics":["visits"],"date_range":"7d","filters":[["matches","event:page",["("]]]}`, "filters[0]", st},
		{"order by unknown", `{"site_id":"e.com","metrics":["visits"],"date_range":"7d","order_by":[["pageviews","desc"]]}`, "order_by[0]", st},
		{"limit too big", `{"site_id":"e.com","metrics":["visits"],"date_range":"7d","pagination":{"limit":100000}}`, "pagination.limit", st},
		{"percentage needs dimension", `{"site_id":"e.com","metrics":["percentage"],"date_range":"7d"}`, "metrics", st},
		{"conversion rate needs goal", `{"site_id":"e.com","metrics":["conversion_rate"],"date_range":"7d"}`, "metrics", st},
		{"goal filter on a site without goals", `{"site_id":"e.com","metrics":["visitors"],"date_range":"7d","filters":[["is","event:goal",["Signup"]]]}`, "filters", noGoals},
		{"goal the site does not have", `{"site_id":"e.com","metrics":["visitors"],"date_range":"7d","filters":[["is","event:goal",["Sign up"]]]}`, "filters", st},
		{"time labels without time", `{"site_id":"e.com","metrics":["visitors"],"date_range":"7d","include":{"time_labels":true}}`, "include.time_labels", st},
		{"unknown field", `{"site_id":"e.com","metrics":["visitors"],"date_range":"7d","colour":"red"}`, "body", st},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			qr, err := DecodeQueryRequest([]byte(tt.body))
			if err == nil {
				_, err = qr.Build(tt.site, now)
			}
			var ie *analytics.InvalidError
			if !errors.As(err, &ie) || ie.Field != tt.field {
				t.Errorf("err = %v, want an error naming %q", err, tt.field)
			}
		})
	}
}

func TestResolveRange(t *testing.T) {
	t.Parallel()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	now := time.Date(2024, 3, 15, 23, 30, 0, 0, time.UTC) // already the 16th in Berlin
	tests := []struct {
		r, from, to string
	}{
		{`"day"`, "2024-03-15T23:00:00Z", "2024-03-16T23:00:00Z"},
		{`"yesterday"`, "2024-03-14T23:00:00Z", "2024-03-15T23:00:00Z"},
		{`"7d"`, "2024-03-09T23:00:00Z", "2024-03-16T23:00:00Z"},
		{`"month"`, "2024-02-29T23:00:00Z", "2024-03-31T22:00:00Z"}, // DST starts on the 31st
		{`"last_month"`, "2024-01-31T23:00:00Z", "2024-02-29T23:00:00Z"},
		{`"12mo"`, "2023-03-31T22:00:00Z", "2024-03-31T22:00:00Z"},
		{`["2024-01-01","2024-01-01"]`, "2023-12-31T23:00:00Z", "2024-01-01T23:00:00Z"},
		{`["2024-01-01T10:00:00Z","2024-01-01T11:00:00Z"]`, "2024-01-01T10:00:00Z", "2024-01-01T11:00:00Z"},
	}
	for _, tt := range tests {
		from, to, err := ResolveRange(json.RawMessage(tt.r), "", berlin, now, time.Time{})
		if err != nil {
			t.Errorf("%s: %v", tt.r, err)
			continue
		}
		if f, o := from.Format(time.RFC3339), to.Format(time.RFC3339); f != tt.from || o != tt.to {
			t.Errorf("%s = [%s, %s), want [%s, %s)", tt.r, f, o, tt.from, tt.to)
		}
	}
}

func TestTimeLabels(t *testing.T) {
	t.Parallel()
	from := time.Date(2024, 3, 30, 0, 0, 0, 0, time.UTC)
	got := TimeLabels("time:day", from, from.Add(72*time.Hour), time.UTC)
	if len(got) != 3 || got[0] != "2024-03-30" || got[2] != "2024-04-01" {
		t.Errorf("day labels = %v", got)
	}
	// Plausible's weeks: the first starts on the range's first day, the
	// others on Mondays (its test: 2020-12-20 to 2021-01-07 gives
	// 2020-12-20, 2020-12-21, 2020-12-28, 2021-01-04).
	if got := TimeLabels("time:week", from, from.Add(10*24*time.Hour), time.UTC); strings.Join(got, " ") != "2024-03-30 2024-04-01 2024-04-08" {
		t.Errorf("week labels %v, want 2024-03-30 2024-04-01 2024-04-08", got)
	}
	pf := time.Date(2020, 12, 20, 0, 0, 0, 0, time.UTC)
	if got := TimeLabels("time:week", pf, time.Date(2021, 1, 8, 0, 0, 0, 0, time.UTC), time.UTC); strings.Join(got, " ") != "2020-12-20 2020-12-21 2020-12-28 2021-01-04" {
		t.Errorf("Plausible's week labels: %v", got)
	}
	monday := time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)
	if got := TimeLabels("time:week", monday, monday.Add(8*24*time.Hour), time.UTC); strings.Join(got, " ") != "2024-04-01 2024-04-08" {
		t.Errorf("weeks from a Monday: %v", got)
	}
}

func FuzzQueryRequest(f *testing.F) {
	f.Add([]byte(`{"site_id":"e.com","metrics":["visitors"],"date_range":"7d","filters":[["or",[["is","visit:browser",["x"]],["not",["contains","event:page",["/a"]]]]]]}`))
	st := &site.Site{Domain: "e.com", TimeZone: "UTC", Goals: []site.Goal{{Event: "Signup"}}}
	now := time.Date(2024, 6, 15, 12, 0, 0, 0, time.UTC)
	p := Planner{D: testDialect{}}
	f.Fuzz(func(t *testing.T, body []byte) {
		qr, err := DecodeQueryRequest(body)
		if err != nil {
			return
		}
		q, err := qr.Build(st, now)
		if err != nil {
			return
		}
		// Every accepted query compiles.
		p.eventSQL(q, q.Filters, q.Dimensions)
		p.visitSQL(q, q.Dimensions)
		p.sessionSQL(q)
		p.engagementSQL(q)
	})
}

type testDialect struct{}

func (testDialect) Quote(s string) string                { return "'" + s + "'" }
func (testDialect) Time(t time.Time) string              { return t.String() }
func (testDialect) AddSeconds(ts, s string) string       { return ts + s }
func (testDialect) Bucket(unit, ts string) string        { return unit + ts }
func (testDialect) FormatBucket(unit, ts string) string  { return unit + ts }
func (testDialect) Contains(e, s string, cs bool) string { return e + s }
func (testDialect) Regex(e, p string, cs bool) string    { return e + p }
func (testDialect) Seconds(a, b string) string           { return a + b }
func (testDialect) Lower(e string) string                { return e }
func (testDialect) PropValue(a, k string) string         { return a + k }
func (testDialect) CountDistinct(e string) string        { return e }
func (testDialect) ToFloat(e string) string              { return e }
func (testDialect) ToString(e string) string             { return e }
func (testDialect) VisitorDay(e string) string           { return e }

func TestWildcardRegex(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"/thanks*": `^/thanks.*$`, "/a.b/*/c": `^/a\.b/.*/c$`, "/exact": `^/exact$`} {
		if got := wildcardRegex(in); got != want {
			t.Errorf("wildcardRegex(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPreviousPeriod checks that the period before a range of whole days
// also starts at midnight when a DST change lies between them.
func TestPreviousPeriod(t *testing.T) {
	t.Parallel()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	q := &Query{Location: berlin, From: time.Date(2026, 10, 31, 0, 0, 0, 0, berlin).UTC(), To: time.Date(2026, 11, 30, 0, 0, 0, 0, berlin).UTC()}
	sh := previousPeriod(q)
	if got, want := sh.apply(q.From, -1), time.Date(2026, 10, 1, 0, 0, 0, 0, berlin).UTC(); !got.Equal(want) {
		t.Errorf("previous period starts %v, want %v (local midnight)", got.In(berlin), want.In(berlin))
	}
	if got := shiftLabel("2026-10-01", "day", sh, berlin, 1); got != "2026-10-31" {
		t.Errorf("label 2026-10-01 lines up with %s, want 2026-10-31", got)
	}
	// Ranges of hours shift by their length.
	q.From, q.To = time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC), time.Date(2026, 11, 3, 9, 5, 0, 0, time.UTC)
	if got := previousPeriod(q).apply(q.From, -1); !got.Equal(q.From.Add(-5 * time.Minute)) {
		t.Errorf("previous period of 5 minutes starts %v", got)
	}
}

// TestMetricTable: every metric is whole in the one table (a label, a
// unit, a way to compute it, a scan that answers it), its name is
// documented in docs/API.md, and the figures it reads are named.
func TestMetricTable(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	f := Figures{Visitors: 10, Visits: 12, Bounces: 6, Duration: 600, Pageviews: 30, Events: 33, Total: 40, GoalBase: 20, GroupBase: 40, MSPerView: 45400, ScrollPerView: 61.6, EngagedViews: 3, RevenueMilli: 201200, RevenueEvents: 3}
	want := map[string]float64{MetricVisitors: 10, MetricVisits: 12, MetricPageviews: 30, MetricViewsPerVisit: 2.5, MetricBounceRate: 50,
		MetricVisitDuration: 50, MetricEvents: 33, MetricScrollDepth: 62, MetricTimeOnPage: 45, MetricPercentage: 25, MetricConversionRate: 50, MetricGroupConversionRate: 25, MetricTotalRevenue: 201.2, MetricAverageRevenue: 67.066}
	for _, name := range MetricNames() {
		t.Run(name, func(t *testing.T) {
			m, ok := LookupMetric(name)
			if !ok || m.Label == "" || m.Value == nil {
				t.Fatalf("%+v: want a label and a Value", m)
			}
			if got := m.Value(f); got != want[name] {
				t.Errorf("value %v, want %v", got, want[name])
			}
			if !strings.Contains(string(doc), "`"+name+"`") {
				t.Errorf("not in docs/API.md")
			}
			if m.visitLevel && m.group == groupEngagement {
				t.Error("an engagement metric cannot come from the visit scan")
			}
		})
	}
	if len(want) != len(MetricNames()) {
		t.Errorf("%d metrics in the table, %d in this test", len(MetricNames()), len(want))
	}
}

// TestComparisonRanges: the comparison periods of Plausible's comparison
// tests (test/plausible/stats/comparisons_test.exs): the range compared
// for each mode, with "now" where it matters, inclusive ends.
func TestComparisonRanges(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, rng, date, mode, custom string
		match                         bool
		now, tz                       string
		from, to                      string // UTC, inclusive end
	}{
		{"this month, previous period", `"month"`, "2023-03-02", "previous_period", "", false, "2023-03-02T14:00:00Z", "", "2023-02-27T00:00:00Z", "2023-02-28T23:59:59Z"},
		{"first day of this month", `"month"`, "2023-03-01", "previous_period", "", false, "2023-03-01T14:00:00Z", "", "2023-02-28T00:00:00Z", "2023-02-28T23:59:59Z"},
		{"this month, day of week, not onto the range's start", `"month"`, "2023-03-02", "previous_period", "", true, "2023-03-02T14:00:00Z", "", "2023-02-22T00:00:00Z", "2023-02-23T23:59:59Z"},
		{"this month in US/Eastern", `"month"`, "2023-03-02", "previous_period", "", false, "2023-03-02T14:00:00Z", "US/Eastern", "2023-02-27T05:00:00Z", "2023-03-01T04:59:59Z"},
		{"last month, previous period", `"month"`, "2023-02-01", "previous_period", "", false, "2023-03-01T14:00:00Z", "", "2023-01-04T00:00:00Z", "2023-01-31T23:59:59Z"},
		{"last month, year over year", `"month"`, "2023-02-01", "year_over_year", "", false, "2023-03-01T14:00:00Z", "", "2022-02-01T00:00:00Z", "2022-02-28T23:59:59Z"},
		{"a leap February, year over year", `"month"`, "2020-02-01", "year_over_year", "", false, "2023-03-01T14:00:00Z", "", "2019-02-01T00:00:00Z", "2019-03-01T23:59:59Z"},
		{"last month, day of week kept", `"month"`, "2023-02-01", "previous_period", "", true, "2023-03-01T14:00:00Z", "", "2023-01-04T00:00:00Z", "2023-01-31T23:59:59Z"},
		{"January, day of week", `"month"`, "2023-01-01", "previous_period", "", true, "2023-03-01T14:00:00Z", "", "2022-12-04T00:00:00Z", "2023-01-03T23:59:59Z"},
		{"year to date, previous period", `"year"`, "2023-03-01", "previous_period", "", false, "2023-03-01T14:00:00Z", "", "2022-11-02T00:00:00Z", "2022-12-31T23:59:59Z"},
		{"year to date, year over year", `"year"`, "2023-03-01", "year_over_year", "", false, "2023-03-01T14:00:00Z", "", "2022-01-01T00:00:00Z", "2022-03-01T23:59:59Z"},
		{"year to date, year over year, day of week", `"year"`, "2023-03-01", "year_over_year", "", true, "2023-03-01T14:00:00Z", "", "2022-01-02T00:00:00Z", "2022-03-02T23:59:59Z"},
		{"last year, year over year", `"year"`, "2022-03-02", "year_over_year", "", false, "2026-03-01T14:00:00Z", "", "2021-01-01T00:00:00Z", "2021-12-31T23:59:59Z"},
		{"last year, previous period", `"year"`, "2022-03-02", "previous_period", "", false, "2026-03-01T14:00:00Z", "", "2021-01-01T00:00:00Z", "2021-12-31T23:59:59Z"},
		{"custom days, previous period", `["2023-01-01","2023-01-07"]`, "", "previous_period", "", false, "2026-03-01T14:00:00Z", "", "2022-12-25T00:00:00Z", "2022-12-31T23:59:59Z"},
		{"custom days, year over year", `["2023-01-01","2023-01-07"]`, "", "year_over_year", "", false, "2026-03-01T14:00:00Z", "", "2022-01-01T00:00:00Z", "2022-01-07T23:59:59Z"},
		{"custom comparison", `["2023-01-01","2023-01-07"]`, "", "custom", `["2022-05-25","2022-05-30"]`, false, "2026-03-01T14:00:00Z", "", "2022-05-25T00:00:00Z", "2022-05-30T23:59:59Z"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmp := fmt.Sprintf(`{"mode":%q`, c.mode)
			if c.custom != "" {
				cmp += `,"date_range":` + c.custom
			}
			if c.match {
				cmp += `,"match_day_of_week":true`
			}
			body := fmt.Sprintf(`{"site_id":"c.test","metrics":["visitors"],"date_range":%s,"date":%q,"include":{"comparisons":%s}}`, c.rng, c.date, cmp+"}")
			if c.date == "" {
				body = fmt.Sprintf(`{"site_id":"c.test","metrics":["visitors"],"date_range":%s,"include":{"comparisons":%s}}`, c.rng, cmp+"}")
			}
			qr, err := DecodeQueryRequest([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			now, _ := time.Parse(time.RFC3339, c.now)
			q, err := qr.Build(&site.Site{Domain: "c.test", TimeZone: c.tz}, now)
			if err != nil {
				t.Fatal(err)
			}
			got := q.CompareFrom.UTC().Format(time.RFC3339) + " " + q.CompareTo.Add(-time.Second).UTC().Format(time.RFC3339)
			if want := c.from + " " + c.to; got != want {
				t.Errorf("compared %s, want %s", got, want)
			}
		})
	}
}
