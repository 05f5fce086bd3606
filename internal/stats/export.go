package stats

import (
	"archive/zip"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"waymark.dev/waymark/internal/imported"
	"waymark.dev/waymark/internal/site"
)

// exportSpec says how native data fills one of Plausible's tables: the
// dimensions after the day, in the table's text column order, and the
// metrics in its numeric column order. Special custom events (whose url
// or path property Plausible's table keeps) are exported by their own
// passes.
type exportSpec struct {
	table   string
	dims    []string
	metrics []string
	filters []Filter
}

var (
	urlGoals  = importedProps["event:props:url"].goals
	pathGoals = importedProps["event:props:path"].goals
	visitExp  = []string{MetricVisitors, MetricVisits, metricDuration, metricBounces, MetricPageviews}
)

var exportSpecs = []exportSpec{
	{table: "imported_visitors", metrics: []string{MetricVisitors, MetricPageviews, metricBounces, MetricVisits, metricDuration}},
	{table: "imported_sources", dims: []string{"visit:source", "visit:referrer", "visit:utm_source", "visit:utm_medium", "visit:utm_campaign", "visit:utm_content", "visit:utm_term", "visit:channel"},
		metrics: []string{MetricPageviews, MetricVisitors, MetricVisits, metricDuration, metricBounces}},
	{table: "imported_pages", dims: []string{"event:hostname", "event:page"},
		metrics: []string{MetricVisits, MetricVisitors, MetricPageviews, metricScrollTotal, metricEngagedViews, metricEngagedSeconds, metricEngagedViews}},
	{table: "imported_entry_pages", dims: []string{"visit:entry_page"}, metrics: []string{MetricVisitors, MetricVisits, metricDuration, metricBounces, MetricPageviews}},
	{table: "imported_exit_pages", dims: []string{"visit:exit_page"}, metrics: []string{MetricVisitors, metricDuration, MetricVisits, metricBounces, MetricPageviews}},
	{table: "imported_custom_events", dims: []string{"event:name", "", ""}, metrics: []string{MetricVisitors, MetricEvents},
		filters: []Filter{{Op: "is_not", Dimension: "event:name", Values: append(append([]string{"pageview", "engagement"}, urlGoals...), pathGoals...), CaseSensitive: true}}},
	{table: "imported_custom_events", dims: []string{"event:name", "event:props:url", ""}, metrics: []string{MetricVisitors, MetricEvents},
		filters: []Filter{{Op: "is", Dimension: "event:name", Values: urlGoals, CaseSensitive: true}}},
	{table: "imported_custom_events", dims: []string{"event:name", "", "event:props:path"}, metrics: []string{MetricVisitors, MetricEvents},
		filters: []Filter{{Op: "is", Dimension: "event:name", Values: pathGoals, CaseSensitive: true}}},
	{table: "imported_locations", dims: []string{"visit:country", "visit:region", "visit:city", "", "", ""}, metrics: visitExp},
	{table: "imported_devices", dims: []string{"visit:device"}, metrics: visitExp},
	{table: "imported_browsers", dims: []string{"visit:browser", "visit:browser_version"}, metrics: visitExp},
	{table: "imported_operating_systems", dims: []string{"visit:os", "visit:os_version"}, metrics: visitExp},
}

// Export is a site's data for an export: the native events (read
// through Reader) and, with Imports, its imported history too, so that
// leaving keeps what was brought in.
type Export struct {
	Reader  StatsReader
	Imports imported.Store // nil: native data only
	Site    *site.Site
	// From and To are the first and last day (the site's local dates).
	From, To time.Time
	// ChunkDays is how many days one query reads (memory holds one
	// chunk's rows of one table); 7 by default.
	ChunkDays int
}

// FileName is the archive's name, as Plausible names its exports.
func (e *Export) FileName() string {
	return strings.ReplaceAll(e.Site.Domain, ".", "_") + "_" + e.To.Format("20060102") + ".zip"
}

