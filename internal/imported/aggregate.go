package imported

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"waymark.dev/waymark/internal/geo"
)

// hit is one pageview or custom event of a tool that exports raw hits
// (GoatCounter, Umami), as the aggregator needs it.
type hit struct {
	Time    time.Time // UTC
	Visitor string    // who: a session or visitor id of the tool
	Visit   string    // which visit; Visitor when the tool has no visit id
	Name    string    // custom event name; "" for a pageview
	Path    string
	Host    string
	// Visit attributes, read from the visit's first hit.
	Source, Referrer                           string
	UTMSource, UTMMedium, UTMCampaign, UTMTerm string
	UTMContent, Channel                        string
	Browser, BrowserVersion, OS, OSVersion     string
	Device, Country, Region, City, CityName    string
}

// visitTimeout ends a visit after this long without a hit, as Waymark's
// own sessions end.
const visitTimeout = 30 * time.Minute

// aggregator turns raw hits into the daily rows of the ten tables. Visits
// end visitTimeout after their last hit; a day's rows are emitted once the
// hits have moved two days past it, so memory holds the open visits and
// about two days of groups, whatever the file's length. Hits must come
// roughly in time order (as the tools export them); a hit for a day
// already emitted starts that day's groups again, and its rows add to the
// earlier ones.
type aggregator struct {
	loc    *time.Location
	emit   func(t *Table, r Row) error
	visits map[string]*visit
	days   map[int32]*dayGroups
	latest time.Time
	hits   int // hits taken, to end idle visits and emit days now and then
}

type visit struct {
	first              hit
	start, end         time.Time
	entry, exit        string
	pageviews, customs int64
}

// group is one row being summed: its distinct visitors and visits, and
// sums.
type group struct {
	visitors map[string]struct{}
	visits   map[string]struct{}
	nums     []int64
}

// dayGroups are a day's groups, per table, by their text values.
type dayGroups struct {
	tables map[*Table]map[string]*group
}

func newAggregator(loc *time.Location, emit func(t *Table, r Row) error) *aggregator {
	if loc == nil {
		loc = time.UTC
	}
	return &aggregator{loc: loc, emit: emit, visits: map[string]*visit{}, days: map[int32]*dayGroups{}}
}

func (a *aggregator) day(t time.Time) int32 { return Day(t.In(a.loc)) }

func (a *aggregator) group(day int32, t *Table, text ...string) *group {
	d := a.days[day]
	if d == nil {
		d = &dayGroups{tables: map[*Table]map[string]*group{}}
		a.days[day] = d
	}
	m := d.tables[t]
	if m == nil {
		m = map[string]*group{}
		d.tables[t] = m
	}
	k := strings.Join(text, "\x00")
	g := m[k]
	if g == nil {
		g = &group{visitors: map[string]struct{}{}, visits: map[string]struct{}{}, nums: make([]int64, len(t.Nums))}
		m[k] = g
	}
	return g
}

// add takes one hit.
func (a *aggregator) add(h hit) error {
	if h.Visit == "" {
		h.Visit = h.Visitor
	}
	if h.Time.After(a.latest) {
		a.latest = h.Time
	}
	v := a.visits[h.Visit]
	if v != nil && h.Time.Sub(v.end) > visitTimeout {
		a.endVisit(h.Visit, v)
		v = nil
	}
	if v == nil {
		v = &visit{first: h, start: h.Time, end: h.Time, entry: h.Path}
		a.visits[h.Visit] = v
	}
	if h.Time.After(v.end) {
		v.end = h.Time
	}
	day := a.day(h.Time)
	if h.Name == "" {
		v.pageviews++
		v.exit = h.Path
		if v.entry == "" {
			v.entry = h.Path
		}
		g := a.group(day, TableNamed("imported_pages"), h.Host, h.Path)
		g.visitors[h.Visitor] = struct{}{}
		g.visits[visitKey(h.Visit, v.start)] = struct{}{}
		g.nums[2]++ // pageviews
	} else {
		v.customs++
		g := a.group(day, TableNamed("imported_custom_events"), h.Name, "", "")
		g.visitors[h.Visitor] = struct{}{}
		g.nums[1]++ // events
	}
	a.hits++
	if a.hits%4096 == 0 {
		return a.flush(false)
	}
	return nil
}

