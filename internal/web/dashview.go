package web

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"waymark.dev/waymark/internal/stats"
)

// viewState is everything a dashboard view shows; all of it lives in the
// URL, so a view can be bookmarked and shared.
type viewState struct {
	Period   string // one of periods
	From, To string // YYYY-MM-DD, for the custom period
	Compare  bool   // previous period on the chart
	Filters  []viewFilter
	Loc      string // the Locations panel's tab: "" (countries), "regions" or "cities"
	// NoImports leaves imported history out (it is in by default, as in
	// Plausible's dashboard).
	NoImports bool
}

// viewFilter is one filter chip: dimension, operator, value.
type viewFilter struct {
	Dim, Op, Value string
}

// periods are the date ranges a view offers, with their labels and
// keyboard shortcuts.
var periods = []struct{ ID, Label, Key string }{
	{"day", "Today", "t"}, {"yesterday", "Yesterday", "y"}, {"7d", "Last 7 days", "w"}, {"30d", "Last 30 days", "m"},
	{"month", "This month", ""}, {"last_month", "Last month", ""}, {"12mo", "Last 12 months", "l"}, {"all", "All time", "a"},
}

// filterOps are the operators a chip can have.
var filterOps = map[string]string{"is": "is", "is_not": "is not", "contains": "contains"}

// maxFilters bounds the chips of one view.
const maxFilters = 10

// parseView reads a view from the query string; bad values get an error
// naming the parameter.
func parseView(q url.Values) (viewState, error) {
	v := viewState{Period: q.Get("period"), From: q.Get("from"), To: q.Get("to"), Compare: q.Get("compare") == "1", Loc: q.Get("loc"),
		NoImports: q.Get("imports") == "0"}
	if v.Loc != "" && v.Loc != "regions" && v.Loc != "cities" {
		return v, errInvalid("loc", "the Locations tab is regions or cities (countries when absent)")
	}
	switch {
	case v.Period == "" && (v.From != "" || v.To != ""):
		v.Period = "custom"
	case v.Period == "":
		v.Period = "30d"
	}
	if v.Period == "custom" {
		f, err1 := time.Parse(time.DateOnly, v.From)
		t, err2 := time.Parse(time.DateOnly, v.To)
		if err1 != nil || err2 != nil {
			return v, errInvalid("from", "a custom range needs from and to as YYYY-MM-DD")
		}
		if t.Before(f) {
			return v, errInvalid("to", "the range ends before it starts")
		}
	} else if !slices.ContainsFunc(periods, func(p struct{ ID, Label, Key string }) bool { return p.ID == v.Period }) {
		return v, errInvalid("period", fmt.Sprintf("unknown period %q", v.Period))
	}
	fs := q["f"]
	if len(fs) > maxFilters {
		return v, errInvalid("f", fmt.Sprintf("at most %d filters", maxFilters))
	}
	for _, raw := range fs {
		parts := strings.SplitN(raw, "~", 3)
		if len(parts) != 3 {
			return v, errInvalid("f", "a filter is operator~dimension~value")
		}
		f := viewFilter{Op: parts[0], Dim: parts[1], Value: parts[2]}
		if _, ok := filterOps[f.Op]; !ok {
			return v, errInvalid("f", fmt.Sprintf("unknown operator %q", f.Op))
		}
		if dimLabel(f.Dim) == "" {
			return v, errInvalid("f", fmt.Sprintf("unknown dimension %q", f.Dim))
		}
		if f.Value == "" || len(f.Value) > 500 {
			return v, errInvalid("f", "a filter value must have 1 to 500 characters")
		}
		v.Filters = append(v.Filters, f)
	}
	return v, nil
}

// values encodes the view as query parameters.
func (v viewState) values() url.Values {
	q := url.Values{}
	if v.Period == "custom" {
		q.Set("from", v.From)
		q.Set("to", v.To)
	} else if v.Period != "30d" {
		q.Set("period", v.Period)
	}
	if v.Compare {
		q.Set("compare", "1")
	}
	for _, f := range v.Filters {
		q.Add("f", f.Op+"~"+f.Dim+"~"+f.Value)
	}
	if v.Loc != "" {
		q.Set("loc", v.Loc)
	}
	if v.NoImports {
		q.Set("imports", "0")
	}
	return q
}

// href is the view's address under base.
func (v viewState) href(base string) string {
	if e := v.values().Encode(); e != "" {
		return base + "?" + e
	}
	return base
}

