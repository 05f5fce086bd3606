package analytics

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
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
}

var dimColumns = map[string]string{
	"visit:entry_page": "entry_page", "visit:exit_page": "exit_page", "visit:source": "referrer_source",
	"visit:channel": "channel", "visit:referrer": "referrer",
	"visit:utm_source": "utm_source", "visit:utm_medium": "utm_medium", "visit:utm_campaign": "utm_campaign",
	"visit:utm_term": "utm_term", "visit:utm_content": "utm_content",
	"visit:browser": "browser", "visit:browser_version": "browser_version", "visit:os": "os",
	"visit:os_version": "os_version", "visit:device": "device", "visit:screen": "screen_class",
	"visit:language": "language", "visit:hostname": "hostname",
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
		return SourceDirect
	}
	return "(not set)"
}

type metricGroup int

const (
	groupEvents metricGroup = iota
	groupSessions
	groupEngagement
)

func groupOf(m string) metricGroup {
	switch m {
	case MetricVisits, MetricBounceRate, MetricVisitDuration, MetricViewsPerVisit:
		return groupSessions
	case MetricTimeOnPage, MetricScrollDepth:
		return groupEngagement
	}
	return groupEvents
}

type memoKey struct{}

// rows runs a query once per Query call: panels of one request often need
// the same totals.
func (p *Planner) rows(ctx context.Context, sql string, ndims int) ([]RawRow, error) {
	memo, _ := ctx.Value(memoKey{}).(map[string][]RawRow)
	if r, ok := memo[sql]; ok {
		return r, nil
	}
	r, err := p.R.Rows(ctx, sql, ndims)
	if err == nil && memo != nil {
		memo[sql] = r
	}
	return r, err
}

