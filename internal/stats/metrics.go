package stats

import (
	"math"
	"strings"
)

// Metric is one Stats API metric, defined in this one place: its name and
// label, how its values read, which scan of the stores answers it, which
// rollups can, what a query needs to ask for it, and how its value is
// computed from the named figures a scan or rollup gives (Figures).
// Adding a derived metric is one entry in metrics plus its test.
type Metric struct {
	Name  string
	Label string // the dashboard's column heading
	Unit  Unit
	// LowerIsBetter marks metrics whose fall is good news (bounce rate).
	LowerIsBetter bool
	// Value computes the metric from a group's figures.
	Value func(f Figures) float64

	// group is the raw scan that answers it when the visit scan cannot.
	group metricGroup
	// visitLevel: the visit scan and the visit rollups answer it.
	visitLevel bool
	// rollup says how the daily rollups can answer it.
	rollup rollupUse
	// goalRollup: a breakdown by goal from the event rollups can answer it.
	goalRollup bool
	// needsDimension and needsGoal are what a query must have to ask for
	// it (a share of what, a conversion to what).
	needsDimension, needsGoal bool
}

// Unit says how a metric's values read.
type Unit int

// Units of metrics.
const (
	UnitCount   Unit = iota // a whole number: 1,234
	UnitDecimal             // two decimals: 1.25
	UnitPercent             // a percentage: 42.5%; changes are differences in points
	UnitSeconds             // a duration in seconds: 1m 05s
	UnitMoney               // an amount in the row's currency: $1,234.50
)

// Figures are the named figures of one group of a query's result, as a
// scan of the stores or the rollups give them. A scan fills the figures
// it has; a metric reads only those of the scans that answer it.
type Figures struct {
	Visitors, Visits  float64
	Bounces, Duration float64 // visits of at most one pageview or event; seconds of all visits
	Pageviews, Events float64 // Events counts pageviews too
	// Total is the visitors of all groups (for shares); GoalBase the
	// visitors a conversion rate divides by (all of them, goal filters
	// aside), GroupBase those of the group (goal filters aside).
	Total, GoalBase, GroupBase float64
	// MSPerView and ScrollPerView are engaged milliseconds and the
	// deepest scroll per engaged pageview.
	MSPerView, ScrollPerView float64
	// EngagedViews counts the pageviews with an engagement report; with
	// none, the engagement metrics have no value (NaN).
	EngagedViews float64
	// RevenueMilli and RevenueEvents are the revenue of a group's revenue
	// goal events, in thousandths, and how many events carried it.
	RevenueMilli, RevenueEvents float64
}

// rollupUse says how the daily rollups can answer a metric.
type rollupUse int

const (
	rollupNone       rollupUse = iota // never: the raw tables answer it
	rollupAny                         // from the visit rollups and the page and event-name rollups
	rollupVisits                      // from the visit rollups only
	rollupEngagement                  // from the page rollups, and from the visit rollups without a non-time dimension
)

// metrics are every metric of the API, in the API's order.
var metrics = []Metric{
	{Name: MetricVisitors, Label: "Visitors", Unit: UnitCount, group: groupEvents, visitLevel: true, rollup: rollupAny, goalRollup: true,
		Value: func(f Figures) float64 { return f.Visitors }},
	{Name: MetricVisits, Label: "Visits", Unit: UnitCount, group: groupSessions, visitLevel: true, rollup: rollupVisits,
		Value: func(f Figures) float64 { return f.Visits }},
	{Name: MetricPageviews, Label: "Pageviews", Unit: UnitCount, group: groupEvents, visitLevel: true, rollup: rollupAny,
		Value: func(f Figures) float64 { return f.Pageviews }},
	{Name: MetricViewsPerVisit, Label: "Views per visit", Unit: UnitDecimal, group: groupSessions, visitLevel: true, rollup: rollupVisits,
		Value: func(f Figures) float64 { return ratio(f.Pageviews, f.Visits, 1, 2) }},
	{Name: MetricBounceRate, Label: "Bounce rate", Unit: UnitPercent, LowerIsBetter: true, group: groupSessions, visitLevel: true, rollup: rollupVisits,
		Value: func(f Figures) float64 { return ratio(f.Bounces, f.Visits, 100, 0) }},
	{Name: MetricVisitDuration, Label: "Visit duration", Unit: UnitSeconds, group: groupSessions, visitLevel: true, rollup: rollupVisits,
		Value: func(f Figures) float64 { return ratio(f.Duration, f.Visits, 1, 0) }},
	{Name: MetricEvents, Label: "Events", Unit: UnitCount, group: groupEvents, visitLevel: true, rollup: rollupAny, goalRollup: true,
		Value: func(f Figures) float64 { return f.Events }},
	{Name: MetricScrollDepth, Label: "Scroll depth", Unit: UnitPercent, group: groupEngagement, rollup: rollupEngagement,
		Value: func(f Figures) float64 { return engaged(f, math.Round(f.ScrollPerView)) }},
	{Name: MetricTimeOnPage, Label: "Time on page", Unit: UnitSeconds, group: groupEngagement, rollup: rollupEngagement,
		Value: func(f Figures) float64 { return engaged(f, math.Round(f.MSPerView/1000)) }},
	{Name: MetricPercentage, Label: "%", Unit: UnitPercent, group: groupEvents, visitLevel: true, rollup: rollupAny, needsDimension: true,
		Value: func(f Figures) float64 { return ratio(f.Visitors, f.Total, 100, 1) }},
	{Name: MetricConversionRate, Label: "Conversion", Unit: UnitPercent, group: groupEvents, goalRollup: true, needsGoal: true,
		Value: func(f Figures) float64 { return ratio(f.Visitors, f.GoalBase, 100, 2) }},
	{Name: MetricTotalRevenue, Label: "Revenue", Unit: UnitMoney, group: groupRevenue,
		Value: func(f Figures) float64 {
			if f.RevenueEvents == 0 {
				return math.NaN()
			}
			return f.RevenueMilli / 1000
		}},
	{Name: MetricAverageRevenue, Label: "Average revenue", Unit: UnitMoney, group: groupRevenue,
		Value: func(f Figures) float64 {
			if f.RevenueEvents == 0 {
				return math.NaN()
			}
			// Thousandths, cut as Plausible's decimals are.
			return math.Trunc(f.RevenueMilli/f.RevenueEvents) / 1000
		}},
	{Name: MetricGroupConversionRate, Label: "Conversion in group", Unit: UnitPercent, group: groupEvents, needsGoal: true, needsDimension: true,
		Value: func(f Figures) float64 { return ratio(f.Visitors, f.GroupBase, 100, 1) }},
}

