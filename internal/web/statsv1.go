package web

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/stats"
)

// Plausible's Stats API v1 (GET /api/v1/stats/aggregate, timeseries and
// breakdown): its parameters (period, date, metrics, filters, property,
// interval, compare, limit, page) are turned into a v2 query and answered
// by the same engine; the answers have v1's shapes and its messages.

// v1Docs is where v1's messages send people for the accepted values.
const v1Docs = "docs/API.md, \"Plausible's Stats API v1\""

// v1Metrics are the metrics v1 knows (scroll depth and revenue came with v2).
var v1Metrics = []string{stats.MetricVisitors, stats.MetricVisits, stats.MetricPageviews, stats.MetricViewsPerVisit,
	stats.MetricBounceRate, stats.MetricVisitDuration, stats.MetricEvents, stats.MetricConversionRate,
	stats.MetricTimeOnPage, stats.MetricPercentage}

var v1Periods = []string{"day", "7d", "28d", "30d", "91d", "month", "6mo", "12mo", "year", "all", "custom"}

// v1Request is a v1 call turned into a v2 query.
type v1Request struct {
	qr       *stats.QueryRequest
	metrics  []string
	property string // breakdown
	// lastDays is a last-n-days period without a date: it ends the day
	// before the site's today, known once the site is.
	lastDays int
	// baseFilters are the filters without goals and custom properties:
	// a time series' conversion rates divide by each bucket's visitors
	// under them.
	baseFilters []any
}

