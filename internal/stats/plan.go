package stats

import (
	"context"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/imported"
	"waymark.dev/waymark/internal/site"
)

// Dialect is what differs between the SQL engines the query model compiles
// to (DuckDB, ClickHouse). Both keep the same tables and column names:
// events and sessions, documented in each adapter's migrations.
type Dialect interface {
	// Quote returns a string literal.
	Quote(s string) string
	// Time returns a timestamp literal for a UTC instant.
	Time(t time.Time) string
	// AddSeconds shifts a timestamp expression by an integer expression
	// of seconds (the planner turns UTC into local time this way, with the
	// zone's offsets for the range, which is much cheaper than a zone
	// conversion per row).
	AddSeconds(ts, seconds string) string
	// Bucket truncates a (local) timestamp expression to the start of its
	// hour, day, ISO week (Monday) or month.
	Bucket(unit, ts string) string
	// FormatBucket formats a truncated timestamp as "2006-01-02", or
	// "2006-01-02 15:00:00" for hours. It is applied to grouped rows only.
	FormatBucket(unit, ts string) string
	// Contains and Regex test a string expression.
	Contains(expr, sub string, caseSensitive bool) string
	Regex(expr, pattern string, caseSensitive bool) string
	// Seconds returns the whole seconds from timestamp a to timestamp b.
	Seconds(a, b string) string
	// Lower lower-cases a string expression.
	Lower(expr string) string
	// PropValue returns the value of event property key of the row with
	// the given table alias, "" when absent.
	PropValue(alias, key string) string
	// CountDistinct counts distinct values exactly.
	CountDistinct(expr string) string
	// ToFloat and ToString cast for the result columns.
	ToFloat(expr string) string
	ToString(expr string) string
	// VisitorDay extracts the local day number from a visitor id
	// expression (its top 16 bits, see DayVisitorID).
	VisitorDay(expr string) string
}

// Runner runs a SELECT whose first ndims columns are strings and whose
// remaining columns are numbers (NULL read as 0).
type Runner interface {
	Rows(ctx context.Context, sql string, ndims int) ([]RawRow, error)
}

// RawRow is one row read by a Runner.
type RawRow struct {
	Dims []string
	Vals []float64
}

// Planner compiles queries to SQL and combines the results.
type Planner struct {
	D Dialect
	R Runner
	// Rollups, when set, are the store's daily rollup marks (see
	// RollupBuilder); queries they can answer read the rollup tables for
	// built days.
	Rollups RollupMarks
	// Parallel is how many queries of a QueryAll batch run at once
	// (0: one per processor).
	Parallel int
	// Imports lists a site's imports (nil: the store keeps none); queries
	// with IncludeImports read the imported tables of complete ones.
	Imports ImportLister
}

var dimColumns = map[string]string{
	"visit:entry_page": "entry_page", "visit:exit_page": "exit_page", "visit:source": "referrer_source",
	"visit:channel": "channel", "visit:referrer": "referrer",
	"visit:utm_source": "utm_source", "visit:utm_medium": "utm_medium", "visit:utm_campaign": "utm_campaign",
	"visit:utm_term": "utm_term", "visit:utm_content": "utm_content",
	"visit:browser": "browser", "visit:browser_version": "browser_version", "visit:os": "os",
	"visit:os_version": "os_version", "visit:device": "device", "visit:screen": "screen_class",
	"visit:language": "language", "visit:hostname": "hostname",
	"visit:entry_page_hostname": "hostname", "visit:exit_page_hostname": "exit_hostname",
	"visit:country": "country", "visit:region": "region", "visit:city": "city",
	"visit:country_name": "country_name", "visit:region_name": "region_name", "visit:city_name": "city_name",
	"event:page": "pathname", "event:name": "name", "event:hostname": "hostname",
}

func isEventDim(d string) bool {
	return strings.HasPrefix(d, "event:")
}

func isTimeDim(d string) bool { return d == "time" || strings.HasPrefix(d, "time:") }