// Internal metrics: raw sums the planner asks itself for, to merge
// imported data (native visits under averages) and to export in
// Plausible's format. The API does not accept them (LookupMetric).
const (
	metricBounces        = "__bounces"
	metricDuration       = "__duration"
	metricEngagedViews   = "__engaged_views"
	metricScrollTotal    = "__scroll_total"
	metricEngagedSeconds = "__engaged_seconds"
)

var internalMetrics = []Metric{
	{Name: metricBounces, group: groupSessions, visitLevel: true, rollup: rollupVisits,
		Value: func(f Figures) float64 { return f.Bounces }},
	{Name: metricDuration, group: groupSessions, visitLevel: true, rollup: rollupVisits,
		Value: func(f Figures) float64 { return f.Duration }},
	{Name: metricEngagedViews, group: groupEngagement, rollup: rollupEngagement,
		Value: func(f Figures) float64 { return f.EngagedViews }},
	{Name: metricScrollTotal, group: groupEngagement, rollup: rollupEngagement,
		Value: func(f Figures) float64 { return math.Round(f.ScrollPerView * f.EngagedViews) }},
	{Name: metricEngagedSeconds, group: groupEngagement, rollup: rollupEngagement,
		Value: func(f Figures) float64 { return math.Round(f.MSPerView * f.EngagedViews / 1000) }},
}

// engaged is v, or NaN (no value) without engaged pageviews.
func engaged(f Figures, v float64) float64 {
	if f.EngagedViews == 0 {
		return math.NaN()
	}
	return v
}

// metricByName indexes metrics.
var metricByName = func() map[string]*Metric {
	m := make(map[string]*Metric, len(metrics)+len(internalMetrics))
	for i := range metrics {
		m[metrics[i].Name] = &metrics[i]
	}
	for i := range internalMetrics {
		m[internalMetrics[i].Name] = &internalMetrics[i]
	}
	return m
}()

// LookupMetric returns the API metric of that name.
func LookupMetric(name string) (*Metric, bool) {
	if strings.HasPrefix(name, "__") {
		return nil, false
	}
	m, ok := metricByName[name]
	return m, ok
}

// MetricNames are the API's metric names, in its order.
func MetricNames() []string {
	out := make([]string, len(metrics))
	for i, m := range metrics {
		out[i] = m.Name
	}
	return out
}

// setMetrics sets out[i] for every metric of q that keep selects, from f.
func setMetrics(q *Query, out []float64, f Figures, keep func(*Metric) bool) {
	for i, name := range q.Metrics {
		if m := metricByName[name]; m != nil && keep(m) {
			out[i] = m.Value(f)
		}
	}
}

// visitFigures names the columns of visitSQL (and of the visit rollups'
// first six sums): visitors, visits, bounces, duration, pageviews, custom
// events.
func visitFigures(v []float64, total float64) Figures {
	return Figures{Visitors: v[0], Visits: v[1], Bounces: v[2], Duration: v[3], Pageviews: v[4], Events: v[4] + v[5], Total: total}
}

// eventFigures names the columns of eventSQL: visitors, pageviews,
// events.
func eventFigures(v []float64, total, goalBase, groupBase float64) Figures {
	return Figures{Visitors: v[0], Pageviews: v[1], Events: v[2], Total: total, GoalBase: goalBase, GroupBase: groupBase}
}

// sessionFigures names the columns of sessionSQL: visits, bounces,
// duration, pageviews.
func sessionFigures(v []float64) Figures {
	return Figures{Visits: v[0], Bounces: v[1], Duration: v[2], Pageviews: v[3]}
}

// engagementFigures names the columns of engagementSQL: engaged
// milliseconds and scroll depth per engaged pageview, and the engaged
// pageviews.
func engagementFigures(v []float64) Figures {
	return Figures{MSPerView: v[0], ScrollPerView: v[1], EngagedViews: v[2]}
}

func inGroup(g metricGroup) func(*Metric) bool { return func(m *Metric) bool { return m.group == g } }

func atVisitLevel(m *Metric) bool { return m.visitLevel }
