package stats

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"waymark.dev/waymark/internal/imported"
)

// ImportLister lists a site's imports; an event store gives the planner
// its own.
type ImportLister func(ctx context.Context, site string) ([]imported.Import, error)

// importPlan is how a query reads imported data: the complete imports and
// the tables that answer it.
type importPlan struct {
	ids    []int64
	tables []*imported.Table
}

// Reasons imported data is not merged, as Plausible names them.
const (
	SkipNoImportedData      = "no_imported_data"
	SkipOutOfRange          = "out_of_range"
	SkipUnsupportedInterval = "unsupported_interval"
	SkipUnsupportedQuery    = "unsupported_query"
)

// importTables maps the dimensions imported data has to the table that
// has them (Plausible's mapping).
var importTables = map[string]string{
	"visit:source": "imported_sources", "visit:channel": "imported_sources", "visit:referrer": "imported_sources",
	"visit:utm_source": "imported_sources", "visit:utm_medium": "imported_sources", "visit:utm_campaign": "imported_sources",
	"visit:utm_term": "imported_sources", "visit:utm_content": "imported_sources",
	"visit:entry_page": "imported_entry_pages", "visit:exit_page": "imported_exit_pages",
	"visit:country": "imported_locations", "visit:region": "imported_locations", "visit:city": "imported_locations",
	"visit:country_name": "imported_locations", "visit:region_name": "imported_locations", "visit:city_name": "imported_locations",
	"visit:device": "imported_devices", "visit:browser": "imported_browsers", "visit:browser_version": "imported_browsers",
	"visit:os": "imported_operating_systems", "visit:os_version": "imported_operating_systems",
	"event:page": "imported_pages", "event:hostname": "imported_pages", "event:name": "imported_custom_events",
}

// importedProps are the custom properties imported data keeps, with the
// special goals whose events carry them and their columns.
var importedProps = map[string]struct {
	column string
	goals  []string
}{
	"event:props:url":  {"link_url", []string{"Outbound Link: Click", "Cloaked Link: Click", "File Download"}},
	"event:props:path": {"path", []string{"404", "WP Search Queries", "Form: Submission"}},
}

// decideImports says whether q merges imported data: the plan, or the
// reason it does not (Plausible's order of reasons).
func (p *Planner) decideImports(ctx context.Context, q *Query) (*importPlan, string, error) {
	if p.Imports == nil {
		return nil, SkipNoImportedData, nil
	}
	list, err := p.importList(ctx, q.Site.Domain)
	if err != nil {
		return nil, "", fmt.Errorf("stats: list imports: %w", err)
	}
	var ids []int64
	inRange := false
	from, to := importDays(q, q.From, q.To)
	cfrom, cto := int32(0), int32(-1)
	if q.Compare {
		sh := previousPeriod(q)
		f, t := sh.apply(q.From, -1), q.From
		if !q.CompareFrom.IsZero() {
			f, t = q.CompareFrom, q.CompareTo
		}
		cfrom, cto = importDays(q, f, t)
	}
	for _, im := range list {
		if !im.Complete {
			continue
		}
		ids = append(ids, im.ID)
		if im.From <= to && im.To >= from || im.From <= cto && im.To >= cfrom {
			inRange = true
		}
	}
	switch td := q.TimeDimension(); {
	case len(ids) == 0:
		return nil, SkipNoImportedData, nil
	case !inRange || q.To.Sub(q.From) < time.Hour:
		return nil, SkipOutOfRange, nil
	case td == "time:hour" || td == "time:minute":
		return nil, SkipUnsupportedInterval, nil
	}
	tables := decideImportTables(q)
	if len(tables) == 0 {
		return nil, SkipUnsupportedQuery, nil
	}
	return &importPlan{ids: ids, tables: tables}, "", nil
}