// WriteZip writes Plausible's export archive: one CSV file per table,
// with Plausible's names and columns, read and written a chunk of days at
// a time.
func (e *Export) WriteZip(ctx context.Context, w io.Writer) error {
	zw := zip.NewWriter(w)
	suffix := "_" + e.From.Format("20060102") + "_" + e.To.Format("20060102") + ".csv"
	for _, t := range imported.Tables {
		f, err := zw.Create(t.Name + suffix)
		if err != nil {
			return err
		}
		if err := e.WriteTable(ctx, f, t); err != nil {
			return err
		}
	}
	return zw.Close()
}

// WriteTable writes one table as Plausible's CSV file.
func (e *Export) WriteTable(ctx context.Context, w io.Writer, t *imported.Table) error {
	cw := csv.NewWriter(w)
	head := []string{"date"}
	for _, c := range t.Text {
		if c.CSV != "" {
			head = append(head, c.CSV)
		}
	}
	for _, c := range t.Nums {
		head = append(head, c.CSV)
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	rec := make([]string, 0, len(head))
	write := func(r imported.Row) error {
		rec = append(rec[:0], imported.FormatDay(r.Date))
		text := imported.Denormalize(t, r.Text)
		for i, c := range t.Text {
			if c.CSV != "" {
				rec = append(rec, text[i])
			}
		}
		for _, n := range r.Nums {
			rec = append(rec, strconv.FormatInt(n, 10))
		}
		return cw.Write(rec)
	}
	chunk := e.ChunkDays
	if chunk <= 0 {
		chunk = 7
	}
	loc := e.Site.Location()
	first, last := imported.Day(e.From), imported.Day(e.To)
	for d := first; d <= last; d += int32(chunk) {
		end := min(d+int32(chunk)-1, last)
		for _, spec := range exportSpecs {
			if spec.table != t.Name {
				continue
			}
			rows, err := e.nativeRows(ctx, spec, t, d, end, loc)
			if err != nil {
				return err
			}
			for _, r := range rows {
				if err := write(r); err != nil {
					return err
				}
			}
		}
		if e.Imports != nil {
			if err := e.Imports.ScanRows(ctx, e.Site.Domain, t, d, end, write); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// dayStart is the instant a local day starts.
func dayStart(day int32, loc *time.Location) time.Time {
	d := imported.Date(day)
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
}

// nativeRows reads one spec's rows for days [from, to].
func (e *Export) nativeRows(ctx context.Context, spec exportSpec, t *imported.Table, from, to int32, loc *time.Location) ([]imported.Row, error) {
	dims := []string{"time:day"}
	pos := make([]int, len(spec.dims)) // result column of each text column, -1 none
	for i, d := range spec.dims {
		pos[i] = -1
		if d != "" {
			pos[i] = len(dims)
			dims = append(dims, d)
		}
	}
	q := &Query{Site: e.Site, Metrics: spec.metrics, Dimensions: dims, Filters: spec.filters,
		From: dayStart(from, loc), To: dayStart(to+1, loc), Location: loc, Limit: math.MaxInt32,
		OrderBy: []Order{{Field: "time:day"}}}
	res, err := e.Reader.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("stats: export %s: %w", t.Name, err)
	}
	out := make([]imported.Row, 0, len(res.Rows))
	for _, r := range res.Rows {
		day, err := time.Parse(time.DateOnly, r.Dimensions[0])
		if err != nil {
			return nil, fmt.Errorf("stats: export %s: day %q", t.Name, r.Dimensions[0])
		}
		row := imported.Row{Date: imported.Day(day), Text: make([]string, len(t.Text)), Nums: make([]int64, len(t.Nums))}
		for i, p := range pos {
			if p < 0 {
				continue
			}
			v := r.Dimensions[p]
			if v == noneValue(dims[p]) || v == "(not set)" {
				v = ""
			}
			row.Text[i] = v
		}
		for i, v := range r.Metrics {
			if !math.IsNaN(v) {
				row.Nums[i] = int64(math.Round(v))
			}
		}
		if rowEmpty(row) {
			continue
		}
		out = append(out, row)
	}
	return out, nil
}

func rowEmpty(r imported.Row) bool {
	for _, n := range r.Nums {
		if n != 0 {
			return false
		}
	}
	return true
}