// statsV1 serves one of v1's three query endpoints.
func (s *Server) statsV1(kind string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p := r.URL.Query()
		st, err := s.authorize(r, p.Get("site_id"))
		if err != nil {
			return err
		}
		req, err := parseV1(kind, p)
		if err != nil {
			return err
		}
		req.qr.SiteID = st.Domain
		if req.lastDays > 0 {
			now := s.Now().In(st.Location())
			setLastDays(req.qr, time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC), req.lastDays)
		}
		q, res, err := s.runQuery(r, st, req.qr, nil)
		if err != nil {
			return err
		}
		var out map[string]any
		switch kind {
		case "aggregate":
			out = map[string]any{"results": v1Aggregate(req.metrics, res)}
		case "timeseries":
			if err := s.bucketConversion(r, st, req, res); err != nil {
				return err
			}
			out = map[string]any{"results": v1Timeseries(q, req.metrics, res)}
		default:
			out = map[string]any{"results": v1Breakdown(req, res)}
		}
		// As v1 answers with_imported=true when imported data cannot be
		// merged for the query.
		if q.IncludeImports && !res.ImportsIncluded {
			if warn := importsWarnings[res.ImportsSkipReason]; warn != "" {
				out["warning"] = warn
			}
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

func parseV1(kind string, p url.Values) (*v1Request, error) {
	req := &v1Request{qr: &stats.QueryRequest{}}
	metrics := p.Get("metrics")
	if metrics == "" {
		metrics = stats.MetricVisitors
	}
	for _, m := range strings.Split(metrics, ",") {
		m = strings.TrimSpace(m)
		if !slices.Contains(v1Metrics, m) {
			return nil, analytics.InvalidHint("metrics", fmt.Sprintf("The metric `%s` is not recognized. Find valid metrics from the documentation: %s", m, v1Docs),
				"v1 metrics: "+strings.Join(v1Metrics, ", "))
		}
		if slices.Contains(req.metrics, m) {
			return nil, analytics.Invalidf("metrics", "Metrics cannot be queried multiple times.")
		}
		req.metrics = append(req.metrics, m)
	}
	req.qr.Metrics = req.metrics
	req.qr.Include.Imports = p.Get("with_imported") == "true"
	if err := v1DateRange(req, p.Get("period"), p.Get("date")); err != nil {
		return nil, err
	}
	filters, err := parseV1Filters(p.Get("filters"))
	if err != nil {
		return nil, err
	}
	if err := v1Rules(kind, req.metrics, filters, p.Get("property")); err != nil {
		return nil, err
	}
	if len(filters) > 0 {
		req.qr.Filters, _ = json.Marshal(filters)
	}
	for _, f := range filters {
		if l, ok := f.([]any); ok && len(l) > 1 {
			if d, _ := l[1].(string); d == "event:goal" || strings.HasPrefix(d, "event:props:") {
				continue
			}
		}
		req.baseFilters = append(req.baseFilters, f)
	}
	switch kind {
	case "timeseries":
		iv := p.Get("interval")
		if iv == "" {
			switch p.Get("period") {
			case "day":
				iv = "hour"
			case "6mo", "12mo", "year":
				iv = "month"
			default:
				iv = "date"
			}
		}
		switch iv {
		case "date", "day": // "date" is v1's older name
			req.qr.Dimensions = []string{"time:day"}
		case "hour", "week", "month":
			req.qr.Dimensions = []string{"time:" + iv}
		default:
			return nil, analytics.InvalidHint("interval", fmt.Sprintf("Error parsing `interval` parameter: invalid interval `%s`. Valid intervals are `day`, `month`", iv),
				"Waymark also takes hour and week")
		}
		req.qr.Include.TimeLabels = true
	case "breakdown":
		prop := p.Get("property")
		if prop == "" {
			return nil, analytics.Invalidf("property", "The `property` parameter is required. Please provide at least one property to show a breakdown by.")
		}
		if prop == "event:props:" || !strings.HasPrefix(prop, "event:") && !strings.HasPrefix(prop, "visit:") {
			return nil, analytics.Invalidf("property", "Invalid property '%s'. Please provide a valid property for the breakdown endpoint: %s", prop, v1Docs)
		}
		if prop == "event:hostname" {
			return nil, analytics.Invalidf("property", "Property 'event:hostname' is currently not supported for breakdowns. Use event:hostname as a filter, or the v2 API.")
		}
		req.property = prop
		req.qr.Dimensions = []string{prop}
		// A version is broken down with its browser or system beside it.
		if parent, ok := map[string]string{"visit:os_version": "visit:os", "visit:browser_version": "visit:browser"}[prop]; ok {
			req.qr.Dimensions = append(req.qr.Dimensions, parent)
		}
		limit := 100
		if l := p.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 1 || n > stats.MaxLimit {
				return nil, analytics.Invalidf("limit", "Please provide limit as a number between 1 and %d.", stats.MaxLimit)
			}
			limit = n
		}
		page := 1
		if pg := p.Get("page"); pg != "" {
			n, err := strconv.Atoi(pg)
			if err != nil || n < 1 {
				return nil, analytics.Invalidf("page", "Please provide page as a number greater than 0.")
			}
			page = n
		}
		req.qr.Pagination.Limit = &limit
		req.qr.Pagination.Offset = (page - 1) * limit
	}
	if c := p.Get("compare"); c != "" {
		if c != "previous_period" || kind != "aggregate" {
			return nil, analytics.Invalidf("compare", "Error parsing `compare` parameter: only `previous_period` is supported, on the aggregate endpoint")
		}
		req.qr.Include.Comparisons = &struct {
			Mode           string          `json:"mode"`
			DateRange      json.RawMessage `json:"date_range,omitempty"`
			MatchDayOfWeek bool            `json:"match_day_of_week,omitempty"`
		}{Mode: "previous_period"}
	}
	return req, nil
}

