package stats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/site"
)

// Metric names of the stats API.
const (
	MetricVisitors       = "visitors"
	MetricVisits         = "visits"
	MetricPageviews      = "pageviews"
	MetricViewsPerVisit  = "views_per_visit"
	MetricBounceRate     = "bounce_rate"
	MetricVisitDuration  = "visit_duration"
	MetricEvents         = "events"
	MetricScrollDepth    = "scroll_depth"
	MetricTimeOnPage     = "time_on_page"
	MetricPercentage     = "percentage"
	MetricConversionRate = "conversion_rate"
	// MetricGroupConversionRate is the share of a group's visitors who
	// converted (Plausible's group_conversion_rate).
	MetricGroupConversionRate = "group_conversion_rate"
	// MetricTotalRevenue and MetricAverageRevenue sum and average the
	// revenue of the events of revenue goals (Plausible's).
	MetricTotalRevenue   = "total_revenue"
	MetricAverageRevenue = "average_revenue"
)

// Dimensions that are attributes of a whole visit, and those of single events.
var (
	visitDimensions = []string{"visit:entry_page", "visit:exit_page", "visit:source", "visit:channel", "visit:referrer",
		"visit:utm_source", "visit:utm_medium", "visit:utm_campaign", "visit:utm_term", "visit:utm_content",
		"visit:browser", "visit:browser_version", "visit:os", "visit:os_version", "visit:device",
		"visit:screen", "visit:language", "visit:hostname", "visit:entry_page_hostname", "visit:exit_page_hostname",
		"visit:country", "visit:region", "visit:city", "visit:country_name", "visit:region_name", "visit:city_name"}
	eventDimensions = []string{"event:page", "event:name", "event:goal", "event:hostname"}
	timeDimensions  = []string{"time", "time:hour", "time:day", "time:week", "time:month"}
)

// Filter is a node of a query's filter tree: a leaf compares a dimension
// with values; "and", "or" and "not" combine filters.
type Filter struct {
	Op            string // is, is_not, contains, contains_not, matches, matches_not, and, or, not, has_done, has_not_done
	Dimension     string
	Values        []string
	CaseSensitive bool
	Children      []Filter
}

// Order is one sort key.
type Order struct {
	Field string // a metric or a dimension of the query
	Desc  bool
}

// Query is a validated stats query.
type Query struct {
	Site       *site.Site
	Metrics    []string
	Dimensions []string
	Filters    []Filter // implicitly and-ed
	OrderBy    []Order
	Limit      int
	Offset     int

	From, To  time.Time // [From, To), UTC instants
	Location  *time.Location
	DateRange json.RawMessage // as given, echoed back

	Compare bool // with a comparison: the previous period, unless CompareFrom is set
	// CompareFrom and CompareTo are the comparison's range when it is not
	// the previous period (year over year, custom, or shifted to match the
	// day of the week).
	CompareFrom, CompareTo time.Time
	TimeLabels             bool
	TotalRows              bool
	// NoGoals: the query groups by goal and the site has none; the answer
	// is no rows.
	NoGoals bool
	// IncludeImports merges imported data where the query allows it (as
	// Plausible's include.imports); ImportsMeta reports on imports
	// without merging them.
	IncludeImports, ImportsMeta bool

	imports *importPlan // set by the planner when imported data is merged
}

// Row is one result row.
type Row struct {
	Dimensions []string    `json:"dimensions"`
	Metrics    Values      `json:"metrics"`
	Comparison *Comparison `json:"comparison,omitempty"`
	// Currency is the ISO 4217 code of the row's revenue metrics.
	Currency string `json:"-"`
}

// Comparison is a row's figures for the previous period and the change.
type Comparison struct {
	Dimensions []string `json:"dimensions"`
	Metrics    Values   `json:"metrics"`
	Change     Values   `json:"change"`
}

// Values are a row's metrics. A metric without a value (time on page
// where no page reported engagement) is NaN, written as null in JSON, as
// Plausible answers.
type Values []float64

// MarshalJSON writes NaN as null.
func (v Values) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 8*len(v)+2)
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, x, 'f', -1, 64)
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads null as NaN.
func (v *Values) UnmarshalJSON(b []byte) error {
	var raw []*float64
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*v = make(Values, len(raw))
	for i, x := range raw {
		if x == nil {
			(*v)[i] = math.NaN()
		} else {
			(*v)[i] = *x
		}
	}
	return nil
}