// noneValue is what an empty value of a dimension shows as.
func noneValue(d string) string {
	switch {
	case strings.HasPrefix(d, "event:props:"):
		return "(none)"
	case d == "visit:referrer" || d == "visit:source":
		return analytics.SourceDirect
	}
	return "(not set)"
}

type metricGroup int

const (
	groupEvents metricGroup = iota
	groupSessions
	groupEngagement
	groupRevenue
)

func groupOf(m string) metricGroup {
	if d := metricByName[m]; d != nil {
		return d.group
	}
	return groupEvents
}

type memoKey struct{}

// rows runs a query once per Query call: panels of one request often need
// the same totals.
func (p *Planner) rows(ctx context.Context, sql string, ndims int) ([]RawRow, error) {
	m, _ := ctx.Value(memoKey{}).(*memo)
	if m == nil {
		return p.R.Rows(ctx, sql, ndims)
	}
	return m.get(sql, func() ([]RawRow, error) { return p.R.Rows(ctx, sql, ndims) })
}

// memo holds a request's query results by SQL, so that queries of one
// batch share what they have in common. Queries running at once that
// need the same SQL run it once: the later ones wait for the first.
// Results are shared, never modified.
type memo struct {
	mu sync.Mutex
	m  map[string]*memoEntry
	// imports are the sites' import lists, read once per request.
	importsMu sync.Mutex
	imports   map[string][]imported.Import
}

type memoEntry struct {
	done chan struct{}
	rows []RawRow
	err  error
}

func newMemo() *memo {
	return &memo{m: map[string]*memoEntry{}, imports: map[string][]imported.Import{}}
}

// get returns the result for sql, running fetch if no one has.
func (m *memo) get(sql string, fetch func() ([]RawRow, error)) ([]RawRow, error) {
	m.mu.Lock()
	if e, ok := m.m[sql]; ok {
		m.mu.Unlock()
		<-e.done
		return e.rows, e.err
	}
	e := &memoEntry{done: make(chan struct{})}
	m.m[sql] = e
	m.mu.Unlock()
	rows, err := fetch()
	m.fill(sql, e, rows, err) // a failure is not kept: a later query may try again
	return rows, err
}

// reserve makes a pending entry for sql, which the caller then fills,
// unless the memo already has one.
func (m *memo) reserve(sql string) (*memoEntry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.m[sql]; ok {
		return nil, false
	}
	e := &memoEntry{done: make(chan struct{})}
	m.m[sql] = e
	return e, true
}

// reserveAll reserves the memo entries of keys (dimension -> SQL) that
// no one has yet.
func (m *memo) reserveAll(keys map[string]string) map[string]*memoEntry {
	entries := map[string]*memoEntry{}
	for d, k := range keys {
		if e, ok := m.reserve(k); ok {
			entries[d] = e
		}
	}
	return entries
}

// fill completes a reserved entry; a failure is not kept.
func (m *memo) fill(sql string, e *memoEntry, rows []RawRow, err error) {
	e.rows, e.err = rows, err
	close(e.done)
	if err != nil {
		m.mu.Lock()
		delete(m.m, sql)
		m.mu.Unlock()
	}
}

// Query answers q.
func (p *Planner) Query(ctx context.Context, q *Query) (*Result, error) {
	return p.query(context.WithValue(ctx, memoKey{}, newMemo()), q)
}

// QueryAll answers several queries as one request, such as the panels of
// a dashboard: what they share (the range's built days, totals, the raw
// figures of today) is computed once, and the visit panels' rollups and
// raw figures are read in one pass each (see prefetch).
//
// Up to Parallel queries (default: one per processor) run at once: most of
// a dashboard's queries are small, and one of them alone keeps a core
// busy only part of the time (reading the answer into Go, merging).
func (p *Planner) QueryAll(ctx context.Context, qs []*Query) ([]*Result, error) {
	ctx = context.WithValue(ctx, memoKey{}, newMemo())
	prefetched, err := p.prefetch(ctx, qs)
	if err != nil {
		return nil, err
	}
	out := make([]*Result, len(qs))
	errs := make([]error, len(qs))
	workers := p.Parallel
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(qs)) {
		wg.Go(func() {
			for i := range next {
				out[i], errs[i] = p.query(ctx, qs[i])
			}
		})
	}
	for i := range qs {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := prefetched(); err != nil {
		return nil, err
	}
	for _, err := range errs {
		if err != nil {
			return nil, err // the first query's failure, as one at a time would give
		}
	}
	return out, nil
}