// v1DateRange sets the v2 date range of a v1 period and date.
func v1DateRange(req *v1Request, period, date string) error {
	qr := req.qr
	if period == "" {
		period = "30d"
	}
	if !slices.Contains(v1Periods, period) {
		return analytics.InvalidHint("period", fmt.Sprintf("Error parsing `period` parameter: invalid period `%s`. Please find accepted values in our docs: %s", period, v1Docs),
			"periods: "+strings.Join(v1Periods, ", "))
	}
	if period == "custom" {
		if date == "" {
			return analytics.Invalidf("date", "The `date` parameter is required when using a custom period. See %s", v1Docs)
		}
		from, to, ok := strings.Cut(date, ",")
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		_, e1 := time.Parse(time.DateOnly, from)
		_, e2 := time.Parse(time.DateOnly, to)
		if !ok || e1 != nil || e2 != nil {
			return analytics.Invalidf("date", "Invalid format for `date` parameter. When using a custom period, please include two ISO-8601 formatted dates joined by a comma. See %s", v1Docs)
		}
		qr.DateRange, _ = json.Marshal([]string{from, to})
		return nil
	}
	if date != "" {
		d, err := time.Parse(time.DateOnly, date)
		if err != nil {
			return analytics.Invalidf("date", "Error parsing `date` parameter: invalid_format. Please specify a valid date in ISO-8601 format.")
		}
		if n := lastDays(period); n > 0 {
			setLastDays(qr, d, n)
			return nil
		}
		qr.Date = date
	}
	req.lastDays = lastDays(period) // set once the site's today is known
	qr.DateRange, _ = json.Marshal(period)
	return nil
}

// lastDays is the length of a v1 last-n-days period, 0 for others.
func lastDays(period string) int {
	return map[string]int{"7d": 7, "28d": 28, "30d": 30, "91d": 91}[period]
}

// setLastDays sets the n days before day (v1's last-n-days periods end
// the day before their date, today by default).
func setLastDays(qr *stats.QueryRequest, day time.Time, n int) {
	qr.DateRange, _ = json.Marshal([]string{day.AddDate(0, 0, -n).Format(time.DateOnly), day.AddDate(0, 0, -1).Format(time.DateOnly)})
}

// parseV1Filters reads v1's filter syntax: filters joined by ";", each
// dimension, operator (== is, != is not, ~ contains, !~ contains not) and
// values joined by "|" ("\|" is a literal bar); "*" in an == or != value
// is a wildcard ("**" across slashes), as v1's page filters take them.
func parseV1Filters(s string) ([]any, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if !utf8.ValidString(s) {
		return nil, analytics.Invalidf("filters", "Error parsing `filters` parameter: not valid UTF-8")
	}
	var out []any
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var dim, op, val string
		for _, o := range []struct{ sym, op string }{{"!=", "is_not"}, {"==", "is"}, {"!~", "contains_not"}, {"~", "contains"}} {
			if i := strings.Index(part, o.sym); i > 0 && (op == "" || i < len(dim)) {
				dim, op, val = strings.TrimSpace(part[:i]), o.op, part[i+len(o.sym):]
			}
		}
		if op == "" || dim == "" {
			return nil, analytics.Invalidf("filters", "Error parsing `filters` parameter: invalid filter `%s`: use dimension==value, !=, ~ or !~, joined by ;", part)
		}
		if !strings.HasPrefix(dim, "event:") && !strings.HasPrefix(dim, "visit:") {
			return nil, analytics.Invalidf("filters", "Invalid filter property '%s'. Please provide a valid filter property: %s", dim, v1Docs)
		}
		vals := splitV1Values(val)
		// Goal names keep their "*" (Visit /blog**).
		wild := dim != "event:goal" && slices.ContainsFunc(vals, func(v string) bool { return strings.Contains(v, "*") })
		if wild && (op == "is" || op == "is_not") {
			pats := make([]string, len(vals))
			for i, v := range vals {
				pats[i] = globRegexp(v)
			}
			op = map[string]string{"is": "matches", "is_not": "matches_not"}[op]
			vals = pats
		}
		out = append(out, []any{op, dim, vals})
	}
	return out, nil
}

func splitV1Values(s string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '|':
			cur.WriteByte('|')
			i++
		case s[i] == '|':
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	return append(out, strings.TrimSpace(cur.String()))
}