// Query answers q.
func (p *Planner) Query(ctx context.Context, q *Query) (*Result, error) {
	ctx = context.WithValue(ctx, memoKey{}, map[string][]RawRow{})
	rows, err := p.period(ctx, q, q.From, q.To)
	if err != nil {
		return nil, err
	}
	if q.Compare {
		span := q.To.Sub(q.From)
		prev, err := p.period(ctx, q, q.From.Add(-span), q.From)
		if err != nil {
			return nil, err
		}
		attachComparison(q, rows, prev, span)
	}
	sortRows(q, rows)
	res := &Result{TotalRows: len(rows)}
	if q.Offset < len(rows) {
		rows = rows[q.Offset:]
	} else {
		rows = nil
	}
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
	}
	res.Rows = rows
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
	if slices.Contains(q.Dimensions, "event:goal") {
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
			if metricZero(q, r) {
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

func metricZero(q *Query, r Row) bool {
	for i, m := range q.Metrics {
		if (m == MetricVisitors || m == MetricEvents) && r.Metrics[i] != 0 {
			return false
		}
	}
	return true
}

func key(d []string) string { return strings.Join(d, "\x00") }

func (p *Planner) compute(ctx context.Context, q *Query) ([]Row, error) {
	need := map[metricGroup]bool{}
	for _, m := range q.Metrics {
		need[groupOf(m)] = true
	}
	if len(need) == 0 {
		need[groupEvents] = true
	}
	byKey := map[string]*Row{}
	var order []string
	visitOnly := !usesEventDims(q)
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
			v := raw.Vals // visitors, visits, bounces, duration, pageviews, events
			if v[1] <= 0 {
				continue
			}
			k := key(p.display(q, raw.Dims))
			r := byKey[k]
			if r == nil {
				r = &Row{Dimensions: p.display(q, raw.Dims), Metrics: make([]float64, len(q.Metrics))}
				byKey[k] = r
				order = append(order, k)
			}
			for i, m := range q.Metrics {
				switch m {
				case MetricVisitors:
					r.Metrics[i] = v[0]
				case MetricVisits:
					r.Metrics[i] = v[1]
				case MetricBounceRate:
					r.Metrics[i] = ratio(v[2], v[1], 100, 0)
				case MetricVisitDuration:
					r.Metrics[i] = ratio(v[3], v[1], 1, 0)
				case MetricPageviews:
					r.Metrics[i] = v[4]
				case MetricViewsPerVisit:
					r.Metrics[i] = ratio(v[4], v[1], 1, 2)
				case MetricEvents:
					r.Metrics[i] = v[4] + v[5]
				case MetricPercentage:
					r.Metrics[i] = ratio(v[0], total, 100, 1)
				}
			}
		}
	}
	get := func(dims []string) *Row {
		k := key(dims)
		r := byKey[k]
		if r == nil {
			r = &Row{Dimensions: dims, Metrics: make([]float64, len(q.Metrics))}
			byKey[k] = r
			order = append(order, k)
		}
		return r
	}
	if need[groupEvents] {
		raws, err := p.rows(ctx, p.eventSQL(q, q.Filters, q.Dimensions), len(q.Dimensions))
		if err != nil {
			return nil, err
		}
		var total float64
		var totals map[string]float64
		if slices.Contains(q.Metrics, MetricPercentage) {
			if total, err = p.totalVisitors(ctx, q, q.Filters); err != nil {
				return nil, err
			}
		}
		if slices.Contains(q.Metrics, MetricConversionRate) {
			if totals, err = p.groupVisitors(ctx, q); err != nil {
				return nil, err
			}
		}
		for _, raw := range raws {
			r := get(p.display(q, raw.Dims))
			visitors := raw.Vals[0]
			for i, m := range q.Metrics {
				switch m {
				case MetricVisitors:
					r.Metrics[i] = visitors
				case MetricPageviews:
					r.Metrics[i] = raw.Vals[1]
				case MetricEvents:
					r.Metrics[i] = raw.Vals[2]
				case MetricPercentage:
					r.Metrics[i] = ratio(visitors, total, 100, 1)
				case MetricConversionRate:
					r.Metrics[i] = ratio(visitors, totals[key(raw.Dims)], 100, 2)
				}
			}
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
			for i, m := range q.Metrics {
				switch m {
				case MetricVisits:
					r.Metrics[i] = visits
				case MetricBounceRate:
					r.Metrics[i] = ratio(raw.Vals[1], visits, 100, 0)
				case MetricVisitDuration:
					r.Metrics[i] = ratio(raw.Vals[2], visits, 1, 0)
				case MetricViewsPerVisit:
					r.Metrics[i] = ratio(raw.Vals[3], visits, 1, 2)
				}
			}
		}
	}
	if need[groupEngagement] {
		raws, err := p.rows(ctx, p.engagementSQL(q), len(q.Dimensions))
		if err != nil {
			return nil, err
		}
		for _, raw := range raws {
			r := get(p.display(q, raw.Dims))
			for i, m := range q.Metrics {
				switch m {
				case MetricTimeOnPage:
					r.Metrics[i] = math.Round(raw.Vals[0] / 1000)
				case MetricScrollDepth:
					r.Metrics[i] = math.Round(raw.Vals[1])
				}
			}
		}
	}
	out := make([]Row, 0, len(order))
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	if len(q.Dimensions) == 0 && len(out) == 0 {
		out = append(out, Row{Dimensions: []string{}, Metrics: make([]float64, len(q.Metrics))})
	}
	return out, nil
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
		if f.Dimension == "event:goal" {
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

// ---- SQL ----

type sqlCtx int

const (
	onEvents sqlCtx = iota
	onSessions
)

func (p *Planner) dimExpr(q *Query, d string, c sqlCtx, alias string) string {
	if isTimeDim(d) {
		col := alias + ".ts"
		if c == onSessions {
			col = alias + ".start_ts"
		}
		unit := strings.TrimPrefix(q.TimeDimension(), "time:")
		return p.D.Bucket(unit, p.localTime(q, col))
	}
	if k, ok := strings.CutPrefix(d, "event:props:"); ok {
		return p.D.PropValue(alias, k)
	}
	return alias + "." + dimColumns[d]
}

func (p *Planner) rangeCond(q *Query, alias, col string, slack time.Duration) string {
	return fmt.Sprintf("%s.site = %s AND %s.%s >= %s AND %s.%s < %s", alias, p.D.Quote(q.Site.Domain),
		alias, col, p.D.Time(q.From), alias, col, p.D.Time(q.To.Add(slack)))
}

// leaf compiles one comparison of expr.
func (p *Planner) leaf(f Filter, expr string) string {
	vals := f.Values
	neg := strings.HasSuffix(f.Op, "_not")
	var parts []string
	switch strings.TrimSuffix(f.Op, "_not") {
	case "is":
		e := expr
		qs := make([]string, len(vals))
		for i, v := range vals {
			if v == noneValue(f.Dimension) || v == "(not set)" || v == "(none)" {
				v = ""
			}
			if !f.CaseSensitive {
				v = strings.ToLower(v)
			}
			qs[i] = p.D.Quote(v)
		}
		if !f.CaseSensitive {
			e = p.D.Lower(expr)
		}
		parts = append(parts, e+" IN ("+strings.Join(qs, ", ")+")")
	case "contains":
		for _, v := range vals {
			parts = append(parts, p.D.Contains(expr, v, f.CaseSensitive))
		}
	case "matches":
		for _, v := range vals {
			parts = append(parts, p.D.Regex(expr, v, f.CaseSensitive))
		}
	}
	c := "(" + strings.Join(parts, " OR ") + ")"
	if neg {
		c = "NOT " + c
	}
	return c
}

func (p *Planner) goalCond(q *Query, f Filter, alias string) string {
	var parts []string
	for _, g := range q.Site.Goals {
		if !matchValue(Filter{Op: strings.TrimSuffix(f.Op, "_not"), Values: f.Values, CaseSensitive: f.CaseSensitive}, g.Name()) {
			continue
		}
		if g.Event != "" {
			parts = append(parts, fmt.Sprintf("%s.name = %s", alias, p.D.Quote(g.Event)))
			continue
		}
		page := alias + ".pathname = " + p.D.Quote(g.Page)
		if strings.Contains(g.Page, "*") {
			page = p.D.Regex(alias+".pathname", wildcardRegex(g.Page), true)
		}
		parts = append(parts, fmt.Sprintf("(%s.name = %s AND %s)", alias, p.D.Quote(EventPageview), page))
	}
	c := "FALSE"
	if len(parts) > 0 {
		c = "(" + strings.Join(parts, " OR ") + ")"
	}
	if strings.HasSuffix(f.Op, "_not") {
		c = "NOT " + c
	}
	return c
}

// wildcardRegex turns a goal path with '*' into an anchored regex.
func wildcardRegex(pat string) string {
	parts := strings.Split(pat, "*")
	for i, s := range parts {
		parts[i] = regexpQuote(s)
	}
	return "^" + strings.Join(parts, ".*") + "$"
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// filterSQL compiles a filter tree for rows of the events (alias e) or
// sessions (alias s) table. Conditions on the other table become
// membership tests on session_id.
func (p *Planner) filterSQL(q *Query, f Filter, c sqlCtx, alias string) string {
	switch f.Op {
	case "and", "or":
		parts := make([]string, len(f.Children))
		for i, k := range f.Children {
			parts[i] = p.filterSQL(q, k, c, alias)
		}
		return "(" + strings.Join(parts, " "+strings.ToUpper(f.Op)+" ") + ")"
	case "not":
		return "NOT " + p.filterSQL(q, f.Children[0], c, alias)
	}
	if c == onEvents && f.Dimension == "visit:exit_page" {
		return fmt.Sprintf("%s.session_id IN (SELECT x.session_id FROM sessions x WHERE x.site = %s AND %s GROUP BY x.session_id HAVING sum(x.sign) > 0)",
			alias, p.D.Quote(q.Site.Domain), p.leaf(f, "x.exit_page"))
	}
	if c == onSessions && isEventDim(f.Dimension) {
		var cond string
		if f.Dimension == "event:goal" {
			cond = p.goalCond(q, f, "x")
		} else {
			cond = p.leaf(f, p.dimExpr(q, f.Dimension, onEvents, "x"))
		}
		return fmt.Sprintf("%s.session_id IN (SELECT x.session_id FROM events x WHERE %s AND %s)",
			alias, p.rangeCond(q, "x", "ts", 24*time.Hour), cond)
	}
	if f.Dimension == "event:goal" {
		return p.goalCond(q, f, alias)
	}
	return p.leaf(f, p.dimExpr(q, f.Dimension, c, alias))
}

func (p *Planner) where(q *Query, fs []Filter, c sqlCtx, alias string, skip func(Filter) bool) string {
	var b strings.Builder
	for _, f := range fs {
		if skip != nil && skip(f) {
			continue
		}
		b.WriteString(" AND ")
		b.WriteString(p.filterSQL(q, f, c, alias))
	}
	return b.String()
}

// eventFrom returns the FROM clause for event rows, joining each event's
// live session when a dimension needs the session's exit page.
func (p *Planner) eventFrom(q *Query, dims []string) string {
	if slices.Contains(dims, "visit:exit_page") {
		return fmt.Sprintf("events e JOIN (SELECT x.session_id, x.exit_page FROM sessions x WHERE x.site = %s GROUP BY x.session_id, x.exit_page HAVING sum(x.sign) > 0) ls ON ls.session_id = e.session_id",
			p.D.Quote(q.Site.Domain))
	}
	return "events e"
}

func (p *Planner) eventDims(q *Query, dims []string) []string {
	out := make([]string, len(dims))
	for i, d := range dims {
		if d == "visit:exit_page" {
			out[i] = "ls.exit_page"
		} else {
			out[i] = p.dimExpr(q, d, onEvents, "e")
		}
	}
	return out
}

// grouped builds "SELECT formatted dims, metrics FROM (SELECT dims,
// metrics FROM from WHERE where GROUP BY dims)": rows are grouped on raw
// values and only the groups are converted to strings.
func (p *Planner) grouped(q *Query, dims, exprs []string, from, where string, metrics ...string) string {
	inner := make([]string, 0, len(exprs)+len(metrics))
	outer := make([]string, 0, len(exprs)+len(metrics))
	names := make([]string, len(exprs))
	for i, e := range exprs {
		names[i] = fmt.Sprintf("d%d", i)
		inner = append(inner, e+" AS "+names[i])
		outer = append(outer, p.formatDim(q, dims[i], names[i]))
	}
	for i, m := range metrics {
		inner = append(inner, fmt.Sprintf("%s AS m%d", m, i))
		outer = append(outer, p.D.ToFloat(fmt.Sprintf("m%d", i)))
	}
	group := ""
	if len(names) > 0 {
		group = " GROUP BY " + strings.Join(names, ", ")
	}
	return fmt.Sprintf("SELECT %s FROM (SELECT %s FROM %s WHERE %s%s) g", strings.Join(outer, ", "), strings.Join(inner, ", "), from, where, group)
}

func (p *Planner) formatDim(q *Query, dim, col string) string {
	if isTimeDim(dim) {
		return p.D.FormatBucket(strings.TrimPrefix(q.TimeDimension(), "time:"), col)
	}
	return p.D.ToString(col)
}

// localTime converts a UTC timestamp column to the site's local time with
// the zone's offsets in force around the query's range.
func (p *Planner) localTime(q *Query, col string) string {
	from, to := q.From.Add(-48*time.Hour), q.To.Add(48*time.Hour)
	if q.Compare {
		from = from.Add(-q.To.Sub(q.From))
	}
	t := from.In(q.Location)
	_, off := t.Zone()
	expr := ""
	for n := 0; n < 1000; n++ {
		_, end := t.ZoneBounds()
		if end.IsZero() || !end.Before(to) {
			break
		}
		expr += fmt.Sprintf(" WHEN %s < %s THEN %d", col, p.D.Time(end), off)
		t = end.In(q.Location)
		_, off = t.Zone()
	}
	if expr == "" {
		return p.D.AddSeconds(col, fmt.Sprint(off))
	}
	return p.D.AddSeconds(col, fmt.Sprintf("(CASE%s ELSE %d END)", expr, off))
}

// usesEventDims reports whether a query groups or filters by an
// attribute of single events.
func usesEventDims(q *Query) bool {
	if slices.ContainsFunc(q.Dimensions, isEventDim) {
		return true
	}
	var walk func([]Filter) bool
	walk = func(fs []Filter) bool {
		for _, f := range fs {
			if isEventDim(f.Dimension) || walk(f.Children) {
				return true
			}
		}
		return false
	}
	return walk(q.Filters)
}

// visitSQL selects visitors, visits, bounces, total duration, pageviews
// and custom events per group of visit attributes, from the sessions
// table alone. When the exit page (the one attribute that changes during
// a visit) is involved, each visit's live state is taken first, so that
// distinct visitors are counted under the right exit page.
func (p *Planner) visitSQL(q *Query, dims []string) string {
	from := "sessions s"
	where := p.rangeCond(q, "s", "start_ts", 0) + p.where(q, q.Filters, onSessions, "s", nil)
	usesExit := slices.Contains(dims, "visit:exit_page") || filtersUse(q.Filters, "visit:exit_page")
	if usesExit {
		cols := "x.session_id, x.visitor_id, x.exit_page, x.start_ts"
		for _, d := range dims {
			if c := dimColumns[d]; c != "" && c != "exit_page" {
				cols += ", x." + c
			}
		}
		from = fmt.Sprintf("(SELECT %s, max(x.pageviews) AS pageviews, max(x.events) AS events, max(x.end_ts) AS end_ts, 1 AS sign FROM sessions x WHERE %s GROUP BY %s HAVING sum(x.sign) > 0) s",
			cols, strings.ReplaceAll(where, "s.", "x."), cols)
		where = "TRUE"
	}
	exprs := make([]string, len(dims))
	for i, d := range dims {
		exprs[i] = p.dimExpr(q, d, onSessions, "s")
	}
	return p.grouped(q, dims, exprs, from, where,
		p.D.CountDistinct("s.visitor_id"),
		"sum(s.sign)",
		"sum(CASE WHEN s.pageviews + s.events <= 1 THEN s.sign ELSE 0 END)",
		"sum(s.sign * "+p.D.Seconds("s.start_ts", "s.end_ts")+")",
		"sum(s.sign * s.pageviews)",
		"sum(s.sign * s.events)")
}

func filtersUse(fs []Filter, dim string) bool {
	for _, f := range fs {
		if f.Dimension == dim || filtersUse(f.Children, dim) {
			return true
		}
	}
	return false
}

// eventSQL selects visitors, pageviews and events per group.
func (p *Planner) eventSQL(q *Query, fs []Filter, dims []string) string {
	where := fmt.Sprintf("%s AND e.name <> %s%s", p.rangeCond(q, "e", "ts", 0), p.D.Quote(EventEngagement), p.where(q, fs, onEvents, "e", nil))
	return p.grouped(q, dims, p.eventDims(q, dims), p.eventFrom(q, dims), where,
		p.D.CountDistinct("e.visitor_id"),
		fmt.Sprintf("sum(CASE WHEN e.name = %s THEN 1 ELSE 0 END)", p.D.Quote(EventPageview)),
		"count(*)")
}

// engagementSQL selects engaged milliseconds per pageview and mean
// maximum scroll depth per group. Filters on event names and goals do not
// apply to engagement beacons, which belong to pageviews.
func (p *Planner) engagementSQL(q *Query) string {
	exprs := p.eventDims(q, q.Dimensions)
	inner := make([]string, 0, len(exprs)+3)
	names := make([]string, len(exprs))
	outer := make([]string, 0, len(exprs)+2)
	for i, e := range exprs {
		names[i] = fmt.Sprintf("d%d", i)
		inner = append(inner, e+" AS "+names[i])
		outer = append(outer, p.formatDim(q, q.Dimensions[i], names[i]))
	}
	inner = append(inner, "sum(e.engaged_ms) AS ms", "max(e.scroll_depth) AS sd")
	skip := func(f Filter) bool { return f.Dimension == "event:name" || f.Dimension == "event:goal" }
	sql := fmt.Sprintf("SELECT %s FROM %s WHERE %s AND e.name = %s%s GROUP BY %s", strings.Join(inner, ", "), p.eventFrom(q, q.Dimensions),
		p.rangeCond(q, "e", "ts", 0), p.D.Quote(EventEngagement), p.where(q, q.Filters, onEvents, "e", skip), strings.Join(append(slices.Clone(names), "e.session_id", "e.pageview_id"), ", "))
	outer = append(outer, p.D.ToFloat("sum(t.ms) / count(*)"), p.D.ToFloat("avg(t.sd)"))
	g := ""
	if len(names) > 0 {
		g = " GROUP BY " + strings.Join(names, ", ")
	}
	return fmt.Sprintf("SELECT %s FROM (%s) t%s", strings.Join(outer, ", "), sql, g)
}

// sessionSQL selects visits, bounces, total duration and pageviews per
// group, weighted by sign.
func (p *Planner) sessionSQL(q *Query) string {
	var evDims []string
	for _, d := range q.Dimensions {
		if isEventDim(d) {
			evDims = append(evDims, d)
		}
	}
	from := "sessions s"
	exprs := make([]string, len(q.Dimensions))
	if len(evDims) > 0 {
		cols := make([]string, len(evDims))
		for i, d := range evDims {
			cols[i] = p.dimExpr(q, d, onEvents, "x") + fmt.Sprintf(" AS ed%d", i)
		}
		from += fmt.Sprintf(" JOIN (SELECT DISTINCT x.session_id, %s FROM events x WHERE %s AND x.name <> %s) ev ON ev.session_id = s.session_id",
			strings.Join(cols, ", "), p.rangeCond(q, "x", "ts", 24*time.Hour), p.D.Quote(EventEngagement))
	}
	for i, d := range q.Dimensions {
		if isEventDim(d) {
			exprs[i] = fmt.Sprintf("ev.ed%d", slices.Index(evDims, d))
		} else {
			exprs[i] = p.dimExpr(q, d, onSessions, "s")
		}
	}
	return p.grouped(q, q.Dimensions, exprs, from, p.rangeCond(q, "s", "start_ts", 0)+p.where(q, q.Filters, onSessions, "s", nil),
		"sum(s.sign)",
		"sum(CASE WHEN s.pageviews + s.events <= 1 THEN s.sign ELSE 0 END)",
		"sum(s.sign * "+p.D.Seconds("s.start_ts", "s.end_ts")+")",
		"sum(s.sign * s.pageviews)")
}

// ---- ordering and comparison ----

func sortRows(q *Query, rows []Row) {
	order := q.OrderBy
	if len(order) == 0 {
		if td := slices.IndexFunc(q.Dimensions, isTimeDim); td >= 0 {
			order = []Order{{Field: q.Dimensions[td]}}
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

func attachComparison(q *Query, cur, prev []Row, span time.Duration) {
	td := slices.IndexFunc(q.Dimensions, isTimeDim)
	unit := strings.TrimPrefix(q.TimeDimension(), "time:")
	byKey := make(map[string]Row, len(prev))
	for _, r := range prev {
		dims := r.Dimensions
		if td >= 0 {
			dims = slices.Clone(dims)
			dims[td] = shiftLabel(dims[td], unit, span, q.Location)
		}
		byKey[key(dims)] = r
	}
	for i := range cur {
		p, ok := byKey[key(cur[i].Dimensions)]
		c := &Comparison{Dimensions: cur[i].Dimensions, Metrics: make([]float64, len(q.Metrics)), Change: make([]float64, len(q.Metrics))}
		if ok {
			c.Dimensions = p.Dimensions
			copy(c.Metrics, p.Metrics)
		}
		for j, m := range q.Metrics {
			c.Change[j] = change(m, cur[i].Metrics[j], c.Metrics[j])
		}
		cur[i].Comparison = c
	}
}

// change is the percentage change, or for rates the difference in points.
func change(metric string, cur, prev float64) float64 {
	switch metric {
	case MetricBounceRate, MetricConversionRate, MetricPercentage, MetricScrollDepth:
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

func shiftLabel(label, unit string, span time.Duration, loc *time.Location) string {
	layout := labelDay
	if unit == "hour" {
		layout = labelHour
	}
	t, err := time.ParseInLocation(layout, label, loc)
	if err != nil {
		return label
	}
	return formatLabel(bucketStart(t.Add(span), unit, loc), unit)
}

// TimeLabels lists every bucket of [from, to) for a time dimension.
func TimeLabels(dim string, from, to time.Time, loc *time.Location) []string {
	unit := strings.TrimPrefix(dim, "time:")
	var out []string
	for t := bucketStart(from, unit, loc); t.Before(to) && len(out) < 100000; {
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
