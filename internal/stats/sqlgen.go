package stats

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/site"
)

// This file compiles the parts of a Query to SQL that both event stores
// accept, through their Dialect.

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
	// Stored times are whole seconds: an end within a second (realtime's
	// "now") must include that second, so it rounds up.
	to := q.To.Add(slack)
	if t := to.Truncate(time.Second); !t.Equal(to) {
		to = t.Add(time.Second)
	}
	return fmt.Sprintf("%s.site = %s AND %s.%s >= %s AND %s.%s < %s", alias, p.D.Quote(q.Site.Domain),
		alias, col, p.D.Time(q.From), alias, col, p.D.Time(to))
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
			// Labels of empty values match the stored empty value; the
			// source "Direct / None" is stored as such.
			if f.Dimension != "visit:source" && (v == noneValue(f.Dimension) || v == "(not set)" || v == "(none)") {
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
		// As in Plausible, a negative property filter matches the events
		// that have the property with another value, not those without it
		// (blank values are never stored, so present means not empty).
		if strings.HasPrefix(f.Dimension, "event:props:") {
			c = "(" + expr + " <> " + p.D.Quote("") + " AND " + c + ")"
		}
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
		parts = append(parts, fmt.Sprintf("(%s.name = %s AND %s)", alias, p.D.Quote(analytics.EventPageview), page))
	}
	c := "(1 = 0)" // no boolean literals in ClickHouse 18.16
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
		parts[i] = regexp.QuoteMeta(s)
	}
	return "^" + strings.Join(parts, ".*") + "$"
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
	case "has_done", "has_not_done":
		in := "IN"
		if f.Op == "has_not_done" {
			in = "NOT IN"
		}
		return fmt.Sprintf("%s.session_id %s (SELECT x.session_id FROM events x WHERE %s AND %s)",
			alias, in, p.rangeCond(q, "x", "ts", 24*time.Hour), p.filterSQL(q, f.Children[0], onEvents, "x"))
	}
	if col := sessionOnly[f.Dimension]; c == onEvents && col != "" {
		return fmt.Sprintf("%s.session_id IN (SELECT x.session_id FROM sessions x WHERE x.site = %s AND %s GROUP BY x.session_id HAVING sum(x.sign) > 0)",
			alias, p.D.Quote(q.Site.Domain), p.leaf(f, "x."+col))
	}
	if c == onSessions && f.Dimension == "event:hostname" {
		// As Plausible: visits are filtered by hostname where they entered.
		return p.leaf(f, alias+".hostname")
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

// EventFilters compiles q's filters for rows of the events table with
// the given alias, as " AND ..." (empty without filters): the stores'
// own event queries (the realtime list) filter as the planner does.
func (p *Planner) EventFilters(q *Query, alias string) string {
	return p.where(q, q.Filters, onEvents, alias, nil)
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

// sessionOnly are the visit dimensions that only the sessions table has
// (events carry the other visit attributes), with their columns there.
var sessionOnly = map[string]string{"visit:exit_page": "exit_page", "visit:entry_page_hostname": "hostname", "visit:exit_page_hostname": "exit_hostname"}

// eventFrom returns the FROM clause for event rows, joining each event's
// live session when a dimension needs the session's exit page or entry
// hostname.
func (p *Planner) eventFrom(q *Query, dims []string) string {
	if slices.ContainsFunc(dims, func(d string) bool { return sessionOnly[d] != "" }) {
		// USING, not ON: ClickHouse 18.16 cannot resolve the left table's
		// alias in ON when that table is Distributed (a sharded layout);
		// the session's columns get names of their own for the same
		// reason.
		return fmt.Sprintf("events e JOIN (SELECT x.session_id AS session_id, x.exit_page AS ls_exit_page, x.hostname AS ls_hostname, x.exit_hostname AS ls_exit_hostname FROM sessions x WHERE x.site = %s GROUP BY x.session_id, x.exit_page, x.hostname, x.exit_hostname HAVING sum(x.sign) > 0) ls USING (session_id)",
			p.D.Quote(q.Site.Domain))
	}
	return "events e"
}

func (p *Planner) eventDims(q *Query, dims []string) []string {
	out := make([]string, len(dims))
	for i, d := range dims {
		if col := sessionOnly[d]; col != "" {
			out[i] = "ls.ls_" + col
		} else {
			out[i] = p.dimExpr(q, d, onEvents, "e")
		}
	}
	return out
}

// grouped builds "SELECT formatted dims, metrics FROM (SELECT dims,
// metrics FROM from WHERE where GROUP BY dims)": rows are grouped on raw
// values and only the groups are converted to strings. The result columns
// are named od0.. (dimensions) and om0.. (metrics).
func (p *Planner) grouped(q *Query, dims, exprs []string, from, where string, metrics ...string) string {
	inner := make([]string, 0, len(exprs)+len(metrics))
	outer := make([]string, 0, len(exprs)+len(metrics))
	names := make([]string, len(exprs))
	for i, e := range exprs {
		names[i] = fmt.Sprintf("d%d", i)
		inner = append(inner, e+" AS "+names[i])
		outer = append(outer, p.formatDim(q, dims[i], names[i])+fmt.Sprintf(" AS od%d", i))
	}
	for i, m := range metrics {
		inner = append(inner, fmt.Sprintf("%s AS m%d", m, i))
		outer = append(outer, p.D.ToFloat(fmt.Sprintf("m%d", i))+fmt.Sprintf(" AS om%d", i))
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
// attribute of single events. A breakdown by visit attributes filtered by
// hostname is not one: as in Plausible, it counts the visits that entered
// on the host.
func usesEventDims(q *Query) bool {
	if slices.ContainsFunc(q.Dimensions, isEventDim) {
		return true
	}
	byVisit := slices.ContainsFunc(q.Dimensions, func(d string) bool { return strings.HasPrefix(d, "visit:") })
	var walk func([]Filter) bool
	walk = func(fs []Filter) bool {
		for _, f := range fs {
			if byVisit && f.Dimension == "event:hostname" {
				continue
			}
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
	usesExit := false // the exit page and its hostname change during a visit
	for _, d := range []string{"visit:exit_page", "visit:exit_page_hostname"} {
		usesExit = usesExit || slices.Contains(dims, d) || filtersUse(q.Filters, d)
	}
	if usesExit {
		cols := "x.session_id, x.visitor_id, x.exit_page, x.start_ts"
		for _, d := range dims {
			if c := dimColumns[d]; c != "" && c != "exit_page" {
				cols += ", x." + c
			}
		}
		inner := p.rangeCond(q, "x", "start_ts", 0) + p.where(q, q.Filters, onSessions, "x", nil)
		from = fmt.Sprintf("(SELECT %s, max(x.pageviews) AS pageviews, max(x.events) AS events, max(x.noninteractive) AS noninteractive, max(x.end_ts) AS end_ts, 1 AS sign FROM sessions x WHERE %s GROUP BY %s HAVING sum(x.sign) > 0) s",
			cols, inner, cols)
		where = "1 = 1"
	}
	exprs := make([]string, len(dims))
	for i, d := range dims {
		exprs[i] = p.dimExpr(q, d, onSessions, "s")
	}
	return p.grouped(q, dims, exprs, from, where,
		p.D.CountDistinct("s.visitor_id"),
		"sum(s.sign)",
		"sum(CASE WHEN s.pageviews + s.events - s.noninteractive <= 1 THEN s.sign ELSE 0 END)",
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
	where := fmt.Sprintf("%s AND e.name <> %s%s", p.rangeCond(q, "e", "ts", 0), p.D.Quote(analytics.EventEngagement), p.where(q, fs, onEvents, "e", nil))
	return p.grouped(q, dims, p.eventDims(q, dims), p.eventFrom(q, dims), where,
		p.D.CountDistinct("e.visitor_id"),
		fmt.Sprintf("sum(CASE WHEN e.name = %s THEN 1 ELSE 0 END)", p.D.Quote(analytics.EventPageview)),
		"count(*)")
}

// engagementSQL selects engaged milliseconds per engaged pageview and the
// mean maximum scroll depth per group, in one pass (see Event). Filters on
// event names and goals do not apply to engagement beacons, which belong to
// pageviews.
func (p *Planner) engagementSQL(q *Query) string {
	skip := func(f Filter) bool { return f.Dimension == "event:name" || f.Dimension == "event:goal" }
	where := fmt.Sprintf("%s AND e.name = %s%s", p.rangeCond(q, "e", "ts", 0), p.D.Quote(analytics.EventEngagement), p.where(q, q.Filters, onEvents, "e", skip))
	return p.grouped(q, q.Dimensions, p.eventDims(q, q.Dimensions), p.eventFrom(q, q.Dimensions), where,
		"sum(e.engaged_ms) / nullif(sum(e.new_pageview), 0)",
		"sum(e.scroll_depth) / nullif(sum(e.new_pageview), 0)",
		"sum(e.new_pageview)")
}

// revenueSQL selects the revenue (thousandths) and the number of events
// that carried it per group, over the events of goals whose revenue is
// in cur. Goal filters select goals (revenueScope) and are not applied
// again.
func (p *Planner) revenueSQL(q *Query, goals []site.Goal, cur string) string {
	names := make([]string, 0, len(goals))
	for _, g := range goals {
		if g.Currency == cur {
			names = append(names, p.D.Quote(g.Event))
		}
	}
	where := fmt.Sprintf("%s AND e.name IN (%s) AND e.revenue_currency = %s%s", p.rangeCond(q, "e", "ts", 0),
		strings.Join(names, ", "), p.D.Quote(cur), p.where(q, withoutGoals(q.Filters), onEvents, "e", nil))
	return p.grouped(q, q.Dimensions, p.eventDims(q, q.Dimensions), p.eventFrom(q, q.Dimensions), where,
		"sum(e.revenue_milli)", "count(*)")
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
		// USING: see eventFrom.
		from += fmt.Sprintf(" JOIN (SELECT DISTINCT x.session_id AS session_id, %s FROM events x WHERE %s AND x.name <> %s) ev USING (session_id)",
			strings.Join(cols, ", "), p.rangeCond(q, "x", "ts", 24*time.Hour), p.D.Quote(analytics.EventEngagement))
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
		"sum(CASE WHEN s.pageviews + s.events - s.noninteractive <= 1 THEN s.sign ELSE 0 END)",
		"sum(s.sign * "+p.D.Seconds("s.start_ts", "s.end_ts")+")",
		"sum(s.sign * s.pageviews)")
}
