package analyticstest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/collect"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/spool"
	"waymark.dev/waymark/internal/stats"
	"waymark.dev/waymark/internal/synth"
)

// RollupStore is a store that keeps daily rollups.
type RollupStore interface {
	Store
	stats.RollupStore
}

// RollupHooks reach into a store where the rollup suite needs what no
// interface offers.
type RollupHooks struct {
	// Unbuild makes a built local day of a site read raw again.
	Unbuild func(t *testing.T, site, day string)
	// DropRaw deletes every raw event and session, leaving the rollups.
	DropRaw func(t *testing.T)
}

// RunRollups checks a store's daily rollups: the answers of a dashboard
// from them equal those from the raw tables, and days are built when
// they end, again after late writes and for another zone, and dropped
// with retention. open gives a new empty store.
func RunRollups(t *testing.T, open func(t *testing.T) (RollupStore, RollupHooks)) {
	t.Run("MatchRaw", func(t *testing.T) { rollupsMatchRaw(t, open) })
	t.Run("Schedule", func(t *testing.T) { rollupSchedule(t, open) })
}

// rollupsMatchRaw checks that daily rollups give exactly the answers
// of the raw tables: synthetic Berlin traffic over four days (visits that
// cross midnight included), a built, an unbuilt and more built days, and
// the panels of a dashboard over several ranges.
func rollupsMatchRaw(t *testing.T, open func(t *testing.T) (RollupStore, RollupHooks)) {
	ctx := context.Background()
	s, h := open(t)
	st := &site.Site{Domain: "bench.example", TimeZone: "Europe/Berlin", CreatedAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		Goals: []site.Goal{{Event: "Signup"}, {Page: "/"}, {Page: "/page/1"}}}
	loc := st.Location()
	d0 := time.Date(2024, 3, 8, 0, 0, 0, 0, loc)
	gen := synth.New(st.Domain, 7)
	gen.Loc = loc
	z := collect.NewSessionizer(nil)
	var evs []analytics.Event
	var seq int64
	crossed := 0
	gen.Visits(d0, 4*24*time.Hour, 20000, func(h *analytics.Hit) {
		seq++
		e := z.Add(h, spool.Pos{Seg: 1, Off: seq})
		if analytics.VisitorDay(e.VisitorID) != analytics.LocalDay(e.Time.In(loc)) {
			crossed++
		}
		evs = append(evs, e)
		if len(evs) == 2000 {
			if err := s.WriteBatch(ctx, &analytics.Batch{Events: evs, Sessions: z.Flush(), Checkpoint: spool.Pos{Seg: 1, Off: seq}}); err != nil {
				t.Fatal(err)
			}
			z.Committed()
			evs = evs[:0]
		}
	})
	if err := s.WriteBatch(ctx, &analytics.Batch{Events: evs, Sessions: z.Flush(), Checkpoint: spool.Pos{Seg: 1, Off: seq}}); err != nil {
		t.Fatal(err)
	}
	if crossed == 0 {
		t.Fatal("the synthetic traffic has no visit crossing midnight; the test would miss that case")
	}
	now := d0.AddDate(0, 0, 5).Add(12 * time.Hour)
	b := &stats.RollupBuilder{Store: s, Sites: func() []*site.Site { return []*site.Site{st} },
		Now: func() time.Time { return now }, Log: slog.Default()}
	if n, err := b.BuildDue(ctx); err != nil || n < 4 {
		t.Fatalf("BuildDue = %d, %v; want at least the 4 days with data", n, err)
	}
	// The third day is read raw, between built days.
	h.Unbuild(t, st.Domain, "2024-03-10")
	if days, err := s.BuiltDays(ctx, st.Domain, st.TimeZone, "2024-03-08", "2024-03-12"); err != nil || len(days) != 3 || days[2].Day != "2024-03-11" {
		t.Fatalf("built days after unbuilding 2024-03-10: %v, %v; want 03-08, 03-09 and 03-11", days, err)
	}
	raw := stats.Planner{D: s.Dialect(), R: s}
	ranges := []string{`["2024-03-08","2024-03-11"]`, `["2024-03-09","2024-03-12"]`, `["2024-03-10","2024-03-10"]`, `["2024-03-11","2024-03-11"]`, `["2024-03-09","2024-03-09"]`}
	bodies := []string{
		`{"metrics":["visitors","visits","pageviews","views_per_visit","bounce_rate","visit_duration","events","time_on_page","scroll_depth"]}`,
		`{"metrics":["visitors","pageviews","time_on_page"],"dimensions":["time:day"]}`,
		`{"metrics":["visitors","visits"],"dimensions":["time:week"]}`,
		`{"metrics":["visitors","pageviews","events","time_on_page","scroll_depth","percentage"],"dimensions":["event:page"]}`,
		`{"metrics":["visitors","visits","bounce_rate","visit_duration"],"dimensions":["visit:entry_page"]}`,
		`{"metrics":["visitors","visits"],"dimensions":["visit:exit_page"]}`,
		`{"metrics":["visitors","bounce_rate","percentage"],"dimensions":["visit:source"]}`,
		`{"metrics":["visitors"],"dimensions":["visit:referrer"]}`,
		`{"metrics":["visitors","percentage"],"dimensions":["visit:browser"]}`,
		`{"metrics":["visitors"],"dimensions":["visit:utm_campaign"]}`,
		`{"metrics":["visitors","events","conversion_rate"],"dimensions":["event:goal"]}`,
		`{"metrics":["visitors","events","percentage"],"dimensions":["event:name"]}`,
		`{"metrics":["visitors","percentage"],"dimensions":["visit:language"]}`,
		`{"metrics":["visitors"],"dimensions":["visit:utm_source"]}`,
		`{"metrics":["visitors","percentage"],"dimensions":["visit:country","visit:country_name"]}`,
		`{"metrics":["visitors","percentage"],"dimensions":["visit:region","visit:region_name"]}`,
		`{"metrics":["visitors","visits","bounce_rate"],"dimensions":["visit:city","visit:city_name"]}`,
		`{"metrics":["visitors","visits","pageviews","views_per_visit","bounce_rate","visit_duration","time_on_page"],"include":{"comparisons":{"mode":"previous_period"}}}`,
	}
	for _, r := range ranges {
		var batch []*stats.Query
		var wants []*stats.Result
		for _, body := range bodies {
			body = strings.Replace(body, "{", `{"pagination":{"limit":10000},`, 1)
			q := BuildQuery(t, st, now, r, body)
			want, err := raw.Query(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Query(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if !SameRows(got.Rows, want.Rows) {
				t.Errorf("%s: rollups and raw tables differ\n%s", body, DiffRows(got.Rows, want.Rows))
			}
			batch, wants = append(batch, q), append(wants, want)
		}
		// The same queries as one dashboard request.
		all, err := s.QueryAll(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, got := range all {
			if !SameRows(got.Rows, wants[i].Rows) {
				t.Errorf("%s in a batch: rollups and raw tables differ\n%s", bodies[i], DiffRows(got.Rows, wants[i].Rows))
			}
		}
	}
	// Built days are read from the rollups alone: without raw data the
	// answer stays.
	q := func(body string) *stats.Result {
		res, err := s.Query(ctx, BuildQuery(t, st, now, `["2024-03-08","2024-03-09"]`, body))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// Pages, and places with their names (the Locations panel).
	checks := []string{`{"metrics":["visitors","pageviews"],"dimensions":["event:page"]}`,
		`{"metrics":["visitors","percentage"],"dimensions":["visit:country","visit:country_name"]}`}
	var before []*stats.Result
	for _, c := range checks {
		before = append(before, q(c))
	}
	h.DropRaw(t)
	for i, c := range checks {
		if after := q(c); len(before[i].Rows) < 2 || !reflect.DeepEqual(after.Rows, before[i].Rows) {
			t.Errorf("%s over built days without raw data: %d rows, want the %d rows from before", c, len(after.Rows), len(before[i].Rows))
		}
	}
}

// rollupSchedule checks which days the builder builds: ended days once
// settled, again after a late write, and all again when the site's zone
// changes.
func rollupSchedule(t *testing.T, open func(t *testing.T) (RollupStore, RollupHooks)) {
	ctx := context.Background()
	s, _ := open(t)
	st := &site.Site{Domain: "s.example", TimeZone: "UTC"}
	z := collect.NewSessionizer(nil)
	var seq int64
	write := func(ts time.Time) {
		t.Helper()
		seq++
		h := analytics.Hit{ID: uint64(seq), Site: st.Domain, Time: ts, Name: analytics.EventPageview, Path: "/",
			VisitorID: analytics.DayVisitorID(analytics.LocalDay(ts), uint64(seq))}
		e := z.Add(&h, spool.Pos{Seg: 1, Off: seq})
		if err := s.WriteBatch(ctx, &analytics.Batch{Events: []analytics.Event{e}, Sessions: z.Flush(), Checkpoint: spool.Pos{Seg: 1, Off: seq}}); err != nil {
			t.Fatal(err)
		}
		z.Committed()
	}
	day := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	write(day.Add(10 * time.Hour))
	write(day.Add(34 * time.Hour)) // 2024-05-02 10:00
	now := day.Add(48*time.Hour + 20*time.Minute)
	b := &stats.RollupBuilder{Store: s, Sites: func() []*site.Site { return []*site.Site{st} },
		Now: func() time.Time { return now }, Log: slog.Default()}
	builtIn := func(zone string) []string {
		t.Helper()
		days, err := s.BuiltDays(ctx, st.Domain, zone, "", "")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range days {
			out = append(out, d.Day)
		}
		return out
	}
	built := func() []string { t.Helper(); return builtIn("UTC") }
	// 00:20 on 05-03: 05-02 has not settled (visits may go on until 00:30).
	if n, err := b.BuildDue(ctx); err != nil || n != 1 {
		t.Fatalf("BuildDue at 00:20 = %d, %v; want 1 (05-01 only)", n, err)
	}
	now = now.Add(20 * time.Minute)
	if n, err := b.BuildDue(ctx); err != nil || n != 1 {
		t.Fatalf("BuildDue at 00:40 = %d, %v; want 1 (05-02)", n, err)
	}
	if got := built(); !reflect.DeepEqual(got, []string{"2024-05-01", "2024-05-02"}) {
		t.Fatalf("built days %v", got)
	}
	// A late hit on 05-01 unmarks it and the day after; both are rebuilt.
	write(day.Add(23 * time.Hour))
	if got := built(); len(got) != 0 {
		t.Errorf("after a late hit on 2024-05-01 built days are %v, want none", got)
	}
	if n, err := b.BuildDue(ctx); err != nil || n != 2 {
		t.Errorf("BuildDue after the late hit = %d, %v; want 2", n, err)
	}
	// Another zone cuts other days: they are built again (in New York it
	// is still 05-02, so only 05-01 has ended).
	st.TimeZone = "America/New_York"
	if n, err := b.BuildDue(ctx); err != nil || n != 1 {
		t.Errorf("BuildDue after a zone change = %d, %v; want 1", n, err)
	}
	if got := builtIn("America/New_York"); !reflect.DeepEqual(got, []string{"2024-05-01"}) {
		t.Errorf("days built for America/New_York: %v, want 2024-05-01", got)
	}
	// Retention removes the rollups of the days it cuts into.
	if _, err := s.DeleteBefore(ctx, st.Domain, day.Add(30*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// In New York 05-01 and 05-02 began before 05-02 06:00 UTC.
	if got := builtIn("America/New_York"); len(got) != 0 {
		t.Errorf("days that began before the retention cut-off are still built: %v", got)
	}
}

// BuildQuery decodes a Stats API request body for site st over
// dateRange (a JSON value) and builds it as asked at now.
func BuildQuery(t testing.TB, st *site.Site, now time.Time, dateRange, body string) *stats.Query {
	t.Helper()
	body = strings.Replace(body, "{", `{"site_id":`+strconv.Quote(st.Domain)+`,"date_range":`+dateRange+`,`, 1)
	qr, err := stats.DecodeQueryRequest([]byte(body))
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	q, err := qr.Build(st, now)
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return q
}

// DiffRows lists the rows that differ, for a failure message.
func DiffRows(got, want []stats.Row) string {
	var b strings.Builder
	for i := 0; i < max(len(got), len(want)) && b.Len() < 2000; i++ {
		var g, w any = "-", "-"
		if i < len(got) {
			g = fmt.Sprint(got[i].Dimensions, got[i].Metrics)
		}
		if i < len(want) {
			w = fmt.Sprint(want[i].Dimensions, want[i].Metrics)
		}
		if g != w {
			fmt.Fprintf(&b, "row %d: got %v want %v\n", i, g, w)
		}
	}
	return b.String()
}

// SameRows compares rows as the API writes them (a metric without a
// value, NaN, equals another).
func SameRows(a, b []stats.Row) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}