// importList lists a site's imports, once per request (a dashboard's
// panels all ask).
func (p *Planner) importList(ctx context.Context, domain string) ([]imported.Import, error) {
	m, _ := ctx.Value(memoKey{}).(*memo)
	if m == nil {
		return p.Imports(ctx, domain)
	}
	m.importsMu.Lock()
	defer m.importsMu.Unlock()
	if list, ok := m.imports[domain]; ok {
		return list, nil
	}
	list, err := p.Imports(ctx, domain)
	if err != nil {
		return nil, err
	}
	m.imports[domain] = list
	return list, nil
}

// importDays returns the site-local days of [from, to).
func importDays(q *Query, from, to time.Time) (int32, int32) {
	return imported.Day(from.In(q.Location)), imported.Day(to.Add(-time.Nanosecond).In(q.Location))
}

// filterDims lists the dimensions q's filters use; ok is false for a
// behavioural filter (has_done), which daily aggregates cannot answer.
func filterDims(fs []Filter) (dims []string, ok bool) {
	ok = true
	for _, f := range fs {
		switch f.Op {
		case "has_done", "has_not_done":
			ok = false
		case "and", "or", "not":
			d, k := filterDims(f.Children)
			dims, ok = append(dims, d...), ok && k
		default:
			dims = append(dims, f.Dimension)
		}
	}
	return dims, ok
}

// goalsFiltered are the site's goals q's goal filters select.
func goalsFiltered(q *Query, fs []Filter) (events, pages bool) {
	for _, f := range fs {
		if f.Op == "and" || f.Op == "or" || f.Op == "not" {
			e, p := goalsFiltered(q, f.Children)
			events, pages = events || e, pages || p
			continue
		}
		if f.Dimension != "event:goal" {
			continue
		}
		for _, g := range q.Site.Goals {
			if matchValue(Filter{Op: strings.TrimSuffix(f.Op, "_not"), Values: f.Values, CaseSensitive: f.CaseSensitive}, g.Name()) {
				if g.Event != "" {
					events = true
				} else {
					pages = true
				}
			}
		}
	}
	return events, pages
}

// decideImportTables picks the imported tables that answer q (Plausible's
// decide_tables): none when its dimensions and filters span tables.
func decideImportTables(q *Query) []*imported.Table {
	fdims, ok := filterDims(q.Filters)
	if !ok {
		return nil
	}
	t := imported.TableNamed
	var dims []string
	for _, d := range q.Dimensions {
		if !isTimeDim(d) {
			dims = append(dims, d)
		}
	}
	// Custom properties: only url and path, only with their special goals.
	for _, d := range append(slices.Clone(fdims), dims...) {
		if strings.HasPrefix(d, "event:props:") {
			return customPropTables(q, fdims, dims)
		}
	}
	if len(dims) == 0 && len(fdims) == 0 {
		return []*imported.Table{t("imported_visitors")}
	}
	if slices.Equal(dims, []string{"event:goal"}) {
		if len(fdims) == 0 {
			return []*imported.Table{t("imported_pages"), t("imported_custom_events")}
		}
		events, pages := goalsFiltered(q, q.Filters)
		events = events || slices.Contains(fdims, "event:name")
		pages = pages || slices.Contains(fdims, "event:page")
		for _, d := range fdims {
			if d != "event:page" && d != "event:name" && d != "event:goal" {
				return nil
			}
		}
		switch {
		case events && !pages:
			return []*imported.Table{t("imported_custom_events")}
		case pages && !events:
			return []*imported.Table{t("imported_pages")}
		}
		return nil
	}
	var cands []string
	for _, d := range append(fdims, dims...) {
		if d == "event:goal" {
			continue
		}
		name, ok := importTables[d]
		if !ok {
			return nil
		}
		cands = append(cands, name)
	}
	events, pages := goalsFiltered(q, q.Filters)
	if events {
		cands = append(cands, "imported_custom_events")
	}
	if pages {
		cands = append(cands, "imported_pages")
	}
	slices.Sort(cands)
	cands = slices.Compact(cands)
	switch len(cands) {
	case 0:
		return []*imported.Table{t("imported_visitors")}
	case 1:
		return []*imported.Table{t(cands[0])}
	}
	return nil
}