// newMetrics returns a row's metrics before any scan sets them: 0, and
// NaN (no value) for the engagement metrics, which only engagement
// reports give a value.
func newMetrics(q *Query) Values {
	v := make(Values, len(q.Metrics))
	for i, name := range q.Metrics {
		if m := metricByName[name]; m != nil && (m.group == groupEngagement || m.group == groupRevenue) {
			v[i] = math.NaN()
		}
	}
	return v
}

// Result is a query's answer.
type Result struct {
	Rows       []Row
	TotalRows  int
	TimeLabels []string
	// MetricWarnings explain metrics without values (revenue metrics
	// without a single revenue currency), by metric name.
	MetricWarnings map[string]MetricWarning
	// ImportsIncluded says imported data was merged; otherwise, when the
	// query asked for imports, ImportsSkipReason says why not
	// (no_imported_data, out_of_range, unsupported_interval,
	// unsupported_query).
	ImportsIncluded   bool
	ImportsSkipReason string
}

// QueryRequest is the JSON body of the stats API, as Plausible's Stats API
// v2 defines it.
type QueryRequest struct {
	SiteID     string          `json:"site_id"`
	Metrics    []string        `json:"metrics"`
	DateRange  json.RawMessage `json:"date_range"`
	Date       string          `json:"date"`
	Dimensions []string        `json:"dimensions"`
	TimeZone   string          `json:"time_zone"` // as the answer echoes it
	Filters    json.RawMessage `json:"filters"`
	OrderBy    json.RawMessage `json:"order_by"`
	Include    struct {
		TimeLabels  bool `json:"time_labels"`
		TotalRows   bool `json:"total_rows"`
		Imports     bool `json:"imports"`
		ImportsMeta bool `json:"imports_meta"`
		Comparisons *struct {
			Mode           string          `json:"mode"`
			DateRange      json.RawMessage `json:"date_range,omitempty"`
			MatchDayOfWeek bool            `json:"match_day_of_week,omitempty"`
		} `json:"comparisons"`
	} `json:"include"`
	Pagination struct {
		Limit  *int `json:"limit"`
		Offset int  `json:"offset"`
	} `json:"pagination"`
}

// DecodeQueryRequest parses the API body, refusing unknown fields.
func DecodeQueryRequest(body []byte) (*QueryRequest, error) {
	if !utf8.Valid(body) {
		return nil, analytics.Invalidf("body", "not valid UTF-8")
	}
	var qr QueryRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&qr); err != nil {
		return nil, analytics.Invalidf("body", "%v", err)
	}
	if qr.SiteID == "" {
		return nil, analytics.Invalidf("site_id", "missing")
	}
	return &qr, nil
}

// MaxLimit caps pagination.limit.
const MaxLimit = 10000

