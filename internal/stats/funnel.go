package stats

import (
	"context"
	"fmt"
	"strings"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/site"
)

// FunnelStep is one step of a funnel over a query's range: the visits
// (and their visitors) that reached it after all earlier steps, in order.
type FunnelStep struct {
	Name     string
	Visits   float64
	Visitors float64
}

// Funnel counts, for the visits in q's range that pass q's filters, how
// many reach each step of f in order (a step counts when it happens at or
// after the previous step's first occurrence in the same visit).
func (p *Planner) Funnel(ctx context.Context, q *Query, f site.Funnel) ([]FunnelStep, error) {
	if len(f.Steps) < site.MinFunnelSteps || len(f.Steps) > site.MaxFunnelSteps {
		return nil, analytics.Invalidf("funnel", "a funnel has %d to %d steps", site.MinFunnelSteps, site.MaxFunnelSteps)
	}
	var flags, any []string
	for i, g := range f.Steps {
		c := p.stepCond(g, "e")
		flags = append(flags, fmt.Sprintf("%s AS k%d", c, i))
		any = append(any, c)
	}
	// Nested subqueries rather than WITH: ClickHouse 18.16 has no common
	// table expressions. Step i's visits are those with a step-i event at
	// or after their first step i-1 event.
	steps := fmt.Sprintf("(SELECT e.session_id AS session_id, e.visitor_id AS visitor_id, e.ts AS ts, %s FROM events e WHERE %s AND e.name <> %s%s AND (%s))",
		strings.Join(flags, ", "), p.rangeCond(q, "e", "ts", 0), p.D.Quote(analytics.EventEngagement), p.where(q, q.Filters, onEvents, "e", nil), strings.Join(any, " OR "))
	// Each level names its columns apart (v0, t0, v1, t1, ...): ClickHouse
	// resolves aliases across the whole query.
	reached := fmt.Sprintf("(SELECT s.session_id AS session_id, min(s.visitor_id) AS v0, min(s.ts) AS t0 FROM %s s WHERE s.k0 GROUP BY s.session_id)", steps)
	sel := []string{fmt.Sprintf("SELECT '0', %s, %s FROM %s f", p.D.ToFloat("count(*)"), p.D.ToFloat(p.D.CountDistinct("f.v0")), reached)}
	for i := 1; i < len(f.Steps); i++ {
		reached = fmt.Sprintf("(SELECT s.session_id AS session_id, min(s.visitor_id) AS v%[3]d, min(s.ts) AS t%[3]d FROM %[1]s s JOIN %[2]s p ON p.session_id = s.session_id WHERE s.k%[3]d AND s.ts >= p.t%[4]d GROUP BY s.session_id)", steps, reached, i, i-1)
		sel = append(sel, fmt.Sprintf("SELECT '%d', %s, %s FROM %s f", i, p.D.ToFloat("count(*)"), p.D.ToFloat(p.D.CountDistinct(fmt.Sprintf("f.v%d", i))), reached))
	}
	raws, err := p.R.Rows(ctx, strings.Join(sel, "\nUNION ALL\n"), 1)
	if err != nil {
		return nil, err
	}
	out := make([]FunnelStep, len(f.Steps))
	for i, g := range f.Steps {
		out[i].Name = g.Name()
	}
	for _, r := range raws {
		var i int
		fmt.Sscan(r.Dims[0], &i)
		if i >= 0 && i < len(out) {
			out[i].Visits, out[i].Visitors = r.Vals[0], r.Vals[1]
		}
	}
	return out, nil
}

// stepCond is the SQL condition for an event row being goal g.
func (p *Planner) stepCond(g site.Goal, alias string) string {
	if g.Event != "" {
		return fmt.Sprintf("%s.name = %s", alias, p.D.Quote(g.Event))
	}
	page := alias + ".pathname = " + p.D.Quote(g.Page)
	if strings.Contains(g.Page, "*") {
		page = p.D.Regex(alias+".pathname", wildcardRegex(g.Page), true)
	}
	return fmt.Sprintf("(%s.name = %s AND %s)", alias, p.D.Quote(analytics.EventPageview), page)
}