func (p *Planner) query(ctx context.Context, q *Query) (*Result, error) {
	var skip string
	if q.IncludeImports || q.ImportsMeta {
		plan, reason, err := p.decideImports(ctx, q)
		if err != nil {
			return nil, err
		}
		skip = reason
		if q.IncludeImports && plan != nil {
			withPlan := *q
			withPlan.imports = plan
			q = &withPlan
		}
	}
	if q.NoGoals {
		return &Result{Rows: []Row{}, ImportsSkipReason: skip}, nil // a goal breakdown of a site without goals
	}
	rows, err := p.period(ctx, q, q.From, q.To)
	if err != nil {
		return nil, err
	}
	if q.Compare {
		sh := previousPeriod(q)
		from, to := sh.apply(q.From, -1), q.From
		if !q.CompareFrom.IsZero() {
			from, to = q.CompareFrom, q.CompareTo
			sh = shiftBetween(q, from)
		}
		prev, err := p.period(ctx, q, from, to)
		if err != nil {
			return nil, err
		}
		if len(q.Dimensions) == 1 && isTimeDim(q.Dimensions[0]) {
			// As Plausible: a time series compared has every bucket, so that
			// each lines up with its counterpart.
			rows = fillTimeBuckets(q, rows)
		}
		attachComparison(q, rows, prev, sh)
		weekStarts(q, rows, from)
	} else {
		weekStarts(q, rows, time.Time{})
	}
	sortRows(q, rows)
	res := &Result{TotalRows: len(rows), ImportsIncluded: q.imports != nil, ImportsSkipReason: skip}
	if q.Offset < len(rows) {
		rows = rows[q.Offset:]
	} else {
		rows = nil
	}
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
	}
	res.Rows = rows
	res.MetricWarnings = revenueWarnings(q)
	if q.TimeLabels {
		res.TimeLabels = TimeLabels(q.TimeDimension(), q.From, q.To, q.Location)
	}
	return res, nil
}

// period computes every metric of q for [from, to), one row per
// dimension combination.
func (p *Planner) period(ctx context.Context, q *Query, from, to time.Time) ([]Row, error) {
	sub := *q
	sub.From, sub.To = from, to
	if sub.imports != nil {
		return p.withImports(ctx, &sub, func(nq *Query) ([]Row, error) { return p.nativePeriod(ctx, nq) })
	}
	return p.nativePeriod(ctx, &sub)
}

// nativePeriod is period over native events only.
func (p *Planner) nativePeriod(ctx context.Context, q *Query) ([]Row, error) {
	sub := *q
	if slices.Contains(q.Dimensions, "event:goal") {
		if rows, ok, err := p.goalsFromRollups(ctx, &sub); ok || err != nil {
			return rows, err
		}
		return p.byGoal(ctx, &sub)
	}
	return p.compute(ctx, &sub)
}

// byGoal answers a query with the event:goal dimension goal by goal.
func (p *Planner) byGoal(ctx context.Context, q *Query) ([]Row, error) {
	gi := slices.Index(q.Dimensions, "event:goal")
	rest := slices.Delete(slices.Clone(q.Dimensions), gi, gi+1)
	var out []Row
	for _, g := range q.Site.Goals {
		if !goalAllowed(q.Filters, g.Name()) {
			continue
		}
		sub := *q
		sub.Dimensions = rest
		sub.Filters = append(slices.Clone(q.Filters), Filter{Op: "is", Dimension: "event:goal", Values: []string{g.Name()}, CaseSensitive: true})
		rows, err := p.compute(ctx, &sub)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if metricZero(r) {
				continue
			}
			r.Dimensions = slices.Insert(r.Dimensions, gi, g.Name())
			out = append(out, r)
		}
	}
	return out, nil
}