// Build validates the request against its site and resolves the date range
// relative to now in the site's time zone.
func (qr *QueryRequest) Build(s *site.Site, now time.Time) (*Query, error) {
	q := &Query{Site: s, Location: s.Location(), DateRange: qr.DateRange}
	// The answer echoes the query with the site's time zone; posting the
	// echo back is the same query.
	if qr.TimeZone != "" && qr.TimeZone != q.Location.String() {
		return nil, analytics.Invalidf("time_zone", "queries use the site's time zone, %s; leave time_zone out or send that one", q.Location)
	}
	if len(qr.Metrics) == 0 {
		return nil, analytics.Invalidf("metrics", "at least one metric is required, e.g. [\"visitors\"]")
	}
	for i, m := range qr.Metrics {
		if _, ok := LookupMetric(m); !ok {
			return nil, analytics.InvalidHint("metrics", fmt.Sprintf("#/metrics/%d: Invalid metric %q", i, m),
				"known metrics: "+strings.Join(MetricNames(), ", "))
		}
		if slices.Contains(q.Metrics, m) {
			return nil, analytics.InvalidHint("metrics", "#/metrics: Expected items to be unique but they were not.", fmt.Sprintf("metric %q is listed twice", m))
		}
		q.Metrics = append(q.Metrics, m)
	}
	for i, d := range qr.Dimensions {
		if err := checkDimension(d, "dimensions"); err != nil {
			hint := err.Error()
			var ie *analytics.InvalidError
			if errors.As(err, &ie) {
				hint = ie.Message
			}
			return nil, analytics.InvalidHint("dimensions", fmt.Sprintf("#/dimensions/%d: Invalid dimension %q", i, d), hint)
		}
		if slices.Contains(q.Dimensions, d) {
			return nil, analytics.Invalidf("dimensions", "dimension %q is listed twice", d)
		}
		q.Dimensions = append(q.Dimensions, d)
	}
	if n := countTime(q.Dimensions); n > 1 {
		return nil, analytics.Invalidf("dimensions", "at most one time dimension")
	}
	for _, m := range q.Metrics {
		if metricByName[m].needsDimension && len(q.Dimensions) == 0 {
			return nil, analytics.Invalidf("metrics", "%s needs at least one dimension", m)
		}
	}
	var err error
	if q.Filters, err = parseFilters(qr.Filters); err != nil {
		return nil, err
	}
	for _, m := range q.Metrics {
		if metricByName[m].needsGoal && !slices.Contains(q.Dimensions, "event:goal") && !hasGoalFilter(q.Filters) {
			return nil, analytics.InvalidHint("metrics", fmt.Sprintf("Metric `%s` can only be queried with event:goal filters or dimensions", m),
				"add the event:goal dimension or a filter on event:goal")
		}
	}
	if err := checkGoals(q); err != nil {
		return nil, err
	}
	if q.OrderBy, err = parseOrder(qr.OrderBy, q); err != nil {
		return nil, err
	}
	q.Limit = MaxLimit
	if qr.Pagination.Limit != nil {
		if *qr.Pagination.Limit < 1 || *qr.Pagination.Limit > MaxLimit {
			return nil, analytics.Invalidf("pagination.limit", "must be from 1 to %d", MaxLimit)
		}
		q.Limit = *qr.Pagination.Limit
	}
	if qr.Pagination.Offset < 0 {
		return nil, analytics.Invalidf("pagination.offset", "must not be negative")
	}
	q.Offset = qr.Pagination.Offset
	if c := qr.Include.Comparisons; c != nil {
		switch c.Mode {
		case "previous_period", "year_over_year", "custom":
		default:
			return nil, analytics.Invalidf("include.comparisons.mode", "Invalid include.comparisons: mode must be \"previous_period\", \"year_over_year\" or \"custom\"")
		}
		if (c.Mode == "custom") != (len(c.DateRange) > 0) {
			return nil, analytics.Invalidf("include.comparisons.date_range", "Invalid include.comparisons: a \"custom\" comparison, and only it, takes a date_range [\"YYYY-MM-DD\", \"YYYY-MM-DD\"]")
		}
		q.Compare = true
	}
	q.TimeLabels, q.TotalRows = qr.Include.TimeLabels, qr.Include.TotalRows
	q.IncludeImports, q.ImportsMeta = qr.Include.Imports, qr.Include.ImportsMeta
	if q.TimeLabels && countTime(q.Dimensions) == 0 {
		return nil, analytics.Invalidf("include.time_labels", "needs a time dimension")
	}
	if q.From, q.To, err = ResolveRange(qr.DateRange, qr.Date, q.Location, now, s.CreatedAt); err != nil {
		return nil, err
	}
	if q.Compare && isRealtime(qr.DateRange) {
		return nil, analytics.Invalidf("include.comparisons", "not available for realtime")
	}
	if c := qr.Include.Comparisons; c != nil {
		if err := q.comparisonRange(c.Mode, c.DateRange, c.MatchDayOfWeek, now, s.CreatedAt); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// comparisonRange sets CompareFrom and CompareTo as Plausible works out
// a comparison. A range that runs past today is compared up to today
// (this month so far against as many days before). previous_period is as
// many days right before; year_over_year starts a year earlier and runs
// as many days; custom is the given days. With matchDay the comparison
// moves to the nearest day on the weekday the range starts on (never onto
// the range's own first day). Ranges that are not whole days keep the
// plain previous span (CompareFrom stays zero).
func (q *Query) comparisonRange(mode string, custom json.RawMessage, matchDay bool, now, created time.Time) error {
	loc := q.Location
	midnight := func(t time.Time) bool { return t.Equal(localMidnight(t, loc)) }
	if mode == "custom" {
		var days []string
		if json.Unmarshal(custom, &days) != nil || len(days) != 2 {
			return analytics.Invalidf("include.comparisons.date_range", "Invalid include.comparisons: date_range must be [\"YYYY-MM-DD\", \"YYYY-MM-DD\"]")
		}
		from, to, err := ResolveRange(custom, "", loc, now, created)
		if err != nil {
			var ie *analytics.InvalidError
			if errors.As(err, &ie) {
				return analytics.Invalidf("include.comparisons.date_range", "%s", ie.Message)
			}
			return err
		}
		q.CompareFrom, q.CompareTo = from, to
	} else {
		if !midnight(q.From) || !midnight(q.To) {
			return nil
		}
		end := q.To
		if tomorrow := localMidnight(now, loc).In(loc).AddDate(0, 0, 1).UTC(); end.After(tomorrow) && q.From.Before(tomorrow) {
			end = tomorrow
		}
		days := localDays(q.From, end, loc)
		from := q.From.In(loc).AddDate(0, 0, -days)
		if mode == "year_over_year" {
			from = q.From.In(loc).AddDate(-1, 0, 0)
		}
		q.CompareFrom, q.CompareTo = from.UTC(), from.AddDate(0, 0, days).UTC()
	}
	if matchDay {
		want := q.From.In(loc).Weekday()
		from := q.CompareFrom.In(loc)
		shift := 0
		if fwd := (int(want) - int(from.Weekday()) + 7) % 7; fwd != 0 {
			near, far := fwd, fwd-7
			if -far < fwd {
				near, far = far, near
			}
			shift = near
			if from.AddDate(0, 0, near).Equal(q.From.In(loc)) {
				shift = far
			}
		}
		q.CompareFrom = from.AddDate(0, 0, shift).UTC()
		q.CompareTo = q.CompareTo.In(loc).AddDate(0, 0, shift).UTC()
	}
	return nil
}

// localDays counts the days of loc from from to to (both midnights).
func localDays(from, to time.Time, loc *time.Location) int {
	n := 0
	for d := from.In(loc); d.Before(to); d = d.AddDate(0, 0, 1) {
		n++
	}
	return n
}

func countTime(dims []string) int {
	n := 0
	for _, d := range dims {
		if slices.Contains(timeDimensions, d) {
			n++
		}
	}
	return n
}

func checkDimension(d, field string) error {
	if slices.Contains(visitDimensions, d) || slices.Contains(eventDimensions, d) {
		return nil
	}
	if field == "dimensions" && slices.Contains(timeDimensions, d) {
		return nil
	}
	if k, ok := strings.CutPrefix(d, "event:props:"); ok {
		if k == "" || len(k) > analytics.MaxPropKeyLen {
			return analytics.Invalidf(field, "property dimension %q needs a property name", d)
		}
		return nil
	}
	return analytics.Invalidf(field, "unknown dimension %q", d)
}

var leafOps = []string{"is", "is_not", "contains", "contains_not", "matches", "matches_not"}

func parseFilters(raw json.RawMessage) ([]Filter, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, analytics.Invalidf("filters", "must be a list of filters such as [\"is\", \"visit:browser\", [\"Chrome\"]]")
	}
	out := make([]Filter, 0, len(list))
	for i, r := range list {
		f, err := parseFilter(r, fmt.Sprintf("filters[%d]", i), 0)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// spacedJSON writes raw as Plausible's messages show a filter: compact,
// with a space after each comma (["is", "segment", [1]]).
func spacedJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	var out strings.Builder
	inStr, esc := false, false
	for _, c := range b.Bytes() {
		out.WriteByte(c)
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case !inStr && c == ',':
			out.WriteByte(' ')
		}
	}
	return out.String()
}

// pointer writes a field path such as filters[0][1] as a JSON pointer
// without its "#/": filters/0/1.
func pointer(field string) string {
	r := strings.NewReplacer("[", "/", "]", "")
	return r.Replace(field)
}

func parseFilter(raw json.RawMessage, field string, depth int) (Filter, error) {
	if depth > 10 {
		return Filter{}, analytics.Invalidf(field, "filters nested too deeply")
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil || len(parts) < 2 {
		return Filter{}, analytics.Invalidf(field, "must be [operator, dimension, [values]] or [\"and\"|\"or\", [filters]] or [\"not\", filter]")
	}
	var op string
	if err := json.Unmarshal(parts[0], &op); err != nil {
		return Filter{}, analytics.Invalidf(field, "the operator must be a string")
	}
	switch op {
	case "and", "or":
		var kids []json.RawMessage
		if len(parts) != 2 || json.Unmarshal(parts[1], &kids) != nil || len(kids) == 0 {
			return Filter{}, analytics.Invalidf(field, "%q takes one non-empty list of filters", op)
		}
		f := Filter{Op: op}
		for i, k := range kids {
			c, err := parseFilter(k, fmt.Sprintf("%s[1][%d]", field, i), depth+1)
			if err != nil {
				return Filter{}, err
			}
			f.Children = append(f.Children, c)
		}
		return f, nil
	case "not":
		if len(parts) != 2 {
			return Filter{}, analytics.Invalidf(field, "\"not\" takes one filter")
		}
		c, err := parseFilter(parts[1], field+"[1]", depth+1)
		if err != nil {
			return Filter{}, err
		}
		return Filter{Op: op, Children: []Filter{c}}, nil
	case "has_done", "has_not_done":
		// Plausible's behavioural filters: the visits in which an event
		// matching the inner filter happened (or did not).
		if len(parts) != 2 {
			return Filter{}, analytics.Invalidf(field, "%q takes one filter on event dimensions", op)
		}
		c, err := parseFilter(parts[1], field+"[1]", depth+1)
		if err != nil {
			return Filter{}, err
		}
		if !onlyEventDims(c) {
			return Filter{}, analytics.Invalidf(field, "Invalid filters. Behavioral filters (has_done, has_not_done) can only be used with event dimension filters. (event:name, event:page, event:goal, event:hostname, event:props:*)")
		}
		return Filter{Op: op, Children: []Filter{c}}, nil
	}
	if !slices.Contains(leafOps, op) {
		return Filter{}, analytics.Invalidf(field, "unknown operator %q; known: %s, and, or, not, has_done, has_not_done", op, strings.Join(leafOps, ", "))
	}
	if len(parts) < 3 || len(parts) > 4 {
		return Filter{}, analytics.Invalidf(field, "must be [%q, dimension, [values]]", op)
	}
	f := Filter{Op: op}
	if err := json.Unmarshal(parts[1], &f.Dimension); err != nil {
		return Filter{}, analytics.Invalidf(field, "the dimension must be a string")
	}
	if err := checkDimension(f.Dimension, field); err != nil {
		// Plausible's wording first, then what is wrong.
		// Plausible's wording: where (a JSON pointer) and the filter.
		return Filter{}, analytics.Invalidf(field, "#/%s: Invalid filter %s", pointer(field), spacedJSON(raw))
	}
	var vals []any
	if err := json.Unmarshal(parts[2], &vals); err != nil || len(vals) == 0 {
		return Filter{}, analytics.Invalidf(field, "the values must be a non-empty list")
	}
	for _, v := range vals {
		switch v := v.(type) {
		case string:
			f.Values = append(f.Values, v)
		case float64:
			f.Values = append(f.Values, strconv.FormatFloat(v, 'f', -1, 64)) // a city's GeoNames id
		default:
			return Filter{}, analytics.Invalidf(field, "values must be strings")
		}
	}
	if strings.HasPrefix(op, "matches") {
		for _, v := range f.Values {
			if _, err := regexp.Compile(v); err != nil {
				return Filter{}, analytics.Invalidf(field, "bad regular expression %q: %v", v, err)
			}
		}
	}
	if len(parts) == 4 {
		var mod struct {
			CaseSensitive *bool `json:"case_sensitive"`
		}
		if err := json.Unmarshal(parts[3], &mod); err != nil {
			return Filter{}, analytics.Invalidf(field, "modifiers must be an object like {\"case_sensitive\": false}")
		}
		f.CaseSensitive = mod.CaseSensitive == nil || *mod.CaseSensitive
	} else {
		f.CaseSensitive = true
	}
	return f, nil
}

// onlyEventDims reports whether every leaf of a filter tree is on an
// event dimension.
func onlyEventDims(f Filter) bool {
	if len(f.Children) > 0 {
		for _, c := range f.Children {
			if !onlyEventDims(c) {
				return false
			}
		}
		return true
	}
	return isEventDim(f.Dimension)
}

func hasGoalFilter(fs []Filter) bool {
	for _, f := range fs {
		if f.Dimension == "event:goal" || hasGoalFilter(f.Children) {
			return true
		}
	}
	return false
}

func checkGoals(q *Query) error {
	if !slices.Contains(q.Dimensions, "event:goal") && !hasGoalFilter(q.Filters) {
		return nil
	}
	// A goal named in an "is" filter must be one of the site's: a typo
	// would otherwise answer zero as if nobody converted.
	var check func(fs []Filter) error
	check = func(fs []Filter) error {
		for _, f := range fs {
			if err := check(f.Children); err != nil {
				return err
			}
			if f.Dimension != "event:goal" || f.Op != "is" && f.Op != "is_not" {
				continue
			}
			for _, v := range f.Values {
				if !slices.ContainsFunc(q.Site.Goals, func(g site.Goal) bool {
					return g.Name() == v || !f.CaseSensitive && strings.EqualFold(g.Name(), v)
				}) {
					what := fmt.Sprintf("The goal `%s`", v)
					if page, ok := strings.CutPrefix(v, "Visit "); ok {
						what = fmt.Sprintf("The pageview goal for the pathname `%s`", page)
					}
					return analytics.Invalidf("filters", "%s is not configured for this site. Find out how to configure goals: waymark goal add --site %s --event NAME (or --page /PATH), or the site's settings in the dashboard",
						what, q.Site.Domain)
				}
			}
		}
		return nil
	}
	if err := check(q.Filters); err != nil {
		return err
	}
	// Grouping by goal on a site without goals answers no rows, as
	// Plausible does.
	q.NoGoals = len(q.Site.Goals) == 0
	return nil
}

func parseOrder(raw json.RawMessage, q *Query) ([]Order, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var list [][]string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, analytics.Invalidf("order_by", "must be a list of [field, \"asc\"|\"desc\"]")
	}
	var out []Order
	for i, o := range list {
		if len(o) != 2 || (o[1] != "asc" && o[1] != "desc") {
			return nil, analytics.Invalidf(fmt.Sprintf("order_by[%d]", i), "must be [field, \"asc\"|\"desc\"]")
		}
		if !slices.Contains(q.Metrics, o[0]) && !slices.Contains(q.Dimensions, o[0]) {
			return nil, analytics.Invalidf(fmt.Sprintf("order_by[%d]", i), "%q is neither a metric nor a dimension of this query", o[0])
		}
		out = append(out, Order{Field: o[0], Desc: o[1] == "desc"})
	}
	return out, nil
}

func isRealtime(raw json.RawMessage) bool {
	var s string
	return json.Unmarshal(raw, &s) == nil && s == "realtime"
}

// RealtimeWindow is the span of "current visitors".
const RealtimeWindow = 5 * time.Minute

// ResolveRange turns a date_range into [from, to) instants. Relative ranges
// end today (or on date, when given) in the site's time zone.
func ResolveRange(raw json.RawMessage, date string, loc *time.Location, now, created time.Time) (time.Time, time.Time, error) {
	if len(raw) == 0 {
		return time.Time{}, time.Time{}, analytics.Invalidf("date_range", "missing, e.g. \"7d\" or [\"2024-01-01\", \"2024-01-31\"]")
	}
	local := now.In(loc)
	if date != "" {
		d, err := time.ParseInLocation(time.DateOnly, date, loc)
		if err != nil {
			return time.Time{}, time.Time{}, analytics.Invalidf("date", "must be YYYY-MM-DD")
		}
		local = d.Add(24*time.Hour - time.Nanosecond)
	}
	day := func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc) }
	today := day(local)
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "realtime":
			return now.Add(-RealtimeWindow).UTC(), now.Add(time.Millisecond).UTC(), nil
		case "day", "today":
			return today.UTC(), today.AddDate(0, 0, 1).UTC(), nil
		case "yesterday":
			return today.AddDate(0, 0, -1).UTC(), today.UTC(), nil
		case "7d", "28d", "30d", "91d":
			var n int
			fmt.Sscanf(s, "%dd", &n)
			return today.AddDate(0, 0, 1-n).UTC(), today.AddDate(0, 0, 1).UTC(), nil
		case "month":
			m := time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, loc)
			return m.UTC(), m.AddDate(0, 1, 0).UTC(), nil
		case "last_month":
			m := time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, loc)
			return m.AddDate(0, -1, 0).UTC(), m.UTC(), nil
		case "6mo", "12mo":
			n := 6
			if s == "12mo" {
				n = 12
			}
			m := time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, loc)
			return m.AddDate(0, 1-n, 0).UTC(), m.AddDate(0, 1, 0).UTC(), nil
		case "year":
			y := time.Date(local.Year(), 1, 1, 0, 0, 0, 0, loc)
			return y.UTC(), y.AddDate(1, 0, 0).UTC(), nil
		case "all":
			start := day(created.In(loc))
			if created.IsZero() || start.After(today) {
				start = today.AddDate(-1, 0, 0)
			}
			return start.UTC(), today.AddDate(0, 0, 1).UTC(), nil
		}
		return time.Time{}, time.Time{}, analytics.InvalidHint("date_range", fmt.Sprintf("#/date_range: Invalid date range %q", s),
			"use day, yesterday, 7d, 28d, 30d, 91d, month, last_month, 6mo, 12mo, year, all, realtime, or [from, to]")
	}
	var pair []string
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return time.Time{}, time.Time{}, analytics.Invalidf("date_range", "must be a range name or [from, to] ISO 8601 dates or date-times")
	}
	parse := func(v string, end bool) (time.Time, error) {
		if t, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
			if end {
				return t.AddDate(0, 0, 1), nil
			}
			return t, nil
		}
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t, nil
		}
		return time.Time{}, analytics.Invalidf("date_range", "%q is not YYYY-MM-DD or an RFC 3339 date-time", v)
	}
	from, err := parse(pair[0], false)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	to, err := parse(pair[1], true)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	if !from.Before(to) {
		return time.Time{}, time.Time{}, analytics.Invalidf("date_range", "the start must come before the end")
	}
	return from.UTC(), to.UTC(), nil
}