// globRegexp turns a v1 wildcard value into an anchored regular
// expression: "**" any characters, "*" any but "/".
func globRegexp(v string) string {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(v); {
		switch {
		case strings.HasPrefix(v[i:], "**"):
			b.WriteString(".*")
			i += 2
		case v[i] == '*':
			b.WriteString("[^/]*")
			i++
		default:
			_, n := utf8.DecodeRuneInString(v[i:])
			b.WriteString(regexp.QuoteMeta(v[i : i+n]))
			i += n
		}
	}
	b.WriteString("$")
	return b.String()
}

// v1Rules are v1's own refusals, in its wording.
func v1Rules(kind string, metrics []string, filters []any, property string) error {
	var eventFilter, pageFilter, goalFilter string
	for _, f := range filters {
		dim := f.([]any)[1].(string)
		switch {
		case dim == "event:page":
			pageFilter = dim
		case dim == "event:goal":
			goalFilter = dim
			if eventFilter == "" {
				eventFilter = dim
			}
		case dim == "event:name" || strings.HasPrefix(dim, "event:props:"):
			if eventFilter == "" {
				eventFilter = dim
			}
		}
	}
	byEvent := property == "event:name" || strings.HasPrefix(property, "event:props:")
	for _, m := range metrics {
		session := m == stats.MetricBounceRate || m == stats.MetricVisitDuration || m == stats.MetricViewsPerVisit || m == stats.MetricVisits
		switch {
		case m == stats.MetricViewsPerVisit && pageFilter != "":
			return analytics.Invalidf("metrics", "Metric `views_per_visit` cannot be queried with a filter on `event:page`.")
		case session && m != stats.MetricVisits && eventFilter != "":
			return analytics.Invalidf("metrics", "Session metric `%s` cannot be queried when using a filter on `%s`.", m, eventFilter)
		case session && m != stats.MetricVisits && kind == "breakdown" && byEvent:
			return analytics.Invalidf("metrics", "Session metric `%s` cannot be queried for breakdown by `%s`.", m, property)
		case m == stats.MetricConversionRate && goalFilter == "" && property != "event:goal":
			return analytics.Invalidf("metrics", "Metric `conversion_rate` can only be queried in a goal breakdown or with a goal filter")
		case m == stats.MetricTimeOnPage && kind == "breakdown" && property != "event:page":
			return analytics.Invalidf("metrics", "Metric `time_on_page` is not supported in breakdown queries (except `event:page` breakdown)")
		case m == stats.MetricTimeOnPage && kind != "breakdown" && pageFilter == "":
			return analytics.Invalidf("metrics", "Metric `time_on_page` can only be queried in a page breakdown or with a page filter.")
		case m == stats.MetricTimeOnPage && goalFilter != "":
			return analytics.Invalidf("metrics", "Metric `time_on_page` cannot be queried when filtering by `event:goal`")
		case m == stats.MetricTimeOnPage && eventFilter == "event:name":
			return analytics.Invalidf("metrics", "Metric `time_on_page` cannot be queried when filtering by `event:name`")
		}
	}
	return nil
}

// v1Value is a figure as v1 writes it: whole numbers without a fraction.
func v1Value(v float64) any {
	if math.IsNaN(v) {
		return nil
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return int64(v)
	}
	return v
}

func v1Aggregate(metrics []string, res *stats.Result) map[string]any {
	out := map[string]any{}
	var row stats.Row
	if len(res.Rows) > 0 {
		row = res.Rows[0]
	}
	for i, m := range metrics {
		v := 0.0
		if i < len(row.Metrics) {
			v = row.Metrics[i]
		}
		fig := map[string]any{"value": v1Value(v)}
		if c := row.Comparison; c != nil {
			prev := c.Metrics[i]
			fig["comparison_value"] = v1Value(prev)
			fig["change"] = v1Change(m, v, prev)
		}
		out[m] = fig
	}
	return out
}