// withFilter adds a filter, replacing one on the same dimension.
func (v viewState) withFilter(f viewFilter) viewState {
	v.Filters = slices.Clone(v.Filters)
	v.Filters = slices.DeleteFunc(v.Filters, func(x viewFilter) bool { return x.Dim == f.Dim })
	if len(v.Filters) < maxFilters {
		v.Filters = append(v.Filters, f)
	}
	return v
}

// withoutFilter removes the i-th filter.
func (v viewState) withoutFilter(i int) viewState {
	v.Filters = slices.Delete(slices.Clone(v.Filters), i, i+1)
	return v
}

// withPeriod switches the date range, keeping filters.
func (v viewState) withPeriod(p string) viewState {
	v.Period, v.From, v.To = p, "", ""
	return v
}

// filtered reports whether the view filters on dim.
func (v viewState) filtered(dim string) bool {
	return slices.ContainsFunc(v.Filters, func(f viewFilter) bool { return f.Dim == dim && f.Op == "is" })
}

// dateRange is the view's range as the stats API takes it.
func (v viewState) dateRange() json.RawMessage {
	if v.Period == "custom" {
		b, _ := json.Marshal([]string{v.From, v.To})
		return b
	}
	b, _ := json.Marshal(v.Period)
	return b
}

// filterJSON is the view's filters as the stats API takes them.
func (v viewState) filterJSON() json.RawMessage {
	var out []any
	for _, f := range v.Filters {
		out = append(out, []any{f.Op, f.Dim, []string{f.Value}, map[string]bool{"case_sensitive": f.Op != "contains"}})
	}
	if out == nil {
		return nil
	}
	b, _ := json.Marshal(out)
	return b
}

// dimLabels name the dimensions a view can filter on.
var dimLabels = map[string]string{
	"event:page": "Page", "event:name": "Event", "event:goal": "Goal",
	"visit:entry_page": "Entry page", "visit:exit_page": "Exit page", "visit:source": "Source",
	"visit:referrer": "Referrer", "visit:channel": "Channel", "visit:utm_source": "UTM source",
	"visit:utm_medium": "UTM medium", "visit:utm_campaign": "UTM campaign", "visit:utm_term": "UTM term",
	"visit:utm_content": "UTM content", "visit:browser": "Browser", "visit:browser_version": "Browser version",
	"visit:os": "Operating system", "visit:os_version": "OS version", "visit:device": "Device",
	"visit:screen": "Screen size", "visit:language": "Language", "visit:hostname": "Hostname",
	"visit:country": "Country", "visit:region": "Region", "visit:city": "City",
	"visit:country_name": "Country name", "visit:region_name": "Region name", "visit:city_name": "City name",
}

// dimLabel names a dimension, "" when a view cannot use it.
func dimLabel(d string) string {
	if k, ok := strings.CutPrefix(d, "event:props:"); ok && k != "" && len(k) <= 100 {
		return "Property " + k
	}
	return dimLabels[d]
}

// sortedDims lists the filterable dimensions by label, for the add-filter
// form.
func sortedDims() [][2]string {
	var out [][2]string
	for d, l := range dimLabels {
		out = append(out, [2]string{d, l})
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[1], b[1]) })
	return out
}

// metricLabel heads a panel's column: the metric's label from the stats
// package's table.
func metricLabel(name string) string {
	if m, ok := stats.LookupMetric(name); ok {
		return m.Label
	}
	return name
}

// formatRowMetric renders a row's i-th metric, money in the row's
// currency.
func formatRowMetric(name string, r stats.Row, i int, short bool) string {
	v := r.Metrics[i]
	if m, ok := stats.LookupMetric(name); ok && m.Unit == stats.UnitMoney && !math.IsNaN(v) {
		return formatMoney(v, r.Currency, short)
	}
	return formatMetric(name, v)
}

// formatMetric renders a figure for people, as its metric's unit reads.
func formatMetric(name string, v float64) string {
	if math.IsNaN(v) {
		return "—" // no value: no page reported engagement
	}
	m, _ := stats.LookupMetric(name)
	if m == nil {
		return formatCount(v)
	}
	switch m.Unit {
	case stats.UnitPercent:
		return strconv.FormatFloat(v, 'f', -1, 64) + "%"
	case stats.UnitSeconds:
		return formatDuration(v)
	case stats.UnitDecimal:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return formatCount(v)
}

// formatCount writes 1234567 as 1,234,567.
func formatCount(v float64) string {
	s := strconv.FormatInt(int64(v), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// formatDuration writes seconds as "1m 05s" or "42s".
func formatDuration(sec float64) string {
	s := int(sec)
	if s < 60 {
		return fmt.Sprintf("%ds", s)
	}
	if s < 3600 {
		return fmt.Sprintf("%dm %02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh %02dm", s/3600, s%3600/60)
}