func customPropTables(q *Query, fdims, dims []string) []*imported.Table {
	prop := ""
	switch {
	case len(dims) == 1 && strings.HasPrefix(dims[0], "event:props:"):
		prop = dims[0]
	case len(dims) == 0 || len(dims) == 1 && (dims[0] == "event:goal" || dims[0] == "event:name"):
		var props []string
		for _, d := range fdims {
			if strings.HasPrefix(d, "event:props:") {
				props = append(props, d)
			}
		}
		slices.Sort(props)
		if props = slices.Compact(props); len(props) == 1 {
			prop = props[0]
		}
	}
	spec, ok := importedProps[prop]
	if !ok {
		return nil
	}
	named := false
	for _, f := range q.Filters {
		if f.Op == "is" && (f.Dimension == "event:name" || f.Dimension == "event:goal") {
			for _, v := range f.Values {
				named = named || slices.Contains(spec.goals, v)
			}
		}
	}
	for _, d := range fdims {
		if d != prop && d != "event:name" && d != "event:goal" {
			return nil
		}
	}
	if !named {
		return nil
	}
	return []*imported.Table{imported.TableNamed("imported_custom_events")}
}

// Columns of importedSQL's figures.
const (
	impVisitors = iota
	impVisits
	impPageviews
	impEvents
	impBounces
	impDuration
	impRatioVisits // visits under bounce rate and visit duration
	impViewVisits  // visits under views per visit
	impScroll
	impScrollVisits
	impTime
	impTimeVisits
	impColumns
)

// importedColumn is the store column of a dimension in table t.
func importedColumn(t *imported.Table, d string) string {
	if spec, ok := importedProps[d]; ok {
		return spec.column
	}
	return dimColumns[d]
}

// importedSQL selects imported figures of table t for q's range, grouped
// by dims (a time dimension as the day number; event:goal as the event
// name or page).
func (p *Planner) importedSQL(q *Query, plan *importPlan, t *imported.Table, dims []string) string {
	from, to := importDays(q, q.From, q.To)
	ids := make([]string, len(plan.ids))
	for i, id := range plan.ids {
		ids[i] = strconv.FormatInt(id, 10)
	}
	where := fmt.Sprintf("i.site = %s AND i.import_id IN (%s) AND i.date >= %d AND i.date <= %d",
		p.D.Quote(q.Site.Domain), strings.Join(ids, ", "), from, to)
	for _, f := range q.Filters {
		where += " AND " + p.importedFilter(q, f, t)
	}
	if len(q.Dimensions) > 0 {
		where += " AND i.visitors > 0"
	}
	if t.Name != "imported_custom_events" && (slices.Contains(q.Metrics, MetricPageviews) || slices.Contains(q.Metrics, MetricViewsPerVisit)) {
		where += " AND i.pageviews > 0"
	}
	exprs := make([]string, len(dims))
	for i, d := range dims {
		switch {
		case isTimeDim(d):
			exprs[i] = "i.date"
		case d == "event:goal" && t.Name == "imported_custom_events":
			exprs[i] = "i.name"
		case d == "event:goal":
			exprs[i] = "i.pathname"
		default:
			c := importedColumn(t, d)
			exprs[i] = "i." + c
			switch {
			case strings.HasPrefix(d, "visit:utm_"), d == "visit:country", d == "visit:region", d == "visit:city",
				strings.HasSuffix(d, "_name"):
				where += " AND i." + c + " <> ''" // as Plausible: unknown values of these are not rows
			}
		}
	}
	col := func(name string) string {
		if t.NumIndex(name) < 0 {
			return "0"
		}
		return "sum(i." + name + ")"
	}
	visits := col("visits")
	switch t.Name {
	case "imported_entry_pages":
		visits = col("entrances")
	case "imported_exit_pages":
		visits = col("exits")
	}
	ratioVisits := visits
	if t.Name == "imported_pages" {
		ratioVisits = "0"
	}
	events := col("pageviews")
	if t.Name == "imported_custom_events" {
		events = col("events")
	}
	vals := []string{col("visitors"), visits, col("pageviews"), events, col("bounces"), col("visit_duration"),
		ratioVisits, visits, col("total_scroll_depth"), col("total_scroll_depth_visits"), col("total_time_on_page"), col("total_time_on_page_visits")}
	if t.Name == "imported_pages" {
		vals[impBounces], vals[impDuration] = "0", "0"
	}
	outer := make([]string, 0, len(dims)+len(vals))
	for i, e := range exprs {
		outer = append(outer, p.D.ToString(e)+fmt.Sprintf(" AS d%d", i))
	}
	for i, v := range vals {
		outer = append(outer, p.D.ToFloat(v)+fmt.Sprintf(" AS m%d", i))
	}
	group := ""
	if len(exprs) > 0 {
		group = " GROUP BY " + strings.Join(exprs, ", ")
	}
	return fmt.Sprintf("SELECT %s FROM %s i WHERE %s%s", strings.Join(outer, ", "), t.Name, where, group)
}

