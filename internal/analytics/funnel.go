package analytics

import (
	"context"
	"fmt"
	"strings"

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
		return nil, invalid("funnel", "a funnel has %d to %d steps", site.MinFunnelSteps, site.MaxFunnelSteps)
	}
	var flags, any []string
	for i, g := range f.Steps {
		c := p.stepCond(g, "e")
		flags = append(flags, fmt.Sprintf("%s AS k%d", c, i))
		any = append(any, c)
	}
	ctes := []string{fmt.Sprintf("s AS (SELECT e.session_id, e.visitor_id, e.ts, %s FROM events e WHERE %s AND e.name <> %s%s AND (%s))",
		strings.Join(flags, ", "), p.rangeCond(q, "e", "ts", 0), p.D.Quote(EventEngagement), p.where(q, q.Filters, onEvents, "e", nil), strings.Join(any, " OR "))}
	ctes = append(ctes, "f0 AS (SELECT s.session_id, min(s.visitor_id) AS visitor_id, min(s.ts) AS t FROM s WHERE s.k0 GROUP BY s.session_id)")
	var sel []string
	sel = append(sel, fmt.Sprintf("SELECT '0', %s, %s FROM f0", p.D.ToFloat("count(*)"), p.D.ToFloat(p.D.CountDistinct("f0.visitor_id"))))
	for i := 1; i < len(f.Steps); i++ {
		ctes = append(ctes, fmt.Sprintf("f%[1]d AS (SELECT s.session_id, min(f%[2]d.visitor_id) AS visitor_id, min(s.ts) AS t FROM s JOIN f%[2]d ON f%[2]d.session_id = s.session_id WHERE s.k%[1]d AND s.ts >= f%[2]d.t GROUP BY s.session_id)", i, i-1))
		sel = append(sel, fmt.Sprintf("SELECT '%[1]d', %[2]s, %[3]s FROM f%[1]d", i, p.D.ToFloat("count(*)"), p.D.ToFloat(p.D.CountDistinct(fmt.Sprintf("f%d.visitor_id", i)))))
	}
	raws, err := p.R.Rows(ctx, "WITH "+strings.Join(ctes, ",\n")+"\n"+strings.Join(sel, "\nUNION ALL\n"), 1)
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
	return fmt.Sprintf("(%s.name = %s AND %s)", alias, p.D.Quote(EventPageview), page)
}
