package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/assets"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/stats"
)

// The dashboard: server-rendered pages whose whole state is in the URL, so
// every click is a plain link, views can be bookmarked and shared, and a
// page is usable as soon as it arrives. A small script adds the realtime
// panel's updates and keyboard shortcuts.

var dashTmpl = template.Must(template.New("dash").Funcs(template.FuncMap{
	"metric":  formatMetric,
	"day":     dayTag,
	"instant": instantTag,
}).ParseFS(assets.Static, "static/dash/*.html"))

func (s *Server) render(w http.ResponseWriter, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := dashTmpl.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

func peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

type sitesPage struct {
	Title, CSRF, Error, Origin string
	Sites                      []siteRow
	Zones                      []string
}

type siteRow struct {
	Domain, Href, TimeZone string
	Visitors               string
}

// commonZones are offered in the add-site form; any IANA name is accepted.
var commonZones = []string{"UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "America/New_York", "America/Chicago",
	"America/Los_Angeles", "America/Sao_Paulo", "Asia/Tokyo", "Asia/Singapore", "Asia/Kolkata", "Australia/Sydney"}

// sites lists the sites with today's visitors.
func (s *Server) sites(w http.ResponseWriter, r *http.Request) error {
	return s.renderSites(w, r, http.StatusOK, "")
}

func (s *Server) renderSites(w http.ResponseWriter, r *http.Request, status int, msg string) error {
	all := s.Sites.All()
	page := sitesPage{Title: "Sites", CSRF: sessionOf(r).CSRF, Error: msg, Origin: origin(r), Zones: commonZones}
	var qs []*stats.Query
	for _, st := range all {
		q, err := buildQuery(st, s.Now(), map[string]any{"metrics": []string{"visitors"}, "date_range": "day"})
		if err != nil {
			return err
		}
		qs = append(qs, q)
	}
	res, err := s.Stats.QueryAll(r.Context(), qs)
	if err != nil {
		return err
	}
	for i, st := range all {
		row := siteRow{Domain: st.Domain, Href: "/dashboard/" + url.PathEscape(st.Domain), TimeZone: st.TimeZone, Visitors: "0"}
		if len(res[i].Rows) > 0 {
			row.Visitors = formatCount(res[i].Rows[0].Metrics[0])
		}
		page.Sites = append(page.Sites, row)
	}
	return s.render(w, status, "sites.html", page)
}

// addSite creates a site from the form.
func (s *Server) addSite(w http.ResponseWriter, r *http.Request) error {
	// A pasted address (https://www.example.com/) is taken for its host.
	st := &site.Site{Domain: site.DomainFromInput(r.PostFormValue("domain")), TimeZone: strings.TrimSpace(r.PostFormValue("timezone"))}
	err := s.SiteStore.AddSite(r.Context(), st)
	if errors.Is(err, site.ErrInvalid) || errors.Is(err, site.ErrExists) {
		return s.renderSites(w, r, http.StatusBadRequest, err.Error())
	}
	if err != nil {
		return err
	}
	s.Sites.Reload(r.Context())
	http.Redirect(w, r, "/dashboard/"+url.PathEscape(st.Domain), http.StatusSeeOther)
	return nil
}

func origin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// buildQuery makes a stats query from API-shaped fields, with the API's
// validation.
func buildQuery(st *site.Site, now time.Time, fields map[string]any) (*stats.Query, error) {
	fields["site_id"] = st.Domain
	b, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	qr, err := stats.DecodeQueryRequest(b)
	if err != nil {
		return nil, err
	}
	return qr.Build(st, now)
}

// panelDef is one table of the site view.
type panelDef struct {
	ID, Title string
	Dim       string
	Metrics   []string // the first is the bar's
	// Drill, when the view filters on Dim with "is", shows this
	// dimension instead (source -> referrers, browser -> versions).
	Drill, DrillTitle string
	// Hide leaves rows out (the pageview "event").
	Hide []string
	// Tabs, when set, are views of the panel chosen by the view's Loc:
	// the Locations panel's countries, regions and cities.
	Tabs []panelTab
}

// panelTab is one tab of a panel: the code dimension it groups and
// filters by, and the dimension that names its values.
type panelTab struct {
	Loc, Label, Dim, NameDim string
}

var locationTabs = []panelTab{
	{"", "Countries", "visit:country", "visit:country_name"},
	{"regions", "Regions", "visit:region", "visit:region_name"},
	{"cities", "Cities", "visit:city", "visit:city_name"},
}

// tab returns the panel's tab in view v (nil for a panel without tabs).
func (p panelDef) tab(v viewState) *panelTab {
	for i := range p.Tabs {
		if p.Tabs[i].Loc == v.Loc {
			return &p.Tabs[i]
		}
	}
	if len(p.Tabs) > 0 {
		return &p.Tabs[0]
	}
	return nil
}

var panels = []panelDef{
	{ID: "pages", Title: "Top pages", Dim: "event:page", Metrics: []string{"visitors", "pageviews", "time_on_page"}},
	{ID: "entry", Title: "Entry pages", Dim: "visit:entry_page", Metrics: []string{"visitors", "visits", "bounce_rate"}},
	{ID: "exit", Title: "Exit pages", Dim: "visit:exit_page", Metrics: []string{"visitors", "visits"}},
	{ID: "sources", Title: "Sources", Dim: "visit:source", Metrics: []string{"visitors", "bounce_rate"},
		Drill: "visit:referrer", DrillTitle: "Referrers"},
	{ID: "utm_source", Title: "UTM sources", Dim: "visit:utm_source", Metrics: []string{"visitors"}},
	{ID: "utm_medium", Title: "UTM media", Dim: "visit:utm_medium", Metrics: []string{"visitors"}},
	{ID: "utm_campaign", Title: "UTM campaigns", Dim: "visit:utm_campaign", Metrics: []string{"visitors"}},
	{ID: "browsers", Title: "Browsers", Dim: "visit:browser", Metrics: []string{"visitors", "percentage"},
		Drill: "visit:browser_version", DrillTitle: "Browser versions"},
	{ID: "os", Title: "Operating systems", Dim: "visit:os", Metrics: []string{"visitors", "percentage"},
		Drill: "visit:os_version", DrillTitle: "OS versions"},
	{ID: "devices", Title: "Devices", Dim: "visit:device", Metrics: []string{"visitors", "percentage"}},
	{ID: "screens", Title: "Screen sizes", Dim: "visit:screen", Metrics: []string{"visitors", "percentage"}},
	{ID: "languages", Title: "Languages", Dim: "visit:language", Metrics: []string{"visitors", "percentage"}},
	{ID: "locations", Title: "Locations", Dim: "visit:country", Metrics: []string{"visitors", "percentage"}, Tabs: locationTabs},
	{ID: "events", Title: "Custom events", Dim: "event:name", Metrics: []string{"visitors", "events"},
		Hide: []string{analytics.EventPageview}},
	{ID: "goals", Title: "Goals", Dim: "event:goal", Metrics: []string{"visitors", "events", "conversion_rate"}},
}

// panelFor returns the panel that shows dim: one of panels, its drill-down,
// or a custom event's property.
func panelFor(dim string) (panelDef, bool) {
	for _, p := range panels {
		if p.Dim == dim || p.Drill == dim {
			return p, true
		}
		for _, t := range p.Tabs {
			if t.Dim == dim {
				// One tab: its rows keep their names beside the codes.
				p.Dim, p.Title, p.Tabs = t.Dim, t.Label, []panelTab{t}
				return p, true
			}
		}
	}
	if k, ok := strings.CutPrefix(dim, "event:props:"); ok && dimLabel(dim) != "" {
		return panelDef{ID: "prop", Title: "Property " + k, Dim: dim, Metrics: []string{"visitors", "events"}}, true
	}
	return panelDef{}, false
}

// forSite is the panel as it shows for st: the goals of a site with
// revenue goals show their revenue too, as Plausible's dashboard does.
func (p panelDef) forSite(st *site.Site) panelDef {
	if p.Dim == "event:goal" && slices.ContainsFunc(st.Goals, func(g site.Goal) bool { return g.Currency != "" }) {
		p.Metrics = append(slices.Clone(p.Metrics), stats.MetricTotalRevenue, stats.MetricAverageRevenue)
	}
	return p
}

// panelQuery is the query of one panel showing dim in view v: limit rows
// from offset, with the total count.
func panelQuery(st *site.Site, now time.Time, v viewState, def panelDef, dim string, limit, offset int) (*stats.Query, error) {
	dims := []string{dim}
	if t := def.tab(v); t != nil {
		dims = append(dims, t.NameDim)
	}
	fields := map[string]any{"metrics": def.Metrics, "dimensions": dims, "date_range": v.dateRange(),
		"pagination": map[string]int{"limit": min(limit, stats.MaxLimit), "offset": offset},
		"include":    map[string]bool{"total_rows": true}}
	if fj := v.filterJSON(); fj != nil {
		fields["filters"] = fj
	}
	q, err := buildQuery(st, now, fields)
	if err != nil {
		return nil, err
	}
	q.IncludeImports = !v.NoImports
	return q, nil
}

// panelLimit is how many rows a panel shows; details shows the rest.
const panelLimit = 10

// dim returns the dimension the panel shows in view v.
func (p panelDef) dim(v viewState) (dim, title string) {
	if t := p.tab(v); t != nil {
		return t.Dim, p.Title
	}
	if p.Drill != "" && v.filtered(p.Dim) {
		return p.Drill, p.DrillTitle
	}
	return p.Dim, p.Title
}

type sitePage struct {
	Title, CSRF, Site, Base string
	View                    viewState
	Periods                 []periodLink
	PeriodLabel             string
	Custom                  bool // a custom range: the heading names its days
	From, To                string
	Chips                   []chip
	CompareHref             string
	Headline                []headFigure
	Chart                   template.HTML
	ChartRows               []chartRow
	ChartUnit               string
	Panels                  []panelView
	Dims                    [][2]string
	Ops                     [][2]string
	Hidden                  []hiddenField
	ServerMS                string
	HasGoals                bool
	Admin                   bool   // false on a shared link
	Settings                string // the site's settings page
	Export                  string // the whole view as a zip of CSV files
	Funnels                 []funnelView
	Credit                  template.HTML // what the geolocation databases in use ask to be credited with
	// Imported describes the site's imported history ("" without any);
	// ImportsHref shows or hides it; ImportsNote says when the view's
	// filters leave it out.
	Imported                 template.HTML
	ImportsHref, ImportsNote string
	// Realtime is the realtime panel's feed, with the view's filters.
	Realtime string
	// Onboarding: the site has no data yet; the page shows its snippet
	// (for Origin) and waits for the first hit.
	Onboarding bool
	Origin     string
}

type funnelView struct {
	Name  string
	Steps []funnelStepView
}

type funnelStepView struct {
	Name, Visitors, OfFirst, DropOff string
	Bar                              template.HTML
}

type periodLink struct {
	Label, Href, Key string
	Current          bool
}

type chip struct{ Label, Op, Value, Remove string }

type headFigure struct {
	Label, Value, Change, Direction string
}

type chartRow struct {
	Label             template.HTML
	Current, Previous string
}

type panelView struct {
	ID, Title, Details, CSV string
	Columns                 []string
	Rows                    []panelRow
	Total                   int
	Empty                   string
	Tabs                    []periodLink  // the Locations panel's tabs
	Map                     template.HTML // the world map, on its Countries tab
	Credit                  template.HTML // attribution its databases require
	Note                    string        // how to add a geolocation database, when there is none
	Wide                    bool          // more figures than a third of the page holds: a row of its own
	// ImportsNote says that imported history is left out of this panel
	// (its filters and dimension span imported tables).
	ImportsNote string
}

type panelRow struct {
	Label, Href string
	Badge       string // a code shown beside the label (Locations)
	Bar         template.HTML
	Values      []string
}

type hiddenField struct{ Name, Value string }

var headlineMetrics = []string{"visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration", "time_on_page"}

// viewSet is the queries of a view: headline, chart, then one per panel.
type viewSet struct {
	head, chart *stats.Query
	unit        string
	panels      []panelDef
	panelQs     []*stats.Query
}

func (vs viewSet) all() []*stats.Query {
	return append([]*stats.Query{vs.head, vs.chart}, vs.panelQs...)
}

// viewQueries builds the queries of view v of a site; panels get limit
// rows.
func viewQueries(st *site.Site, now time.Time, v viewState, limit int) (viewSet, error) {
	var vs viewSet
	common := func(fields map[string]any) map[string]any {
		fields["date_range"] = v.dateRange()
		if fj := v.filterJSON(); fj != nil {
			fields["filters"] = fj
		}
		return fields
	}
	var err error
	vs.head, err = buildQuery(st, now, common(map[string]any{"metrics": headlineMetrics,
		"include": map[string]any{"comparisons": map[string]string{"mode": "previous_period"}}}))
	if err != nil {
		return vs, err
	}
	vs.unit = stats.ChartUnit(vs.head.From, vs.head.To)
	chartFields := common(map[string]any{"metrics": []string{"visitors", "pageviews"}, "dimensions": []string{vs.unit},
		"include": map[string]any{"time_labels": true}})
	if v.Compare {
		chartFields["include"] = map[string]any{"time_labels": true, "comparisons": map[string]string{"mode": "previous_period"}}
	}
	if vs.chart, err = buildQuery(st, now, chartFields); err != nil {
		return vs, err
	}
	for _, p := range panels {
		if p.Dim == "event:goal" && len(st.Goals) == 0 {
			continue
		}
		p = p.forSite(st)
		dim, _ := p.dim(v)
		n := limit + len(p.Hide)
		if t := p.tab(v); t != nil && t.Loc == "" {
			n = mapCountries // the map shades every country
		}
		pq, err := panelQuery(st, now, v, p, dim, n, 0)
		if err != nil {
			return vs, err
		}
		vs.panelQs = append(vs.panelQs, pq)
		vs.panels = append(vs.panels, p)
	}
	vs.head.IncludeImports, vs.chart.IncludeImports = !v.NoImports, !v.NoImports
	return vs, nil
}

func funnelOf(name string, steps []stats.FunnelStep) funnelView {
	fv := funnelView{Name: name}
	var first, prev float64
	for i, st := range steps {
		sv := funnelStepView{Name: st.Name, Visitors: formatCount(st.Visitors)}
		if i == 0 {
			first = st.Visitors
			sv.OfFirst = "100%"
		} else {
			sv.OfFirst = formatMetric("percentage", pct(st.Visitors, first))
			sv.DropOff = formatMetric("percentage", pct(prev-st.Visitors, prev))
		}
		sv.Bar = bar(st.Visitors, first)
		prev = st.Visitors
		fv.Steps = append(fv.Steps, sv)
	}
	return fv
}

// pct is a/b in percent with one decimal, 0 when b is 0.
func pct(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return float64(int64(a/b*1000+0.5)) / 10
}

// siteView renders a site's dashboard for the view in the URL.
func (s *Server) siteView(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	vw := viewerOf(r)
	st := vw.site
	q := r.URL.Query()
	v, err := parseView(q)
	if err != nil {
		return err
	}
	if v.Period == "all" {
		st = s.withHistory(r.Context(), st)
	}
	base := vw.base
	// The add-filter form sends its fields; the view's address gets them.
	if dim := q.Get("add_dim"); dim != "" {
		f := viewFilter{Dim: dim, Op: q.Get("add_op"), Value: strings.TrimSpace(q.Get("add_value"))}
		add := url.Values{"f": {f.Op + "~" + f.Dim + "~" + f.Value}}
		if _, err := parseView(add); err != nil {
			return err
		}
		http.Redirect(w, r, v.withFilter(f).href(base), http.StatusSeeOther)
		return nil
	}
	vq, err := viewQueries(st, s.Now(), v, panelLimit)
	if err != nil {
		return err
	}
	headQ, unit, shown, qs := vq.head, vq.unit, vq.panels, vq.all()
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	res, err := s.Stats.QueryAll(ctx, qs)
	if err != nil {
		return err
	}
	page := sitePage{Title: st.Domain, CSRF: sessionOf(r).CSRF, Site: st.Domain, Base: base, View: v,
		Dims: sortedDims(), HasGoals: len(st.Goals) > 0, Admin: vw.admin, Settings: "/dashboard/" + url.PathEscape(st.Domain) + "/settings"}
	for _, op := range []string{"is", "is_not", "contains"} {
		page.Ops = append(page.Ops, [2]string{op, filterOps[op]})
	}
	for _, p := range periods {
		page.Periods = append(page.Periods, periodLink{Label: p.Label, Href: v.withPeriod(p.ID).href(base), Key: p.Key, Current: p.ID == v.Period})
		if p.ID == v.Period {
			page.PeriodLabel = p.Label
		}
	}
	loc := st.Location()
	page.From = headQ.From.In(loc).Format(time.DateOnly)
	page.To = headQ.To.In(loc).Add(-time.Second).Format(time.DateOnly)
	if v.Period == "custom" {
		page.PeriodLabel = page.From + " to " + page.To
		page.Custom = true
	}
	for i, f := range v.Filters {
		page.Chips = append(page.Chips, chip{Label: dimLabel(f.Dim), Op: filterOps[f.Op], Value: chipValue(f), Remove: v.withoutFilter(i).href(base)})
	}
	cmp := v
	cmp.Compare = !v.Compare
	page.CompareHref = cmp.href(base)
	for name, vals := range v.values() {
		for _, val := range vals {
			page.Hidden = append(page.Hidden, hiddenField{name, val})
		}
	}
	slices.SortFunc(page.Hidden, func(a, b hiddenField) int { return strings.Compare(a.Name+a.Value, b.Name+b.Value) })
	page.Headline = headline(res[0])
	page.Chart, page.ChartRows = chart(res[1], unit, v.Compare)
	page.ChartUnit = strings.TrimPrefix(unit, "time:")
	for i, p := range shown {
		pv := panelOf(p, v, base, res[2+i], panelLimit, true)
		if len(p.Tabs) > 0 {
			s.locationsPanel(&pv, p, v, base, res[2+i])
			page.Credit = pv.Credit
		}
		page.Panels = append(page.Panels, pv)
	}
	// With one custom event chosen, its properties get panels too.
	for _, f := range v.Filters {
		if f.Dim != "event:name" || f.Op != "is" {
			continue
		}
		keys, err := s.Stats.PropKeys(ctx, headQ, f.Value, 4+len(st.AllowedProps))
		if err != nil {
			return err
		}
		if len(st.AllowedProps) > 0 {
			// As Plausible: with an allow list, only its properties are offered.
			keys = slices.DeleteFunc(keys, func(k string) bool { return !slices.Contains(st.AllowedProps, k) })
		}
		keys = keys[:min(len(keys), 4)]
		var pqs []*stats.Query
		var defs []panelDef
		for i, k := range keys {
			def, _ := panelFor("event:props:" + k)
			def.ID, def.Title = fmt.Sprintf("prop-%d", i), "Property "+k+" of "+f.Value
			pq, err := panelQuery(st, s.Now(), v, def, def.Dim, panelLimit, 0)
			if err != nil {
				return err
			}
			pqs, defs = append(pqs, pq), append(defs, def)
		}
		pres, err := s.Stats.QueryAll(ctx, pqs)
		if err != nil {
			return err
		}
		for i, def := range defs {
			page.Panels = append(page.Panels, panelOf(def, v, base, pres[i], panelLimit, true))
		}
	}
	for _, f := range st.Funnels {
		steps, err := s.Stats.Funnel(ctx, headQ, f)
		if err != nil {
			return err
		}
		page.Funnels = append(page.Funnels, funnelOf(f.Name, steps))
	}
	page.Export = base + "/export.zip?" + v.values().Encode()
	if first, ok := s.firstData(ctx, st); ok && first.IsZero() && vw.admin {
		page.Onboarding, page.Origin = true, origin(r)
	}
	page.Realtime = base + "/realtime.json"
	if len(v.Filters) > 0 {
		page.Realtime += "?" + v.values().Encode()
	}
	if imps, err := s.siteImports(ctx, st.Domain); err != nil {
		return err
	} else if len(imps) > 0 {
		page.Imported = importsSummary(imps)
		toggle := v
		toggle.NoImports = !v.NoImports
		page.ImportsHref = toggle.href(base)
		if !v.NoImports && res[0].ImportsSkipReason == stats.SkipUnsupportedQuery {
			page.ImportsNote = "These filters leave imported data out of the totals and chart."
		}
	}
	page.ServerMS = fmt.Sprintf("%.0f", float64(time.Since(start).Microseconds())/1000)
	return s.render(w, http.StatusOK, "site.html", page)
}

func headline(res *stats.Result) []headFigure {
	var out []headFigure
	if len(res.Rows) == 0 {
		return out
	}
	row := res.Rows[0]
	visits := slices.Index(headlineMetrics, "visits")
	for i, m := range headlineMetrics {
		f := headFigure{Label: metricLabel(m), Value: formatMetric(m, row.Metrics[i])}
		if c := row.Comparison; c != nil {
			ch := c.Change[i]
			d, _ := stats.LookupMetric(m)
			// Without visits before, a rate (bounce rate) had no value
			// either: its "0%" then is not a figure to compare with.
			noneBefore := c.Metrics[visits] == 0
			switch {
			case (noneBefore || d != nil && d.Unit != stats.UnitPercent && c.Metrics[i] == 0) && row.Metrics[i] > 0:
				// Up from nothing: "+100%" would be a made-up figure.
				f.Change, f.Direction = "new", "up"
			case noneBefore:
			case math.IsNaN(ch):
				// Nothing to compare with (no engagement reported before or
				// now): no change is shown.
			case ch > 0:
				f.Change, f.Direction = fmt.Sprintf("+%g%%", ch), "up"
			case ch < 0:
				f.Change, f.Direction = fmt.Sprintf("%g%%", ch), "down"
			default:
				f.Change, f.Direction = "no change", "flat"
			}
			switch {
			case d != nil && d.LowerIsBetter && f.Change == "new":
				// A first bounce rate is neither good nor bad news.
				f.Direction = "flat"
			case d != nil && d.LowerIsBetter:
				// Fewer bounces is better; the arrow still says which way.
				f.Direction += " inverse"
			}
		}
		out = append(out, f)
	}
	return out
}

func chart(res *stats.Result, unit string, compare bool) (template.HTML, []chartRow) {
	byLabel := map[string]stats.Row{}
	for _, r := range res.Rows {
		byLabel[r.Dimensions[0]] = r
	}
	labels := res.TimeLabels
	cur := make([]float64, len(labels))
	var prev []float64
	if compare {
		prev = make([]float64, len(labels))
	}
	rows := make([]chartRow, len(labels))
	for i, l := range labels {
		rows[i] = chartRow{Label: bucketTag(l, unit), Current: "0"}
		if r, ok := byLabel[l]; ok {
			cur[i] = r.Metrics[0]
			rows[i].Current = formatCount(r.Metrics[0])
			if compare && r.Comparison != nil {
				prev[i] = r.Comparison.Metrics[0]
				rows[i].Previous = formatCount(prev[i])
			}
		}
		if compare && rows[i].Previous == "" {
			rows[i].Previous = "0"
		}
	}
	return lineChart("Visitors per "+strings.TrimPrefix(unit, "time:"), labels, cur, prev), rows
}

// panelOf renders a panel's rows; short writes money short ("€14.5K"), as
// a panel on the dashboard has room for.
func panelOf(p panelDef, v viewState, base string, res *stats.Result, limit int, short bool) panelView {
	dim, title := p.dim(v)
	pv := panelView{ID: p.ID, Title: title, Total: res.TotalRows, Empty: "No data for this period.", Wide: len(p.Metrics) > 3}
	q := v.values()
	q.Set("dim", dim)
	pv.Details = base + "/details?" + q.Encode()
	pv.CSV = base + "/export.csv?" + q.Encode()
	for _, m := range p.Metrics {
		pv.Columns = append(pv.Columns, metricLabel(m))
	}
	if res.ImportsSkipReason == stats.SkipUnsupportedQuery {
		pv.ImportsNote = "Imported data is not included here: it has no figures for this breakdown with these filters."
	}
	maxV := 0.0
	for _, r := range res.Rows {
		maxV = max(maxV, r.Metrics[0])
	}
	for _, r := range res.Rows {
		label := r.Dimensions[0]
		if slices.Contains(p.Hide, label) {
			pv.Total--
			continue
		}
		if len(pv.Rows) == limit {
			break
		}
		// Labels of empty values ("(not set)") filter on the empty value.
		row := panelRow{Label: label, Bar: bar(r.Metrics[0], maxV),
			Href: v.withFilter(viewFilter{Dim: dim, Op: "is", Value: label}).href(base)}
		if t := p.tab(v); t != nil && len(r.Dimensions) > 1 {
			row.Label = placeLabel(label, r.Dimensions[1])
			if t.Dim != "visit:city" && row.Label != label {
				row.Badge = label // the country or region code, beside its name
			}
		}
		for i, m := range p.Metrics {
			row.Values = append(row.Values, formatRowMetric(m, r, i, short))
		}
		pv.Rows = append(pv.Rows, row)
	}
	return pv
}

type detailsPage struct {
	Title, CSRF, Site, Base, Back, Search, Dim, DimLabel string
	Columns                                              []string
	Rows                                                 []panelRow
	Total                                                int
	Prev, Next                                           string
	Page, Pages                                          int
	Hidden                                               []hiddenField
}

// detailsPageSize is how many rows a details page shows.
const detailsPageSize = 50

// details lists all values of one dimension in the view, with search and
// pages.
func (s *Server) details(w http.ResponseWriter, r *http.Request) error {
	vw := viewerOf(r)
	st := vw.site
	q := r.URL.Query()
	v, err := parseView(q)
	if err != nil {
		return err
	}
	if v.Period == "all" {
		st = s.withHistory(r.Context(), st)
	}
	dim := q.Get("dim")
	def, ok := panelFor(dim)
	if !ok {
		return errInvalid("dim", fmt.Sprintf("no panel shows %q", dim))
	}
	def = def.forSite(st)
	pageNo := 1
	if p := q.Get("page"); p != "" {
		if _, err := fmt.Sscanf(p, "%d", &pageNo); err != nil || pageNo < 1 || pageNo > 10000 {
			return errInvalid("page", "must be a page number")
		}
	}
	search := strings.TrimSpace(q.Get("search"))
	if len(search) > 200 {
		return errInvalid("search", "at most 200 characters")
	}
	view := v
	if search != "" {
		searched := dim
		if t := def.tab(v); t != nil {
			searched = t.NameDim // "Eston" finds Estonia, not only "EE"
		}
		view = v.withFilter(viewFilter{Dim: searched, Op: "contains", Value: search})
	}
	dq, err := panelQuery(st, s.Now(), view, def, dim, detailsPageSize, (pageNo-1)*detailsPageSize)
	if err != nil {
		return err
	}
	res, err := s.Stats.Query(r.Context(), dq)
	if err != nil {
		return err
	}
	base := vw.base
	def.Dim, def.Drill = dim, ""
	pv := panelOf(def, v, base, res, detailsPageSize, false)
	page := detailsPage{Title: dimLabel(dim) + " · " + st.Domain, CSRF: sessionOf(r).CSRF, Site: st.Domain, Base: base, Back: v.href(base),
		Search: search, Dim: dim, DimLabel: dimLabel(dim), Columns: pv.Columns, Rows: pv.Rows, Total: res.TotalRows, Page: pageNo}
	page.Pages = max(1, (res.TotalRows+detailsPageSize-1)/detailsPageSize)
	link := func(n int) string {
		q := v.values()
		q.Set("dim", dim)
		if search != "" {
			q.Set("search", search)
		}
		q.Set("page", fmt.Sprint(n))
		return base + "/details?" + q.Encode()
	}
	if pageNo > 1 {
		page.Prev = link(pageNo - 1)
	}
	if pageNo < page.Pages {
		page.Next = link(pageNo + 1)
	}
	for name, vals := range v.values() {
		for _, val := range vals {
			page.Hidden = append(page.Hidden, hiddenField{name, val})
		}
	}
	page.Hidden = append(page.Hidden, hiddenField{"dim", dim})
	return s.render(w, http.StatusOK, "details.html", page)
}

// realtime answers the realtime panel: visitors in the last five minutes
// and the latest pageviews.
func (s *Server) realtime(w http.ResponseWriter, r *http.Request) error {
	vw := viewerOf(r)
	st := vw.site
	now := s.Now()
	// The view's filters apply, as they do to every other panel.
	v, err := parseView(r.URL.Query())
	if err != nil {
		return err
	}
	fields := map[string]any{"metrics": []string{"visitors"}, "date_range": "realtime"}
	if fj := v.filterJSON(); fj != nil {
		fields["filters"] = fj
	}
	q, err := buildQuery(st, now, fields)
	if err != nil {
		return err
	}
	res, err := s.Stats.Query(r.Context(), q)
	if err != nil {
		return err
	}
	rq := *q
	rq.From = now.Add(-30 * time.Minute)
	recent, err := s.Stats.RecentPageviews(r.Context(), &rq, 20)
	if err != nil {
		return err
	}
	type item struct {
		Time    string `json:"time"`
		Ago     string `json:"ago"`
		Page    string `json:"page"`
		Source  string `json:"source"`
		Browser string `json:"browser"`
		Device  string `json:"device"`
	}
	out := struct {
		Visitors float64 `json:"visitors"`
		Recent   []item  `json:"recent"`
	}{Recent: []item{}}
	if len(res.Rows) > 0 {
		out.Visitors = res.Rows[0].Metrics[0]
	}
	for _, p := range recent {
		src := p.Source
		if src == "" {
			src = analytics.SourceDirect
		}
		out.Recent = append(out.Recent, item{Time: p.Time.UTC().Format(time.RFC3339), Ago: formatDuration(max(0, now.Sub(p.Time).Seconds())) + " ago",
			Page: p.Path, Source: src, Browser: p.Browser, Device: p.Device})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// iconHandler serves one of the icons embedded in assets/static/icons.
func iconHandler(name, typ string) http.HandlerFunc {
	b, err := fs.ReadFile(assets.Static, "static/icons/"+name)
	if err != nil {
		panic("web: icon " + name + " is not embedded: " + err.Error())
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", typ)
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Write(b)
	}
}

// dashFile serves the dashboard's stylesheet and script.
func (s *Server) dashFile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	var ctype string
	switch name {
	case "dash.css":
		ctype = "text/css; charset=utf-8"
	case "dash.js":
		ctype = "text/javascript; charset=utf-8"
	default:
		http.NotFound(w, r)
		return
	}
	b, err := assets.Static.ReadFile("static/dash/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache")
	s.gz.serve(w, r, "dash/"+name, b)
}

// viewer is who looks at a site's dashboard: an administrator under
// /dashboard/<site>, or anyone with a shared link under /share/<secret>.
type viewer struct {
	site  *site.Site
	base  string
	admin bool
}

type viewerKey struct{}

func viewerOf(r *http.Request) viewer {
	v, _ := r.Context().Value(viewerKey{}).(viewer)
	return v
}

// adminSite serves a site's dashboard pages to the administrator.
func (s *Server) adminSite(h handlerFunc) http.HandlerFunc {
	return s.requireAdmin(func(w http.ResponseWriter, r *http.Request) error {
		st := s.Sites.Lookup(r.Context(), r.PathValue("site"))
		if st == nil {
			return &apiError{Status: http.StatusNotFound, Code: codeNotFound, Message: "no site " + r.PathValue("site")}
		}
		vw := viewer{site: st, base: "/dashboard/" + url.PathEscape(st.Domain), admin: true}
		return h(w, r.WithContext(context.WithValue(r.Context(), viewerKey{}, vw)))
	})
}

// sharedSite serves a site's dashboard, read-only, to holders of a shared
// link. Unknown or revoked links get 404, like any other unknown page.
func (s *Server) sharedSite(h handlerFunc) http.HandlerFunc {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		secret := r.PathValue("secret")
		t, err := s.SiteStore.TokenByHash(r.Context(), site.HashToken(secret))
		if errors.Is(err, site.ErrNotFound) || err == nil && t.Kind != site.TokenShare {
			return &apiError{Status: http.StatusNotFound, Code: codeNotFound, Message: "this shared link does not exist or was revoked"}
		}
		if err != nil {
			return err
		}
		st := s.Sites.Lookup(r.Context(), t.Site)
		if st == nil {
			return &apiError{Status: http.StatusNotFound, Code: codeNotFound, Message: "this shared link's site was removed"}
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer") // the secret is in the address
		w.Header().Set("X-Robots-Tag", "noindex")
		vw := viewer{site: st, base: "/share/" + url.PathEscape(secret)}
		return h(w, r.WithContext(context.WithValue(r.Context(), viewerKey{}, vw)))
	})
}