// importedFilter compiles a filter for rows of imported table t.
func (p *Planner) importedFilter(q *Query, f Filter, t *imported.Table) string {
	switch f.Op {
	case "and", "or":
		parts := make([]string, len(f.Children))
		for i, k := range f.Children {
			parts[i] = p.importedFilter(q, k, t)
		}
		return "(" + strings.Join(parts, " "+strings.ToUpper(f.Op)+" ") + ")"
	case "not":
		return "NOT " + p.importedFilter(q, f.Children[0], t)
	}
	if f.Dimension == "event:goal" {
		var parts []string
		for _, g := range q.Site.Goals {
			if !matchValue(Filter{Op: strings.TrimSuffix(f.Op, "_not"), Values: f.Values, CaseSensitive: f.CaseSensitive}, g.Name()) {
				continue
			}
			switch {
			case g.Event != "" && t.Name == "imported_custom_events":
				parts = append(parts, "i.name = "+p.D.Quote(g.Event))
			case g.Event == "" && t.Name == "imported_pages":
				if strings.Contains(g.Page, "*") {
					parts = append(parts, p.D.Regex("i.pathname", wildcardRegex(g.Page), true))
				} else {
					parts = append(parts, "i.pathname = "+p.D.Quote(g.Page))
				}
			}
		}
		c := "(1 = 0)"
		if len(parts) > 0 {
			c = "(" + strings.Join(parts, " OR ") + ")"
		}
		if strings.HasSuffix(f.Op, "_not") {
			c = "NOT " + c
		}
		return c
	}
	return p.leaf(f, "i."+importedColumn(t, f.Dimension))
}

// importedRows reads q's imported figures, keyed as compute keys rows
// (display values), with each key's dimensions.
func (p *Planner) importedRows(ctx context.Context, q *Query) (map[string][]float64, map[string][]string, error) {
	out := map[string][]float64{}
	dimsOf := map[string][]string{}
	td := q.TimeDimension()
	for _, t := range q.imports.tables {
		raws, err := p.rows(ctx, p.importedSQL(q, q.imports, t, q.Dimensions), len(q.Dimensions))
		if err != nil {
			return nil, nil, err
		}
		for _, raw := range raws {
			dims := slices.Clone(raw.Dims)
			var goals []string
			for i, d := range q.Dimensions {
				switch {
				case isTimeDim(d):
					n, err := strconv.ParseInt(dims[i], 10, 32)
					if err != nil {
						return nil, nil, fmt.Errorf("stats: imported date %q", dims[i])
					}
					dims[i] = dayLabel(int32(n), td)
				case d == "event:goal":
					goals = importedGoals(q, t, dims[i])
				}
			}
			dims = p.display(q, dims)
			add := func(dims []string) {
				k := key(dims)
				v := out[k]
				if v == nil {
					v = make([]float64, impColumns)
					out[k] = v
					dimsOf[k] = dims
				}
				for j := range v {
					v[j] += raw.Vals[j]
				}
			}
			if gi := slices.Index(q.Dimensions, "event:goal"); gi >= 0 {
				for _, g := range goals {
					d := slices.Clone(dims)
					d[gi] = g
					add(d)
				}
				continue
			}
			add(dims)
		}
	}
	return out, dimsOf, nil
}