// v1Change is v1's change: points for rates (none from a bounce rate of
// 0), percent otherwise, as the v2 engine gives it.
func v1Change(metric string, cur, prev float64) any {
	switch metric {
	case stats.MetricBounceRate:
		if prev == 0 {
			return nil
		}
		return v1Value(cur - prev)
	case stats.MetricConversionRate:
		return v1Value(math.Round((cur-prev)*10) / 10)
	}
	if prev == 0 {
		if cur == 0 {
			return int64(0)
		}
		return int64(100)
	}
	return v1Value(math.Round((cur - prev) / prev * 100))
}

// bucketConversion sets a time series' conversion rates as v1 has them:
// each bucket's converted visitors over that bucket's visitors (without
// the goal and property filters), imported ones too when included.
func (s *Server) bucketConversion(r *http.Request, st *site.Site, req *v1Request, res *stats.Result) error {
	ci := slices.Index(req.metrics, stats.MetricConversionRate)
	if ci < 0 {
		return nil
	}
	count := func(filters []any) (map[string]float64, error) {
		qr := *req.qr
		qr.Metrics = []string{stats.MetricVisitors}
		qr.Filters = nil
		// Imported visitors count in the base only when the series has
		// them, as in Plausible.
		qr.Include.Imports = req.qr.Include.Imports && res.ImportsIncluded
		if len(filters) > 0 {
			qr.Filters, _ = json.Marshal(filters)
		}
		_, r2, err := s.runQuery(r, st, &qr, nil)
		if err != nil {
			return nil, err
		}
		out := map[string]float64{}
		for _, row := range r2.Rows {
			out[row.Dimensions[0]] = row.Metrics[0]
		}
		return out, nil
	}
	var all []any
	if len(req.qr.Filters) > 0 {
		json.Unmarshal(req.qr.Filters, &all)
	}
	converted, err := count(all)
	if err != nil {
		return err
	}
	base, err := count(req.baseFilters)
	if err != nil {
		return err
	}
	for i := range res.Rows {
		l := res.Rows[i].Dimensions[0]
		v := 0.0
		if b := base[l]; b > 0 {
			v = math.Round(converted[l]/b*100*100) / 100
		}
		res.Rows[i].Metrics[ci] = v
	}
	return nil
}

func v1Timeseries(q *stats.Query, metrics []string, res *stats.Result) []map[string]any {
	byLabel := map[string]stats.Row{}
	for _, r := range res.Rows {
		byLabel[r.Dimensions[0]] = r
	}
	labels := res.TimeLabels
	if len(labels) == 0 {
		labels = stats.TimeLabels(q.TimeDimension(), q.From, q.To, q.Location)
	}
	out := make([]map[string]any, 0, len(labels))
	for _, l := range labels {
		m := map[string]any{"date": l}
		r, ok := byLabel[l]
		for i, name := range metrics {
			switch {
			case ok:
				m[name] = v1Value(r.Metrics[i])
			case name == stats.MetricVisitDuration || name == stats.MetricTimeOnPage:
				m[name] = nil // a bucket without visits has no duration, as v1 answers
			default:
				m[name] = int64(0)
			}
		}
		out = append(out, m)
	}
	return out
}

func v1Breakdown(req *v1Request, res *stats.Result) []map[string]any {
	key := req.property[strings.LastIndex(req.property, ":")+1:]
	out := make([]map[string]any, 0, len(res.Rows))
	for _, r := range res.Rows {
		if strings.HasPrefix(req.property, "visit:utm_") && r.Dimensions[0] == "(not set)" {
			continue // v1 leaves out the visits without the tag
		}
		m := map[string]any{key: r.Dimensions[0]}
		if len(r.Dimensions) > 1 {
			m[strings.TrimSuffix(key, "_version")] = r.Dimensions[1]
		}
		if req.property == "visit:city" {
			n, _ := strconv.ParseUint(r.Dimensions[0], 10, 32)
			m[key] = n
		}
		for i, name := range req.metrics {
			m[name] = v1Value(r.Metrics[i])
		}
		out = append(out, m)
	}
	return out
}