// goalAllowed applies top-level goal filters to the list of goals so that
// filtering by a goal and breaking down by goal agree.
func goalAllowed(fs []Filter, name string) bool {
	for _, f := range fs {
		if f.Dimension != "event:goal" {
			continue
		}
		if ok := matchValue(f, name); ok != (f.Op == "is" || f.Op == "contains" || f.Op == "matches") {
			return false
		}
	}
	return true
}

func matchValue(f Filter, v string) bool {
	for _, x := range f.Values {
		switch f.Op {
		case "is", "is_not":
			if v == x || !f.CaseSensitive && strings.EqualFold(v, x) {
				return true
			}
		case "contains", "contains_not":
			if strings.Contains(v, x) || !f.CaseSensitive && strings.Contains(strings.ToLower(v), strings.ToLower(x)) {
				return true
			}
		default:
			return true
		}
	}
	return false
}

// metricZero reports a row with nothing in it: a goal nobody reached.
func metricZero(r Row) bool {
	for _, v := range r.Metrics {
		if v != 0 {
			return false
		}
	}
	return true
}

func key(d []string) string { return strings.Join(d, "\x00") }

func (p *Planner) compute(ctx context.Context, q *Query) ([]Row, error) {
	if rows, ok, err := p.fromRollups(ctx, q); ok || err != nil {
		return rows, err
	}
	need := map[metricGroup]bool{}
	for _, m := range q.Metrics {
		need[groupOf(m)] = true
	}
	if len(need) == 0 {
		need[groupEvents] = true
	}
	byKey := map[string]*Row{}
	var order []string
	get := func(dims []string) *Row {
		k := key(dims)
		r := byKey[k]
		if r == nil {
			r = &Row{Dimensions: dims, Metrics: newMetrics(q)}
			byKey[k] = r
			order = append(order, k)
		}
		return r
	}
	// Short ranges (realtime) ask who is active now: count from events,
	// not from visits that started in the range.
	visitOnly := !usesEventDims(q) && q.To.Sub(q.From) >= time.Hour
	if visitOnly && (need[groupEvents] || need[groupSessions]) {
		// Everything but engagement comes from one scan of the sessions
		// table, several times smaller than the events table.
		need[groupEvents], need[groupSessions] = false, false
		raws, err := p.rows(ctx, p.visitSQL(q, q.Dimensions), len(q.Dimensions))
		if err != nil {
			return nil, err
		}
		var total float64
		if slices.Contains(q.Metrics, MetricPercentage) {
			t, err := p.rows(ctx, p.visitSQL(q, nil), 0)
			if err != nil {
				return nil, err
			}
			if len(t) > 0 {
				total = t[0].Vals[0]
			}
		}
		for _, raw := range raws {
			if raw.Vals[1] <= 0 {
				continue
			}
			r := get(p.display(q, raw.Dims))
			visitMetrics(q, r.Metrics, raw.Vals, total)
		}
	}
	if need[groupEvents] {
		raws, err := p.rows(ctx, p.eventSQL(q, q.Filters, q.Dimensions), len(q.Dimensions))
		if err != nil {
			return nil, err
		}
		var total, goalBase float64
		var groups map[string]float64
		if slices.Contains(q.Metrics, MetricPercentage) {
			if total, err = p.totalVisitors(ctx, q, q.Filters); err != nil {
				return nil, err
			}
		}
		if slices.Contains(q.Metrics, MetricConversionRate) {
			if goalBase, err = p.totalVisitors(ctx, q, withoutGoals(q.Filters)); err != nil {
				return nil, err
			}
		}
		if slices.Contains(q.Metrics, MetricGroupConversionRate) {
			if groups, err = p.groupVisitors(ctx, q); err != nil {
				return nil, err
			}
		}
		for _, raw := range raws {
			r := get(p.display(q, raw.Dims))
			setMetrics(q, r.Metrics, eventFigures(raw.Vals, total, goalBase, groups[key(raw.Dims)]), inGroup(groupEvents))
		}
	}
	if need[groupSessions] {
		raws, err := p.rows(ctx, p.sessionSQL(q), len(q.Dimensions))
		if err != nil {
			return nil, err
		}
		for _, raw := range raws {
			visits := raw.Vals[0]
			if visits <= 0 {
				continue
			}
			r := get(p.display(q, raw.Dims))
			setMetrics(q, r.Metrics, sessionFigures(raw.Vals), inGroup(groupSessions))
		}
	}
	if need[groupEngagement] {
		raws, err := p.rows(ctx, p.engagementSQL(q), len(q.Dimensions))
		if err != nil {
			return nil, err
		}
		for _, raw := range raws {
			r := get(p.display(q, raw.Dims))
			setMetrics(q, r.Metrics, engagementFigures(raw.Vals), inGroup(groupEngagement))
		}
	}
	if need[groupRevenue] {
		if goals, cur := revenueScope(q); cur != "" {
			raws, err := p.rows(ctx, p.revenueSQL(q, goals, cur), len(q.Dimensions))
			if err != nil {
				return nil, err
			}
			for _, raw := range raws {
				r := get(p.display(q, raw.Dims))
				setMetrics(q, r.Metrics, Figures{RevenueMilli: raw.Vals[0], RevenueEvents: raw.Vals[1]}, inGroup(groupRevenue))
				r.Currency = cur
			}
		}
	}
	if eq, metrics := entryPageQuery(q); eq != nil {
		// As Plausible: under a page filter the bounce rate, and in a
		// breakdown by page the bounce rate and visit duration, are those
		// of the visits that entered on the page.
		raws, err := p.rows(ctx, p.visitSQL(eq, eq.Dimensions), len(eq.Dimensions))
		if err != nil {
			return nil, err
		}
		figs := map[string]Figures{}
		for _, raw := range raws {
			figs[key(p.display(q, raw.Dims))] = visitFigures(raw.Vals, 0)
		}
		for k, r := range byKey {
			for _, i := range metrics {
				r.Metrics[i] = metricByName[q.Metrics[i]].Value(figs[k])
			}
		}
	}
	out := make([]Row, 0, len(order))
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	if len(q.Dimensions) == 0 && len(out) == 0 {
		out = append(out, Row{Dimensions: []string{}, Metrics: newMetrics(q)})
	}
	return out, nil
}

