package imported

import (
	"encoding/csv"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/collect"
	"waymark.dev/waymark/internal/geo"
)

// plausibleName matches the file names of Plausible's export
// ("imported_pages_20230101_20231231.csv") and of the files its import
// accepts ("pages_20230101_20231231.csv", or without the dates).
var plausibleName = regexp.MustCompile(`^(?:imported_)?([a-z_]+?)(?:_(\d{8})_(\d{8}))?\.csv$`)

// plausibleTable returns the table a file name names, or nil.
func plausibleTable(name string) *Table {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	m := plausibleName.FindStringSubmatch(name)
	if m == nil {
		return nil
	}
	return TableNamed("imported_" + m[1])
}

// legacyColumns are columns of older Plausible exports, read into the
// current ones: the pages table's scroll_depth was the sum of visits'
// deepest scroll, over pageleave_visitors visits.
var legacyColumns = map[string]string{
	"scroll_depth":       "total_scroll_depth",
	"pageleave_visitors": "total_scroll_depth_visits",
}

// plausibleReader reads one of Plausible's CSV files.
type plausibleReader struct {
	file  string
	table *Table
	r     *csv.Reader
	// where each CSV column goes: -1 the date, text column i as i+1,
	// numeric column i as -(i+2); 0 ignored.
	dest []int
	// Ignored are header names not read.
	Ignored []string
}

func newPlausibleReader(file string, t *Table, r io.Reader) (*plausibleReader, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		if err == io.EOF {
			return nil, &FormatError{File: file, Msg: "the file is empty; a header line (date, ...) was expected"}
		}
		return nil, csvError(file, err)
	}
	p := &plausibleReader{file: file, table: t, r: cr, dest: make([]int, len(head))}
	seen := map[string]bool{}
	for i, h := range head {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if l, ok := legacyColumns[h]; ok && t.Name == "imported_pages" {
			h = l
		}
		switch {
		case h == "date":
			p.dest[i] = -1
		case columnIndex(t.Text, h) >= 0:
			p.dest[i] = columnIndex(t.Text, h) + 1
		case columnIndex(t.Nums, h) >= 0:
			p.dest[i] = -(columnIndex(t.Nums, h) + 2)
		default:
			p.Ignored = append(p.Ignored, h)
			continue
		}
		if seen[h] {
			return nil, &FormatError{File: file, Line: 1, Column: i + 1, Msg: "column " + strconv.Quote(h) + " appears twice"}
		}
		seen[h] = true
	}
	// As Plausible's import, a file may leave columns out (older exports
	// and other tools do): they read as empty and 0. The date, and
	// something to count, must be there.
	if !seen["date"] {
		return nil, &FormatError{File: file, Line: 1, Msg: "no date column: the header must name date and the columns of " + t.Name}
	}
	counts := false
	for _, c := range t.Nums {
		counts = counts || seen[c.CSV]
	}
	if !counts {
		return nil, &FormatError{File: file, Line: 1, Msg: "no column of figures for " + t.Name + " (visitors, pageviews, ...)"}
	}
	return p, nil
}

func columnIndex(cs []Column, csvName string) int {
	for i, c := range cs {
		if c.CSV == csvName {
			return i
		}
	}
	return -1
}

func csvError(file string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &FormatError{File: file, Line: pe.Line, Column: pe.Column, Msg: pe.Err.Error()}
	}
	return &FormatError{File: file, Msg: err.Error()}
}

// next reads one row; io.EOF at the end.
func (p *plausibleReader) next() (Row, error) {
	rec, err := p.r.Read()
	if err != nil {
		if err == io.EOF {
			return Row{}, io.EOF
		}
		return Row{}, csvError(p.file, err)
	}
	t := p.table
	row := Row{Text: make([]string, len(t.Text)), Nums: make([]int64, len(t.Nums))}
	line, _ := p.r.FieldPos(0)
	if len(rec) != len(p.dest) {
		return row, &FormatError{File: p.file, Line: line, Column: len(rec), Msg: "the row has " + strconv.Itoa(len(rec)) + " fields, the header " + strconv.Itoa(len(p.dest))}
	}
	for i, v := range rec {
		d := p.dest[i]
		switch {
		case d == 0:
		case d == -1:
			day, err := time.Parse(time.DateOnly, v)
			if err != nil {
				return row, p.fieldError(i, "date", strconv.Quote(v)+" is not a date (2006-01-02)")
			}
			row.Date = Day(day)
		case d > 0:
			row.Text[d-1] = v
		default:
			k := -d - 2
			if v == "" || v == `\N` {
				continue // ClickHouse's NULL: no scroll depth reported
			}
			n, err := strconv.ParseUint(v, 10, 63)
			if err != nil {
				return row, p.fieldError(i, t.Nums[k].CSV, strconv.Quote(v)+" is not a whole number of at least 0")
			}
			row.Nums[k] = int64(n)
		}
	}
	Normalize(t, &row)
	return row, nil
}

func (p *plausibleReader) fieldError(i int, field, msg string) error {
	line, _ := p.r.FieldPos(i)
	return &FormatError{File: p.file, Line: line, Column: i + 1, Field: field, Msg: msg}
}

// Normalize turns Plausible's stored conventions into Waymark's: a direct
// visit's source is named, unknown places are empty, and the derived
// columns (channel, place names) are filled.
func Normalize(t *Table, r *Row) {
	switch t.Name {
	case "imported_sources":
		src := r.Text[0]
		r.Text[7] = collect.Channel(src, r.Text[3], r.Text[4], r.Text[2], "")
		if src == "" {
			r.Text[0] = analytics.SourceDirect
		}
	case "imported_locations":
		if r.Text[0] == "ZZ" || strings.Trim(r.Text[0], "\x00") == "" {
			r.Text[0] = ""
		}
		if r.Text[2] == "0" {
			r.Text[2] = ""
		}
		r.Text[3] = geo.CountryName(r.Text[0])
		r.Text[4] = geo.RegionName(r.Text[1])
	}
}

// Denormalize is Normalize's inverse, for writing Plausible's files.
func Denormalize(t *Table, text []string) []string {
	switch t.Name {
	case "imported_sources":
		if text[0] == analytics.SourceDirect {
			text = append([]string{""}, text[1:]...)
		}
	case "imported_locations":
		if text[2] == "" {
			text = append(append([]string{}, text[:2]...), append([]string{"0"}, text[3:]...)...)
		}
	}
	return text
}