// endVisit adds a finished visit to the visit tables of its first day.
func (a *aggregator) endVisit(id string, v *visit) {
	delete(a.visits, id)
	f := v.first
	day := a.day(v.start)
	bounce := int64(0)
	if v.pageviews+v.customs <= 1 {
		bounce = 1
	}
	dur := int64(v.end.Sub(v.start) / time.Second)
	visitRow := func(t *Table, text ...string) {
		g := a.group(day, t, text...)
		g.visitors[f.Visitor] = struct{}{}
		g.visits[visitKey(id, v.start)] = struct{}{}
		n := g.nums
		switch t.Name {
		case "imported_visitors": // visitors, pageviews, bounces, visits, visit_duration
			n[1] += v.pageviews
			n[2] += bounce
			n[4] += dur
		case "imported_sources": // pageviews, visitors, visits, visit_duration, bounces
			n[0] += v.pageviews
			n[3] += dur
			n[4] += bounce
		case "imported_entry_pages", "imported_exit_pages":
			// entry: visitors, entrances, visit_duration, bounces, pageviews
			// exit: visitors, visit_duration, exits, bounces, pageviews
			if t.Name == "imported_entry_pages" {
				n[2] += dur
			} else {
				n[1] += dur
			}
			n[3] += bounce
			n[4] += v.pageviews
		default: // visitors, visits, visit_duration, bounces, pageviews
			n[2] += dur
			n[3] += bounce
			n[4] += v.pageviews
		}
	}
	visitRow(TableNamed("imported_visitors"))
	visitRow(TableNamed("imported_sources"), f.Source, f.Referrer, f.UTMSource, f.UTMMedium, f.UTMCampaign, f.UTMContent, f.UTMTerm, f.Channel)
	if v.entry != "" {
		visitRow(TableNamed("imported_entry_pages"), v.entry)
		visitRow(TableNamed("imported_exit_pages"), v.exit)
	}
	visitRow(TableNamed("imported_locations"), f.Country, f.Region, f.City, geo.CountryName(f.Country), geo.RegionName(f.Region), f.CityName)
	visitRow(TableNamed("imported_devices"), f.Device)
	visitRow(TableNamed("imported_browsers"), f.Browser, f.BrowserVersion)
	visitRow(TableNamed("imported_operating_systems"), f.OS, f.OSVersion)
}

// visitKey tells apart the visits of a tool's id that is reused after a
// pause longer than the visit timeout.
func visitKey(id string, start time.Time) string {
	return id + "\x01" + strconv.FormatInt(start.Unix(), 10)
}

// flush ends visits idle past the timeout and emits days two days older
// than the latest hit; all of them at the end.
func (a *aggregator) flush(all bool) error {
	for id, v := range a.visits {
		if all || a.latest.Sub(v.end) > visitTimeout {
			a.endVisit(id, v)
		}
	}
	cut := a.day(a.latest) - 2
	var days []int32
	for d := range a.days {
		if all || d < cut {
			days = append(days, d)
		}
	}
	sort.Slice(days, func(i, j int) bool { return days[i] < days[j] })
	for _, d := range days {
		if err := a.emitDay(d); err != nil {
			return err
		}
	}
	return nil
}

func (a *aggregator) emitDay(day int32) error {
	dg := a.days[day]
	delete(a.days, day)
	for _, t := range Tables {
		m := dg.tables[t]
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			g := m[k]
			r := Row{Date: day, Text: strings.Split(k, "\x00"), Nums: g.nums}
			if len(t.Text) == 0 {
				r.Text = nil
			}
			if i := t.NumIndex("visitors"); i >= 0 {
				r.Nums[i] = int64(len(g.visitors))
			}
			switch t.Name {
			case "imported_pages", "imported_visitors", "imported_sources", "imported_locations",
				"imported_devices", "imported_browsers", "imported_operating_systems":
				r.Nums[t.NumIndex("visits")] = int64(len(g.visits))
			case "imported_entry_pages":
				r.Nums[1] = int64(len(g.visits))
			case "imported_exit_pages":
				r.Nums[2] = int64(len(g.visits))
			}
			if err := a.emit(t, r); err != nil {
				return err
			}
		}
	}
	return nil
}