// revenueGoals are the revenue goals q's top-level goal filters select,
// or with an event:goal dimension every revenue goal they allow; none
// without a goal filter or dimension.
func revenueGoals(q *Query) []site.Goal {
	if !slices.Contains(q.Dimensions, "event:goal") && !hasTopGoalFilter(q.Filters) {
		return nil
	}
	var out []site.Goal
	for _, g := range q.Site.Goals {
		if g.Currency != "" && goalAllowed(q.Filters, g.Name()) {
			out = append(out, g)
		}
	}
	return out
}

func hasTopGoalFilter(fs []Filter) bool {
	return slices.ContainsFunc(fs, func(f Filter) bool { return f.Dimension == "event:goal" })
}

// revenueScope is what a query's revenue metrics sum: the revenue goals
// it selects and their one currency ("" when they have none or several;
// the metrics are then null).
func revenueScope(q *Query) ([]site.Goal, string) {
	goals := revenueGoals(q)
	cur := ""
	for _, g := range goals {
		if cur != "" && g.Currency != cur {
			return nil, ""
		}
		cur = g.Currency
	}
	return goals, cur
}

// MetricWarning explains a metric without values, as Plausible's
// meta.metric_warnings does.
type MetricWarning struct {
	Code    string `json:"code"`
	Warning string `json:"warning"`
}

// revenueWarnings are the warnings of q's revenue metrics, worded as
// Plausible's.
func revenueWarnings(q *Query) map[string]MetricWarning {
	var w *MetricWarning
	goals := revenueGoals(q)
	switch {
	case !slices.ContainsFunc(q.Metrics, func(m string) bool { return groupOf(m) == groupRevenue }):
		return nil
	case len(goals) == 0:
		w = &MetricWarning{Code: "no_revenue_goals_matching", Warning: "Revenue metrics are null as there are no matching revenue goals."}
	case !slices.Contains(q.Dimensions, "event:goal"):
		if _, cur := revenueScope(q); cur == "" {
			w = &MetricWarning{Code: "no_single_revenue_currency", Warning: "Revenue metrics are null as there are multiple currencies for the selected event:goals."}
		}
	}
	if w == nil {
		return nil
	}
	out := map[string]MetricWarning{}
	for _, m := range q.Metrics {
		if groupOf(m) == groupRevenue {
			out[m] = *w
		}
	}
	return out
}