// TimeDimension returns the query's time dimension ("" if none), with
// "time" resolved to a granularity that suits the range.
func (q *Query) TimeDimension() string {
	for _, d := range q.Dimensions {
		if d == "time" {
			return "time:" + AutoGranularity(q.From, q.To)
		}
		if strings.HasPrefix(d, "time:") {
			return d
		}
	}
	return ""
}

// AutoGranularity picks hour, day or month for a range.
func AutoGranularity(from, to time.Time) string {
	switch span := to.Sub(from); {
	case span <= 48*time.Hour:
		return "hour"
	case span <= 100*24*time.Hour:
		return "day"
	default:
		return "month"
	}
}

// PlausibleRules refuses what Plausible's Stats API refuses, with its
// wording: the API applies them; the dashboard, which shows views per
// visit beside a page filter, does not.
func PlausibleRules(q *Query) error {
	has := func(m string) bool { return slices.Contains(q.Metrics, m) }
	if has(MetricViewsPerVisit) {
		if filtersUse(q.Filters, "event:page") {
			return analytics.Invalidf("metrics", "Metric `views_per_visit` cannot be queried with a filter on `event:page`")
		}
		if len(q.Dimensions) > 0 {
			return analytics.Invalidf("metrics", "Metric `views_per_visit` cannot be queried with `dimensions`")
		}
	}
	var session []string
	for _, m := range []string{MetricBounceRate, MetricViewsPerVisit, MetricVisitDuration} {
		if has(m) {
			session = append(session, "`"+m+"`")
		}
	}
	if len(session) > 0 && slices.ContainsFunc(q.Dimensions, func(d string) bool {
		return d == "event:name" || strings.HasPrefix(d, "event:props:")
	}) {
		return analytics.Invalidf("metrics", "Session metric(s) %s cannot be queried along with event dimensions", strings.Join(session, ", "))
	}
	var bad error
	var walk func([]Filter)
	walk = func(fs []Filter) {
		for _, f := range fs {
			walk(f.Children)
			if f.Dimension != "visit:country" || f.Op != "is" && f.Op != "is_not" {
				continue
			}
			for _, v := range f.Values {
				if len(v) != 2 || v[0] < 'A' || v[0] > 'Z' || v[1] < 'A' || v[1] > 'Z' {
					bad = analytics.Invalidf("filters", "Invalid visit:country filter, visit:country needs to be a valid 2-letter country code")
				}
			}
		}
	}
	walk(q.Filters)
	return bad
}

// ChartUnit picks the time dimension a chart of the range [from, to) is
// drawn in: hours for a day, days up to about three months, weeks up to
// about a year, months beyond.
func ChartUnit(from, to time.Time) string {
	switch span := to.Sub(from); {
	case span <= 26*time.Hour: // one day, also across a DST change
		return "time:hour"
	case span <= 100*24*time.Hour:
		return "time:day"
	case span <= 400*24*time.Hour:
		return "time:week"
	}
	return "time:month"
}