// importedGoals are the goals (allowed by q's goal filters) that an
// imported event name or page reaches.
func importedGoals(q *Query, t *imported.Table, v string) []string {
	var out []string
	for _, g := range q.Site.Goals {
		if !goalAllowed(q.Filters, g.Name()) {
			continue
		}
		switch {
		case g.Event != "" && t.Name == "imported_custom_events" && g.Event == v:
		case g.Event == "" && t.Name == "imported_pages" && pageMatches(g.Page, v):
		default:
			continue
		}
		out = append(out, g.Name())
	}
	return out
}

func pageMatches(pattern, path string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == path
	}
	ok, _ := matchWildcard(pattern, path)
	return ok
}

// matchWildcard matches a goal path pattern with '*' (any characters).
func matchWildcard(pattern, s string) (bool, error) {
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false, nil
	}
	s = s[len(parts[0]):]
	for i, part := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(s, part), nil
		}
		j := strings.Index(s, part)
		if j < 0 {
			return false, nil
		}
		s = s[j+len(part):]
	}
	return true, nil
}

// dayLabel is a day's bucket label for a time dimension.
func dayLabel(day int32, td string) string {
	t := imported.Date(day)
	switch td {
	case "time:week":
		t = t.AddDate(0, 0, -((int(t.Weekday()) + 6) % 7))
	case "time:month":
		t = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return t.Format(time.DateOnly)
}

// hiddenMetrics are the metrics merging imported data needs of the
// native rows besides q's own.
func hiddenMetrics(q *Query) []string {
	var out []string
	need := func(m string) {
		if !slices.Contains(q.Metrics, m) && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	for _, m := range q.Metrics {
		switch m {
		case MetricBounceRate, MetricVisitDuration, MetricViewsPerVisit:
			need(MetricVisits)
		case MetricScrollDepth, MetricTimeOnPage:
			need(metricEngagedViews)
		case MetricPercentage, MetricConversionRate, MetricGroupConversionRate:
			need(MetricVisitors)
		}
	}
	return out
}

// withImports answers q for its range with imported data merged into the
// native rows, as Plausible merges them: counts add up; bounce rate,
// visit duration and views per visit are weighted by visits; scroll depth
// and time on page by the pageviews that reported them; shares and
// conversion rates are taken again over merged totals.
func (p *Planner) withImports(ctx context.Context, q *Query, native func(*Query) ([]Row, error)) ([]Row, error) {
	nq := *q
	nq.imports = nil
	hidden := hiddenMetrics(q)
	nq.Metrics = append(slices.Clone(q.Metrics), hidden...)
	rows, err := native(&nq)
	if err != nil {
		return nil, err
	}
	imp, impDims, err := p.importedRows(ctx, q)
	if err != nil {
		return nil, err
	}
	idx := func(m string) int { return slices.Index(nq.Metrics, m) }
	seen := map[string]bool{}
	n := len(q.Metrics)
	merge := func(r *Row, iv []float64) {
		nat := r.Metrics
		get := func(m string) float64 {
			if i := idx(m); i >= 0 && !math.IsNaN(nat[i]) {
				return nat[i]
			}
			return 0
		}
		nv := get(MetricVisits)
		nev := get(metricEngagedViews)
		out := make(Values, n)
		copy(out, nat[:n])
		for i, m := range q.Metrics {
			cur := get(m)
			switch m {
			case MetricVisitors:
				out[i] = cur + iv[impVisitors]
			case MetricVisits:
				out[i] = cur + iv[impVisits]
			case MetricPageviews:
				out[i] = cur + iv[impPageviews]
			case MetricEvents:
				out[i] = cur + iv[impEvents]
			case MetricBounceRate:
				out[i] = weighted(cur*nv/100+iv[impBounces], nv+iv[impRatioVisits], 100, 0)
			case MetricVisitDuration:
				out[i] = weighted(cur*nv+iv[impDuration], nv+iv[impRatioVisits], 1, 0)
			case MetricViewsPerVisit:
				out[i] = weighted(cur*nv+iv[impPageviews], nv+iv[impViewVisits], 1, 2)
			case MetricScrollDepth:
				out[i] = engagedMerge(cur*nev+iv[impScroll], nev+iv[impScrollVisits], 1)
			case MetricTimeOnPage:
				out[i] = engagedMerge(cur*nev+iv[impTime], nev+iv[impTimeVisits], 1)
			}
		}
		// The internal figures the merged row keeps for the shares below.
		r.Metrics = append(out, get(MetricVisitors)+iv[impVisitors])
	}
	for i := range rows {
		k := key(rows[i].Dimensions)
		seen[k] = true
		iv := imp[k]
		if iv == nil {
			iv = make([]float64, impColumns)
		}
		merge(&rows[i], iv)
	}
	for k, iv := range imp {
		if seen[k] {
			continue
		}
		r := Row{Dimensions: impDims[k], Metrics: newMetrics(&nq)}
		for i := range r.Metrics {
			if !math.IsNaN(r.Metrics[i]) {
				r.Metrics[i] = 0
			}
		}
		merge(&r, iv)
		rows = append(rows, r)
	}
	if len(q.Dimensions) == 0 && len(rows) > 1 {
		rows = rows[:1]
	}
	if err := p.sharesWithImports(ctx, q, rows); err != nil {
		return nil, err
	}
	for i := range rows {
		rows[i].Metrics = rows[i].Metrics[:n]
	}
	return rows, nil
}

// sharesWithImports sets percentages and conversion rates over totals
// that include imported data. Each row's last value is its merged
// visitors.
func (p *Planner) sharesWithImports(ctx context.Context, q *Query, rows []Row) error {
	total := func(fs []Filter, dims []string) (map[string]float64, error) {
		sub := *q
		sub.Filters, sub.Dimensions, sub.Metrics = fs, dims, []string{MetricVisitors}
		sub.OrderBy, sub.Limit, sub.Offset, sub.Compare = nil, math.MaxInt32, 0, false
		sub.imports = nil
		if plan := *q.imports; true {
			if tables := decideImportTables(&sub); len(tables) > 0 {
				sub.imports = &importPlan{ids: plan.ids, tables: tables}
			}
		}
		rs, err := p.period(ctx, &sub, sub.From, sub.To)
		if err != nil {
			return nil, err
		}
		out := map[string]float64{}
		for _, r := range rs {
			out[key(r.Dimensions)] = r.Metrics[0]
		}
		return out, nil
	}
	for i, m := range q.Metrics {
		var base map[string]float64
		var err error
		perGroup := false
		switch m {
		case MetricPercentage:
			base, err = total(q.Filters, nil)
		case MetricConversionRate:
			base, err = total(withoutGoals(q.Filters), nil)
		case MetricGroupConversionRate:
			var dims []string
			for _, d := range q.Dimensions {
				if d != "event:goal" {
					dims = append(dims, d)
				}
			}
			base, err = total(withoutGoals(q.Filters), dims)
			perGroup = true
		default:
			continue
		}
		if err != nil {
			return err
		}
		gi := slices.Index(q.Dimensions, "event:goal")
		for j := range rows {
			v := rows[j].Metrics[len(rows[j].Metrics)-1]
			k := ""
			if perGroup {
				d := slices.Clone(rows[j].Dimensions)
				if gi >= 0 {
					d = slices.Delete(d, gi, gi+1)
				}
				k = key(d)
			}
			digits := 2
			if m != MetricConversionRate {
				digits = 1
			}
			rows[j].Metrics[i] = ratio(v, base[k], 100, digits)
		}
	}
	return nil
}

// weighted is a/b scaled and rounded, 0 without b.
func weighted(a, b, scale float64, digits int) float64 {
	if b <= 0 {
		return 0
	}
	return ratio(a, b, scale, digits)
}

// engagedMerge is a/b rounded, no value (NaN) without b.
func engagedMerge(a, b, scale float64) float64 {
	if b <= 0 {
		return math.NaN()
	}
	return math.Round(a / b * scale)
}