// entryPageQuery is q as Plausible answers its entry-page metrics: the
// event:page dimension and top-level event:page filters made
// visit:entry_page ones. It returns nil when q has neither, or has other
// event dimensions, and otherwise the indexes of the metrics it answers:
// the bounce rate, and with the page dimension the visit duration.
func entryPageQuery(q *Query) (*Query, []int) {
	byPage := slices.Contains(q.Dimensions, "event:page")
	var fs []Filter
	filtered := false
	for _, f := range q.Filters {
		if f.Dimension == "event:page" {
			f.Dimension = "visit:entry_page"
			filtered = true
		}
		fs = append(fs, f)
	}
	if !byPage && !filtered {
		return nil, nil
	}
	dims := slices.Clone(q.Dimensions)
	for i, d := range dims {
		if d == "event:page" {
			dims[i] = "visit:entry_page"
		} else if isEventDim(d) {
			return nil, nil
		}
	}
	var metrics []int
	for i, m := range q.Metrics {
		if m == MetricBounceRate || m == MetricVisitDuration && byPage {
			metrics = append(metrics, i)
		}
	}
	if len(metrics) == 0 {
		return nil, nil
	}
	eq := *q
	eq.Filters, eq.Dimensions = fs, dims
	return &eq, metrics
}

// visitMetrics sets the visit-level metrics of a row from visitSQL's
// columns (visitFigures). total is the visitors of all groups, for
// percentages.
func visitMetrics(q *Query, out, v []float64, total float64) {
	setMetrics(q, out, visitFigures(v, total), atVisitLevel)
}

func ratio(a, b, scale float64, digits int) float64 {
	if b == 0 {
		return 0
	}
	p := math.Pow(10, float64(digits))
	return math.Round(a/b*scale*p) / p
}

// display maps stored empty values to their labels.
func (p *Planner) display(q *Query, dims []string) []string {
	out := make([]string, len(dims))
	for i, v := range dims {
		if v == "" && !isTimeDim(q.Dimensions[i]) {
			v = noneValue(q.Dimensions[i])
		}
		out[i] = v
	}
	return out
}

func (p *Planner) totalVisitors(ctx context.Context, q *Query, fs []Filter) (float64, error) {
	raws, err := p.rows(ctx, p.eventSQL(q, fs, nil), 0)
	if err != nil || len(raws) == 0 {
		return 0, err
	}
	return raws[0].Vals[0], nil
}

// groupVisitors returns visitors per dimension group without goal filters:
// the denominator of conversion rates.
func (p *Planner) groupVisitors(ctx context.Context, q *Query) (map[string]float64, error) {
	raws, err := p.rows(ctx, p.eventSQL(q, withoutGoals(q.Filters), q.Dimensions), len(q.Dimensions))
	if err != nil {
		return nil, err
	}
	m := make(map[string]float64, len(raws))
	for _, r := range raws {
		m[key(r.Dims)] = r.Vals[0]
	}
	return m, nil
}

func withoutGoals(fs []Filter) []Filter {
	var out []Filter
	for _, f := range fs {
		// As Plausible: a conversion rate's base leaves out the goal and
		// custom property filters (they select the conversions).
		if f.Dimension == "event:goal" || strings.HasPrefix(f.Dimension, "event:props:") {
			continue
		}
		if len(f.Children) > 0 {
			kids := withoutGoals(f.Children)
			if len(kids) == 0 {
				continue
			}
			f.Children = kids
		}
		out = append(out, f)
	}
	return out
}

