package analyticstest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"waymark.dev/waymark/internal/imported"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/stats"
)

// RunImports checks an event store's keeping of imported history: an
// import's rows are invisible until it completes, queries merge them
// with include.imports, ScanRows streams them, and deleting removes
// exactly that import. The site has no native events.
func RunImports(t *testing.T, s Store) {
	ctx := context.Background()
	st, ok := s.(imported.Store)
	if !ok {
		t.Fatal("the store keeps no imports (imported.Store)")
	}
	sitex := &site.Site{Domain: "imports.test", TimeZone: "Europe/Berlin", CreatedAt: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
	day := func(s string) int32 {
		d, _ := time.Parse(time.DateOnly, s)
		return imported.Day(d)
	}
	visitors := imported.TableNamed("imported_visitors")
	sources := imported.TableNamed("imported_sources")
	write := func(id int64, complete bool, rows map[*imported.Table][]imported.Row) imported.Import {
		imp := imported.Import{ID: id, Site: sitex.Domain, Source: imported.SourcePlausible, Label: fmt.Sprintf("import %d", id),
			From: day("2023-01-01"), To: day("2023-01-31"), Created: time.Date(2024, 1, 1, 0, 0, int(id%60), 0, time.UTC)}
		if err := st.BeginImport(ctx, imp); err != nil {
			t.Fatal(err)
		}
		for tb, rs := range rows {
			if err := st.AppendRows(ctx, &imp, tb, rs); err != nil {
				t.Fatal(err)
			}
			imp.Rows += int64(len(rs))
		}
		if complete {
			imp.Complete = true
			if err := st.FinishImport(ctx, imp); err != nil {
				t.Fatal(err)
			}
		}
		return imp
	}
	vrow := func(d string, v, pv, b, visits, dur int64) imported.Row {
		return imported.Row{Date: day(d), Nums: []int64{v, pv, b, visits, dur}}
	}
	srow := func(d, source string, pv, v, visits, dur, b int64) imported.Row {
		r := imported.Row{Date: day(d), Text: []string{source, "", "", "", "", "", "", ""}, Nums: []int64{pv, v, visits, dur, b}}
		imported.Normalize(sources, &r)
		return r
	}
	a := write(101, true, map[*imported.Table][]imported.Row{
		visitors: {vrow("2023-01-05", 10, 30, 4, 12, 600), vrow("2023-01-06", 5, 5, 5, 5, 0)},
		sources:  {srow("2023-01-05", "Google", 20, 6, 7, 400, 2), srow("2023-01-05", "", 10, 4, 5, 200, 2)},
	})
	write(102, false, map[*imported.Table][]imported.Row{visitors: {vrow("2023-01-05", 1000, 1000, 0, 1000, 0)}}) // still being written
	b := write(103, true, map[*imported.Table][]imported.Row{visitors: {vrow("2023-01-07", 2, 2, 0, 2, 20)}})

	query := func(q string) *stats.Result {
		qr, err := stats.DecodeQueryRequest([]byte(q))
		if err != nil {
			t.Fatal(err)
		}
		qq, err := qr.Build(sitex, time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Query(ctx, qq)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	t.Run("list", func(t *testing.T) {
		list, err := st.Imports(ctx, sitex.Domain)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, im := range list {
			got = append(got, fmt.Sprintf("%d %v %d", im.ID, im.Complete, im.Rows))
		}
		slices.Sort(got)
		if want := []string{"101 true 4", "102 false 0", "103 true 1"}; !slices.Equal(got, want) {
			t.Errorf("imports %v, want %v", got, want)
		}
	})
	t.Run("merged", func(t *testing.T) {
		res := query(`{"site_id":"imports.test","metrics":["visitors","pageviews","bounce_rate","visit_duration"],"date_range":["2023-01-01","2023-01-31"],"dimensions":["time:day"],"include":{"imports":true}}`)
		got := fmt.Sprint(flatten(res.Rows))
		want := fmt.Sprint([][]any{{"2023-01-05", 10.0, 30.0, 33.0, 50.0}, {"2023-01-06", 5.0, 5.0, 100.0, 0.0}, {"2023-01-07", 2.0, 2.0, 0.0, 10.0}})
		if got != want || !res.ImportsIncluded {
			t.Errorf("by day %s (included %v), want %s", got, res.ImportsIncluded, want)
		}
		res = query(`{"site_id":"imports.test","metrics":["visitors","visits"],"date_range":["2023-01-01","2023-01-31"],"dimensions":["visit:source"],"include":{"imports":true}}`)
		if got := fmt.Sprint(flatten(res.Rows)); got != fmt.Sprint([][]any{{"Google", 6.0, 7.0}, {"Direct / None", 4.0, 5.0}}) {
			t.Errorf("by source %s", got)
		}
		if res := query(`{"site_id":"imports.test","metrics":["visitors"],"date_range":["2023-01-01","2023-01-31"]}`); fmt.Sprint(flatten(res.Rows)) != "[[0]]" {
			t.Errorf("without include.imports: %v", flatten(res.Rows))
		}
	})
	t.Run("scan", func(t *testing.T) {
		var got []string
		err := st.ScanRows(ctx, sitex.Domain, visitors, day("2023-01-01"), day("2023-01-06"), func(r imported.Row) error {
			got = append(got, imported.FormatDay(r.Date)+" "+fmt.Sprint(r.Nums))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"2023-01-05 [10 30 4 12 600]", "2023-01-06 [5 5 5 5 0]"}; !slices.Equal(got, want) {
			t.Errorf("ScanRows %v, want %v", got, want)
		}
	})
	t.Run("delete", func(t *testing.T) {
		if err := st.DeleteImport(ctx, sitex.Domain, a.ID); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteImport(ctx, sitex.Domain, a.ID); !errors.Is(err, imported.ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
		res := query(`{"site_id":"imports.test","metrics":["visitors"],"date_range":["2023-01-01","2023-01-31"],"include":{"imports":true}}`)
		if got := fmt.Sprint(flatten(res.Rows)); got != "[[2]]" {
			t.Errorf("after deleting import %d: %s, want import %d's 2 visitors", a.ID, got, b.ID)
		}
		var n int
		st.ScanRows(ctx, sitex.Domain, sources, day("2023-01-01"), day("2023-01-31"), func(imported.Row) error { n++; return nil })
		if n != 0 {
			t.Errorf("%d source rows of the deleted import remain", n)
		}
	})
}
