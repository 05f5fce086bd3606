package app

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"waymark.dev/waymark/internal/duckdb"
	"waymark.dev/waymark/internal/imported"
	"waymark.dev/waymark/internal/stats"
)

// TestExportImportRoundTrip exports a site's native events in Plausible's
// format, imports the archive into a fresh store, and checks that the
// Stats API answers the same with include.imports wherever daily
// aggregates determine the answer; then that exporting the imported
// history gives the same files.
func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	a, err := duckdb.Open(ctx, filepath.Join(t.TempDir(), "a.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	s := demoSite()
	s.TimeZone = "Europe/Tallinn" // days that are not UTC days
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	if _, err := demoTraffic(ctx, a, now, 6, 6000, 7); err != nil {
		t.Fatal(err)
	}
	loc := s.Location()
	first := time.Date(2026, 11, 14, 0, 0, 0, 0, loc)
	last := time.Date(2026, 11, 20, 0, 0, 0, 0, loc)
	exportA := &stats.Export{Reader: a, Imports: a, Site: s, From: first, To: last, ChunkDays: 3}
	var zipA bytes.Buffer
	if err := exportA.WriteZip(ctx, &zipA); err != nil {
		t.Fatal(err)
	}

	b, err := duckdb.Open(ctx, filepath.Join(t.TempDir(), "b.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data := zipA.Bytes()
	res, err := imported.Run(ctx, b, []imported.File{{Name: exportA.FileName(), Size: int64(len(data)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}},
		imported.Options{Site: s.Domain, Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != imported.SourcePlausible || res.Rows == 0 || !res.Complete {
		t.Fatalf("import: %+v", res.Import)
	}

	noPageviews := []stats.Filter{{Op: "is_not", Dimension: "event:name", Values: []string{"pageview"}, CaseSensitive: true}}
	query := func(st stats.StatsReader, from, to time.Time, metrics, dims []string, imports bool) []stats.Row {
		t.Helper()
		q := &stats.Query{Site: s, Metrics: metrics, Dimensions: dims, From: from, To: to, Location: loc,
			Limit: 10000, IncludeImports: imports}
		if slices.Equal(dims, []string{"event:name"}) {
			q.Filters = noPageviews // the custom events table has custom events only, as Plausible's
		}
		if len(dims) > 0 {
			q.OrderBy = []stats.Order{{Field: dims[0]}}
			for _, d := range dims[1:] {
				q.OrderBy = append(q.OrderBy, stats.Order{Field: d})
			}
		}
		r, err := st.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if imports && !r.ImportsIncluded {
			t.Fatalf("%v by %v: imports not included (%s)", metrics, dims, r.ImportsSkipReason)
		}
		return r.Rows
	}
	same := func(name string, want, got []stats.Row, tolerance float64) {
		t.Helper()
		if len(want) != len(got) {
			t.Errorf("%s: %d rows natively, %d imported\nnative %v\nimport %v", name, len(want), len(got), want, got)
			return
		}
		for i := range want {
			if !slices.Equal(want[i].Dimensions, got[i].Dimensions) {
				t.Errorf("%s: row %d: %v natively, %v imported", name, i, want[i].Dimensions, got[i].Dimensions)
				return
			}
			for j := range want[i].Metrics {
				w, g := want[i].Metrics[j], got[i].Metrics[j]
				if math.IsNaN(w) != math.IsNaN(g) || math.Abs(w-g) > tolerance {
					t.Errorf("%s: %v metric %d: %v natively, %v imported", name, want[i].Dimensions, j, w, g)
				}
			}
		}
	}
	visit := []string{"visitors", "visits", "pageviews", "bounce_rate", "visit_duration", "views_per_visit"}
	// Visitors of a range are not the sum of its days' visitors, and the
	// visitors table's events are its pageviews (as in Plausible): the
	// rest adds up over days.
	additive := []string{"visits", "pageviews", "bounce_rate", "visit_duration", "views_per_visit"}
	whole := last.AddDate(0, 0, 1)
	same("time:day", query(a, first, whole, visit, []string{"time:day"}, false), query(b, first, whole, visit, []string{"time:day"}, true), 0)
	same("whole range", query(a, first, whole, additive, nil, false), query(b, first, whole, additive, nil, true), 0)
	for d := first; d.Before(whole); d = d.AddDate(0, 0, 1) {
		next := d.AddDate(0, 0, 1)
		day := d.Format(time.DateOnly)
		for _, c := range []struct {
			dims, metrics []string
			tolerance     float64
		}{
			{nil, visit, 0},
			{[]string{"visit:entry_page"}, visit, 0},
			{[]string{"visit:exit_page"}, []string{"visitors", "visits", "bounce_rate", "visit_duration"}, 0},
			{[]string{"visit:device"}, visit, 0},
			{[]string{"visit:browser", "visit:browser_version"}, visit, 0},
			{[]string{"visit:os", "visit:os_version"}, visit, 0},
			{[]string{"visit:country", "visit:region", "visit:city"}, visit, 0},
			{[]string{"visit:source"}, additive, 0},
			{[]string{"visit:channel"}, additive, 0},
			{[]string{"event:page"}, []string{"visitors", "visits", "pageviews"}, 0},
			{[]string{"event:page"}, []string{"time_on_page", "scroll_depth"}, 1},
			{[]string{"event:name"}, []string{"visitors", "events"}, 0},
			{[]string{"event:goal"}, []string{"visitors", "events"}, 0},
			// Natively a conversion rate divides by the day's visitors
			// with any event, the imported one by those whose visits
			// started that day: a visit across midnight tells them apart.
			{[]string{"event:goal"}, []string{"conversion_rate"}, 0.5},
		} {
			name := fmt.Sprintf("%s by %v", day, c.dims)
			same(name, query(a, d, next, c.metrics, c.dims, false), query(b, d, next, c.metrics, c.dims, true), c.tolerance)
		}
	}

	// Leaving again: the imported history exports as the same files.
	var zipB bytes.Buffer
	exportB := &stats.Export{Reader: b, Imports: b, Site: s, From: first, To: last}
	if err := exportB.WriteZip(ctx, &zipB); err != nil {
		t.Fatal(err)
	}
	fa, fb := zipFiles(t, zipA.Bytes()), zipFiles(t, zipB.Bytes())
	if len(fa) != 10 {
		t.Errorf("export has %d files, want Plausible's 10", len(fa))
	}
	for name, want := range fa {
		if got := fb[name]; !slices.Equal(want, got) {
			t.Errorf("%s differs after the round trip: %d lines, then %d", name, len(want), len(got))
		}
	}
}

// zipFiles reads an archive's CSV files as sorted lines (rows of one day
// may come in any order).
func zipFiles(t *testing.T, b []byte) map[string][]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		slices.Sort(lines[1:])
		out[f.Name] = lines
	}
	return out
}