func sortRows(q *Query, rows []Row) {
	order := q.OrderBy
	if len(order) == 0 {
		if td := slices.IndexFunc(q.Dimensions, isTimeDim); td >= 0 {
			// As Plausible: time, then the first metric within a bucket.
			order = []Order{{Field: q.Dimensions[td]}, {Field: q.Metrics[0], Desc: true}}
		} else {
			order = []Order{{Field: q.Metrics[0], Desc: true}}
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		for _, o := range order {
			var c int
			if mi := slices.Index(q.Metrics, o.Field); mi >= 0 {
				a, b := rows[i].Metrics[mi], rows[j].Metrics[mi]
				c = cmpFloat(a, b)
			} else {
				di := slices.Index(q.Dimensions, o.Field)
				c = strings.Compare(rows[i].Dimensions[di], rows[j].Dimensions[di])
			}
			if c != 0 {
				return (c < 0) != o.Desc
			}
		}
		return key(rows[i].Dimensions) < key(rows[j].Dimensions)
	})
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// shift moves times by whole local days (ranges of whole days, so that a
// previous period across a DST change still starts at midnight) or by a
// duration.
type shift struct {
	days int
	span time.Duration
	loc  *time.Location
}

// previousPeriod is the shift from q's range to the one before it.
func previousPeriod(q *Query) shift {
	loc := q.Location
	if loc == nil {
		loc = time.UTC
	}
	if localMidnight(q.From, loc).Equal(q.From) && localMidnight(q.To, loc).Equal(q.To) {
		days := 0
		for d := q.From.In(loc); d.Before(q.To); d = d.AddDate(0, 0, 1) {
			days++
		}
		return shift{days: days, loc: loc}
	}
	return shift{span: q.To.Sub(q.From), loc: loc}
}

// shiftBetween is the shift from a comparison range starting at from to
// q's range: whole local days when both start at midnight.
func shiftBetween(q *Query, from time.Time) shift {
	loc := q.Location
	if loc == nil {
		loc = time.UTC
	}
	if localMidnight(q.From, loc).Equal(q.From) && localMidnight(from, loc).Equal(from) {
		days := 0
		for d := from.In(loc); d.Before(q.From); d = d.AddDate(0, 0, 1) {
			days++
		}
		for d := q.From.In(loc); d.Before(from); d = d.AddDate(0, 0, 1) {
			days-- // a comparison after the range
		}
		return shift{days: days, loc: loc}
	}
	return shift{span: q.From.Sub(from), loc: loc}
}

// apply moves t by the shift, times sign (-1: back).
func (s shift) apply(t time.Time, sign int) time.Time {
	if s.days != 0 {
		return t.In(s.loc).AddDate(0, 0, sign*s.days).UTC()
	}
	return t.Add(time.Duration(sign) * s.span)
}

func attachComparison(q *Query, cur, prev []Row, sh shift) {
	td := slices.IndexFunc(q.Dimensions, isTimeDim)
	unit := strings.TrimPrefix(q.TimeDimension(), "time:")
	byKey := make(map[string]Row, len(prev))
	for _, r := range prev {
		dims := r.Dimensions
		if td >= 0 {
			dims = slices.Clone(dims)
			dims[td] = shiftLabel(dims[td], unit, sh, q.Location, 1)
		}
		byKey[key(dims)] = r
	}
	for i := range cur {
		p, ok := byKey[key(cur[i].Dimensions)]
		c := &Comparison{Dimensions: cur[i].Dimensions, Metrics: newMetrics(q), Change: make(Values, len(q.Metrics))}
		if ok {
			c.Dimensions = p.Dimensions
			copy(c.Metrics, p.Metrics)
		} else if td >= 0 {
			c.Dimensions = slices.Clone(c.Dimensions)
			c.Dimensions[td] = shiftLabel(c.Dimensions[td], unit, sh, q.Location, -1)
		}
		for j, m := range q.Metrics {
			c.Change[j] = change(m, cur[i].Metrics[j], c.Metrics[j])
		}
		cur[i].Comparison = c
	}
}

// change is the percentage change, or for rates the difference in points.
// change is a comparison's change as Plausible gives it: rates of visits
// (bounce rate, conversion rate) in points, everything else (the
// percentage of visitors included) in percent of the previous value,
// rounded to a whole number; from 0 to something is 100.
func change(metric string, cur, prev float64) float64 {
	if metric == MetricBounceRate || metric == MetricConversionRate || metric == MetricGroupConversionRate {
		return math.Round((cur-prev)*10) / 10
	}
	if prev == 0 {
		if cur == 0 {
			return 0
		}
		return 100
	}
	return math.Round((cur - prev) / prev * 100)
}

const (
	labelDay  = "2006-01-02"
	labelHour = "2006-01-02 15:04:05"
)

func bucketStart(t time.Time, unit string, loc *time.Location) time.Time {
	t = t.In(loc)
	switch unit {
	case "hour":
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), 0, 0, 0, loc)
	case "week":
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
		return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
	case "month":
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
}

