package web

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"waymark.dev/waymark/internal/stats"
)

// exportLimit is the most rows a panel's CSV holds.
const exportLimit = stats.MaxLimit

// exportCSV sends every row of one panel of the view as CSV.
func (s *Server) exportCSV(w http.ResponseWriter, r *http.Request) error {
	st := viewerOf(r).site
	q := r.URL.Query()
	v, err := parseView(q)
	if err != nil {
		return err
	}
	if v.Period == "all" {
		st = s.withHistory(r.Context(), st)
	}
	dim := q.Get("dim")
	def, ok := panelFor(dim)
	if !ok {
		return errInvalid("dim", fmt.Sprintf("no panel shows %q", dim))
	}
	def = def.forSite(st)
	pq, err := panelQuery(st, s.Now(), v, def, dim, exportLimit, 0)
	if err != nil {
		return err
	}
	res, err := s.Stats.Query(r.Context(), pq)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	writeRowsCSV(&buf, dimLabel(dim), def, res)
	name := fmt.Sprintf("%s-%s-%s.csv", st.Domain, def.ID, time.Now().UTC().Format("20060102"))
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	_, err = w.Write(buf.Bytes())
	return err
}

// exportZip sends the whole view as a zip of CSV files: headline figures,
// the time series, one file per panel (all rows) and the funnels.
func (s *Server) exportZip(w http.ResponseWriter, r *http.Request) error {
	st := viewerOf(r).site
	v, err := parseView(r.URL.Query())
	if err != nil {
		return err
	}
	if v.Period == "all" {
		st = s.withHistory(r.Context(), st)
	}
	vq, err := viewQueries(st, s.Now(), v, exportLimit)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
	defer cancel()
	res, err := s.Stats.QueryAll(ctx, vq.all())
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, fill func(*bytes.Buffer)) error {
		var b bytes.Buffer
		fill(&b)
		f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Now().UTC()})
		if err != nil {
			return err
		}
		_, err = f.Write(b.Bytes())
		return err
	}
	err = add("headline.csv", func(b *bytes.Buffer) {
		cw := csv.NewWriter(b)
		cw.Write([]string{"metric", "value", "previous_period", "change_percent"})
		if len(res[0].Rows) > 0 {
			row := res[0].Rows[0]
			for i, m := range headlineMetrics {
				rec := []string{m, num(row.Metrics[i]), "", ""}
				if c := row.Comparison; c != nil {
					rec[2], rec[3] = num(c.Metrics[i]), num(c.Change[i])
				}
				cw.Write(rec)
			}
		}
		cw.Flush()
	})
	if err == nil {
		err = add("timeseries.csv", func(b *bytes.Buffer) {
			writeRowsCSV(b, strings.TrimPrefix(vq.unit, "time:"), panelDef{Metrics: []string{"visitors", "pageviews"}}, res[1])
		})
	}
	for i, p := range vq.panels {
		if err != nil {
			break
		}
		dim, _ := p.dim(v)
		err = add(p.ID+".csv", func(b *bytes.Buffer) { writeRowsCSV(b, dimLabel(dim), p, res[2+i]) })
	}
	if err == nil && len(st.Funnels) > 0 {
		var rows [][]string
		for _, f := range st.Funnels {
			steps, ferr := s.Stats.Funnel(ctx, vq.head, f)
			if ferr != nil {
				return ferr
			}
			for i, x := range steps {
				rows = append(rows, []string{f.Name, strconv.Itoa(i + 1), x.Name, num(x.Visitors), num(x.Visits)})
			}
		}
		err = add("funnels.csv", func(b *bytes.Buffer) {
			cw := csv.NewWriter(b)
			cw.Write([]string{"funnel", "step", "name", "visitors", "visits"})
			cw.WriteAll(rows)
		})
	}
	if err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	name := fmt.Sprintf("%s-%s.zip", st.Domain, time.Now().UTC().Format("20060102"))
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	_, err = w.Write(buf.Bytes())
	return err
}

// writeRowsCSV writes a result as CSV: a header of the dimension's name and
// the metric names, then one record per row with plain numbers. Values
// that a spreadsheet would run as a formula get a leading apostrophe.
func writeRowsCSV(b *bytes.Buffer, dimName string, p panelDef, res *stats.Result) {
	cw := csv.NewWriter(b)
	cw.Write(append([]string{dimName}, p.Metrics...))
	for _, row := range res.Rows {
		if len(row.Dimensions) > 0 && slices.Contains(p.Hide, row.Dimensions[0]) {
			continue
		}
		rec := []string{csvSafe(strings.Join(row.Dimensions, " "))}
		for _, m := range row.Metrics {
			rec = append(rec, num(m))
		}
		cw.Write(rec)
	}
	cw.Flush()
}

func num(v float64) string {
	if math.IsNaN(v) {
		return "" // no value
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// csvSafe defuses spreadsheet formulas in values that come from visitors
// (page paths, referrers, event names).
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