func formatLabel(t time.Time, unit string) string {
	if unit == "hour" {
		return t.Format(labelHour)
	}
	return t.Format(labelDay)
}

// fillTimeBuckets adds an empty row for every bucket of q's time
// dimension that rows lack, and returns them in time order.
func fillTimeBuckets(q *Query, rows []Row) []Row {
	have := make(map[string]bool, len(rows))
	for _, r := range rows {
		have[r.Dimensions[0]] = true
	}
	labels := TimeLabels(q.TimeDimension(), q.From, q.To, q.Location)
	if q.TimeDimension() == "time:week" && len(labels) > 0 {
		// Rows are labelled by Monday until weekStarts relabels them.
		labels[0] = formatLabel(bucketStart(q.From, "week", q.Location), "week")
	}
	for _, l := range labels {
		if !have[l] {
			rows = append(rows, Row{Dimensions: []string{l}, Metrics: newMetrics(q)})
		}
	}
	slices.SortFunc(rows, func(a, b Row) int { return strings.Compare(a.Dimensions[0], b.Dimensions[0]) })
	return rows
}

// shiftLabel moves a bucket's label by the shift, times sign.
func shiftLabel(label, unit string, sh shift, loc *time.Location, sign int) string {
	layout := labelDay
	if unit == "hour" {
		layout = labelHour
	}
	t, err := time.ParseInLocation(layout, label, loc)
	if err != nil {
		return label
	}
	return formatLabel(bucketStart(sh.apply(t, sign), unit, loc), unit)
}

// weekStarts labels time:week buckets as Plausible does: by their Monday,
// except the first, which starts on the range's first day (a range from a
// Sunday has that Sunday, then the Mondays). prevFrom is the previous
// period's start, for comparisons.
func weekStarts(q *Query, rows []Row, prevFrom time.Time) {
	i := slices.Index(q.Dimensions, "time:week")
	if i < 0 {
		return
	}
	first := q.From.In(q.Location).Format(labelDay)
	prevFirst := prevFrom.In(q.Location).Format(labelDay)
	for r := range rows {
		if d := rows[r].Dimensions; d[i] < first {
			d[i] = first
		}
		if c := rows[r].Comparison; c != nil && !prevFrom.IsZero() && c.Dimensions[i] < prevFirst {
			c.Dimensions[i] = prevFirst
		}
	}
}

// TimeLabels lists every bucket of [from, to) for a time dimension; weeks
// as weekStarts labels them.
func TimeLabels(dim string, from, to time.Time, loc *time.Location) []string {
	unit := strings.TrimPrefix(dim, "time:")
	var out []string
	for t := bucketStart(from, unit, loc); t.Before(to) && len(out) < 100000; {
		if unit == "week" && t.Before(from) {
			out = append(out, from.In(loc).Format(labelDay))
			t = t.AddDate(0, 0, 7)
			continue
		}
		out = append(out, formatLabel(t, unit))
		switch unit {
		case "hour":
			t = bucketStart(t.Add(90*time.Minute), unit, loc)
		case "week":
			t = t.AddDate(0, 0, 7)
		case "month":
			t = t.AddDate(0, 1, 0)
		default:
			t = t.AddDate(0, 0, 1)
		}
	}
	return out
}
