package imported

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStore is an in-memory Store for the readers' tests (the event
// stores run the same runs against DuckDB and ClickHouse elsewhere).
type memStore struct {
	mu      sync.Mutex
	imports map[int64]*Import
	rows    map[int64]map[string][]Row
	failAt  int // fail the n-th AppendRows (0: never)
	appends int
}

func newMemStore() *memStore {
	return &memStore{imports: map[int64]*Import{}, rows: map[int64]map[string][]Row{}}
}

func (m *memStore) BeginImport(_ context.Context, imp Import) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.imports[imp.ID] = &imp
	m.rows[imp.ID] = map[string][]Row{}
	return nil
}

func (m *memStore) AppendRows(_ context.Context, imp *Import, t *Table, rows []Row) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.appends++
	if m.failAt > 0 && m.appends == m.failAt {
		return errors.New("disk full")
	}
	for _, r := range rows {
		r.Text, r.Nums = slices.Clone(r.Text), slices.Clone(r.Nums)
		m.rows[imp.ID][t.Name] = append(m.rows[imp.ID][t.Name], r)
	}
	return nil
}

func (m *memStore) FinishImport(_ context.Context, imp Import) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	imp.Complete = true
	m.imports[imp.ID] = &imp
	return nil
}

func (m *memStore) DeleteImport(_ context.Context, _ string, id int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.imports[id] == nil {
		return ErrNotFound
	}
	delete(m.imports, id)
	delete(m.rows, id)
	return nil
}

func (m *memStore) Imports(context.Context, string) ([]Import, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Import
	for _, im := range m.imports {
		out = append(out, *im)
	}
	return out, nil
}

func (m *memStore) ScanRows(context.Context, string, *Table, int32, int32, func(Row) error) error {
	return nil
}

// table returns an import's rows of a table as "date text... nums..."
// lines, sorted.
func (m *memStore) table(id int64, name string) []string {
	var out []string
	for _, r := range m.rows[id][name] {
		parts := []string{FormatDay(r.Date)}
		parts = append(parts, r.Text...)
		for _, n := range r.Nums {
			parts = append(parts, fmt.Sprint(n))
		}
		out = append(out, strings.Join(parts, "|"))
	}
	slices.Sort(out)
	return out
}

func bytesFile(name string, b []byte) File {
	return File{Name: name, Size: int64(len(b)), Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
}

// plausibleCSV writes a table's file from its documented columns.
func plausibleCSV(t *Table, rows ...string) []byte {
	var head []string
	head = append(head, "date")
	for _, c := range t.Text {
		if c.CSV != "" {
			head = append(head, c.CSV)
		}
	}
	for _, c := range t.Nums {
		head = append(head, c.CSV)
	}
	return []byte(strings.Join(head, ",") + "\n" + strings.Join(rows, "\n") + "\n")
}

func TestPlausibleZip(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	files := map[string][]byte{
		"imported_visitors_20240101_20240102.csv":  plausibleCSV(TableNamed("imported_visitors"), "2024-01-01,10,25,4,12,600", "2024-01-02,3,3,3,3,0"),
		"imported_sources_20240101_20240102.csv":   plausibleCSV(TableNamed("imported_sources"), "2024-01-01,,,,,,,,5,4,5,100,2", "2024-01-01,Google,google.com,,,,,,20,6,7,500,2"),
		"imported_pages_20240101_20240102.csv":     plausibleCSV(TableNamed("imported_pages"), `2024-01-01,example.com,"/a,b",3,2,5,150,2,40,2`),
		"imported_locations_20240101_20240102.csv": plausibleCSV(TableNamed("imported_locations"), "2024-01-01,EE,EE-37,588409,3,3,30,1,4", "2024-01-01,ZZ,,0,1,1,0,1,1"),
		"imported_custom_events_20240101_20240102.csv": plausibleCSV(TableNamed("imported_custom_events"),
			"2024-01-01,Signup,,,2,3", "2024-01-01,Outbound Link: Click,https://a.example,,1,1"),
		"README.txt": []byte("not a table"),
	}
	for name, b := range files {
		w, _ := zw.Create(name)
		w.Write(b)
	}
	zw.Close()
	st := newMemStore()
	var last [2]int64
	res, err := Run(context.Background(), st, []File{bytesFile("example_com_20240102.zip", buf.Bytes())},
		Options{Site: "example.com", Progress: func(d, t int64) { last = [2]int64{d, t} }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != SourcePlausible || res.Rows != 9 || FormatDay(res.From) != "2024-01-01" || FormatDay(res.To) != "2024-01-02" || !res.Complete {
		t.Errorf("import %+v", res.Import)
	}
	if last[0] != last[1] || last[1] != int64(buf.Len()) {
		t.Errorf("progress ended at %v, want the archive's size %d", last, buf.Len())
	}
	for table, want := range map[string][]string{
		"imported_visitors": {"2024-01-01|10|25|4|12|600", "2024-01-02|3|3|3|3|0"},
		"imported_sources": {"2024-01-01|Direct / None|||||||Direct|5|4|5|100|2",
			"2024-01-01|Google|google.com||||||Organic Search|20|6|7|500|2"},
		"imported_pages": {"2024-01-01|example.com|/a,b|3|2|5|150|2|40|2"},
		"imported_locations": {"2024-01-01|EE|EE-37|588409|Estonia|" + regionNameOf("EE-37") + "||3|3|30|1|4",
			"2024-01-01|||||||1|1|0|1|1"},
		"imported_custom_events": {"2024-01-01|Outbound Link: Click|https://a.example||1|1", "2024-01-01|Signup|||2|3"},
	} {
		if got := st.table(res.ID, table); !slices.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", table, got, want)
		}
	}
}

func regionNameOf(code string) string {
	r := Row{Text: make([]string, 6), Nums: make([]int64, 5)}
	r.Text[1] = code
	Normalize(TableNamed("imported_locations"), &r)
	return r.Text[4]
}

// TestPlausibleSample imports the CSV files of Plausible's own importer
// test (csv_importer_test.exs, "imports tables"): columns left out of
// several files, as Plausible's import accepts them. Plausible's test
// expects the import to run from 2011-12-25 to 2022-01-06 with 99
// imported pageviews.
func TestPlausibleSample(t *testing.T) {
	names, err := filepath.Glob("testdata/plausible/*.csv")
	if err != nil || len(names) != 10 {
		t.Fatalf("%d sample files (%v)", len(names), err)
	}
	var files []File
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, bytesFile(filepath.Base(n), b))
	}
	st := newMemStore()
	res, err := Run(context.Background(), st, files, Options{Site: "lucky.numbers.com"})
	if err != nil {
		t.Fatal(err)
	}
	if FormatDay(res.From) != "2011-12-25" || FormatDay(res.To) != "2022-01-06" {
		t.Errorf("range %s to %s", FormatDay(res.From), FormatDay(res.To))
	}
	var pageviews int64
	for _, r := range st.rows[res.ID]["imported_visitors"] {
		pageviews += r.Nums[1]
	}
	if pageviews != 99 {
		t.Errorf("%d imported pageviews, want Plausible's 99", pageviews)
	}
	// Left-out columns read as empty and 0: exit pages have no duration.
	if got := st.table(res.ID, "imported_exit_pages")[0]; got != "2021-12-30|/12105301321223776356|1|0|1|0|0" {
		t.Errorf("first exit page row %q", got)
	}
	if got := len(st.rows[res.ID]["imported_sources"]); got != 24 {
		t.Errorf("%d source rows, want 24", got)
	}
}

func TestPlausibleOlderColumns(t *testing.T) {
	// Older exports: the pages table's scroll_depth and pageleave_visitors,
	// no time on page, no hostname.
	b := []byte("date,page,visits,visitors,pageviews,scroll_depth,pageleave_visitors\n2023-05-01,/,4,3,6,\\N,0\n2023-05-01,/b,1,1,1,70,1\n")
	st := newMemStore()
	res, err := Run(context.Background(), st, []File{bytesFile("pages_20230501_20230501.csv", b)}, Options{Site: "e.com"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2023-05-01||/b|1|1|1|70|1|0|0", "2023-05-01||/|4|3|6|0|0|0|0"}
	slices.Sort(want)
	if got := st.table(res.ID, "imported_pages"); !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestGoatCounterSample(t *testing.T) {
	b, err := os.ReadFile("testdata/goatcounter/export.csv")
	if err != nil {
		t.Fatal(err)
	}
	st := newMemStore()
	res, err := Run(context.Background(), st, []File{bytesFile("goatcounter-export-site.csv", b)}, Options{Site: "arp242.net"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != SourceGoatCounter || FormatDay(res.From) != "2020-12-01" || FormatDay(res.To) != "2020-12-27" {
		t.Errorf("import %+v", res.Import)
	}
	for table, want := range map[string][]string{
		// Two visits: one with an event and a pageview 34 s apart, one
		// pageview from Reddit.
		"imported_visitors":          {"2020-12-01|1|1|0|1|34", "2020-12-27|1|1|1|1|0"},
		"imported_pages":             {"2020-12-01||/stupid-light.html|1|1|1|0|0|0|0", "2020-12-27||/static-go.html|1|1|1|0|0|0|0"},
		"imported_custom_events":     {"2020-12-01|click-cv-html|||1|1"},
		"imported_browsers":          {"2020-12-01|Chrome|86|1|1|34|0|1", "2020-12-27|Safari|14.0|1|1|0|1|1"},
		"imported_operating_systems": {"2020-12-01|Windows|7|1|1|34|0|1", "2020-12-27|Mac|10.15|1|1|0|1|1"},
		"imported_devices":           {"2020-12-01|Laptop|1|1|34|0|1", "2020-12-27|Desktop|1|1|0|1|1"},
		"imported_sources": {"2020-12-01|Direct / None|||||||Direct|1|1|1|34|0",
			"2020-12-27|Reddit|reddit.com||||||Organic Social|1|1|1|0|1"},
		"imported_entry_pages": {"2020-12-01|/stupid-light.html|1|1|34|0|1", "2020-12-27|/static-go.html|1|1|0|1|1"},
	} {
		if got := st.table(res.ID, table); !slices.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", table, got, want)
		}
	}
}

// umamiColumns are the columns of Umami's website_event export.
var umamiColumns = []string{"website_id", "session_id", "visit_id", "event_id", "hostname", "browser", "os", "device", "screen",
	"language", "country", "region", "city", "url_path", "url_query", "utm_source", "utm_medium", "utm_campaign", "utm_content",
	"utm_term", "referrer_path", "referrer_query", "referrer_domain", "page_title", "gclid", "fbclid", "msclkid", "ttclid",
	"li_fat_id", "twclid", "event_type", "event_name", "tag", "distinct_id", "created_at", "job_id"}

func umamiRow(kv map[string]string) string {
	out := make([]string, len(umamiColumns))
	for i, c := range umamiColumns {
		out[i] = kv[c]
	}
	return strings.Join(out, ",")
}

func TestUmami(t *testing.T) {
	rows := []string{strings.Join(umamiColumns, ",")}
	base := map[string]string{"website_id": "w1", "hostname": "shop.example", "browser": "firefox", "os": "Mac OS", "device": "laptop",
		"country": "DE", "region": "DE-BE", "city": "Berlin"}
	add := func(kv map[string]string) {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range kv {
			m[k] = v
		}
		rows = append(rows, umamiRow(m))
	}
	add(map[string]string{"session_id": "s1", "visit_id": "v1", "url_path": "/", "url_query": "utm_source=newsletter&utm_medium=email", "event_type": "1", "created_at": "2025-03-01 10:00:00"})
	add(map[string]string{"session_id": "s1", "visit_id": "v1", "url_path": "/pricing", "event_type": "1", "created_at": "2025-03-01 10:01:40"})
	add(map[string]string{"session_id": "s1", "visit_id": "v1", "url_path": "/pricing", "event_type": "2", "event_name": "signup", "created_at": "2025-03-01 10:02:00"})
	add(map[string]string{"session_id": "s2", "visit_id": "v2", "url_path": "/blog", "referrer_domain": "www.google.com", "event_type": "1", "created_at": "2025-03-01 23:30:00", "browser": "chrome", "os": "Windows 10"})
	st := newMemStore()
	res, err := Run(context.Background(), st, []File{bytesFile("website_event.csv", []byte(strings.Join(rows, "\n")+"\n"))},
		Options{Site: "shop.example", Location: time.FixedZone("UTC+1", 3600)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != SourceUmami {
		t.Errorf("source %q", res.Source)
	}
	for table, want := range map[string][]string{
		// The second visit starts at 00:30 on 2 March in the site's zone.
		"imported_visitors": {"2025-03-01|1|2|0|1|120", "2025-03-02|1|1|1|1|0"},
		"imported_sources": {"2025-03-01|newsletter||newsletter|email||||Email|2|1|1|120|0",
			"2025-03-02|Google|google.com||||||Organic Search|1|1|1|0|1"},
		"imported_custom_events":     {"2025-03-01|signup|||1|1"},
		"imported_browsers":          {"2025-03-01|Firefox||1|1|120|0|2", "2025-03-02|Chrome||1|1|0|1|1"},
		"imported_operating_systems": {"2025-03-01|Mac||1|1|120|0|2", "2025-03-02|Windows|10|1|1|0|1|1"},
		"imported_locations": {"2025-03-01|DE|DE-BE||Germany|" + regionNameOf("DE-BE") + "|Berlin|1|1|120|0|2",
			"2025-03-02|DE|DE-BE||Germany|" + regionNameOf("DE-BE") + "|Berlin|1|1|0|1|1"},
		"imported_exit_pages": {"2025-03-01|/pricing|1|120|1|0|2", "2025-03-02|/blog|1|0|1|1|1"},
	} {
		if got := st.table(res.ID, table); !slices.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", table, got, want)
		}
	}
}

func TestMalformed(t *testing.T) {
	visitors := TableNamed("imported_visitors")
	good := bytesFile("imported_visitors_20240101_20240101.csv", plausibleCSV(visitors, "2024-01-01,1,1,0,1,10"))
	for _, c := range []struct {
		name string
		file File
		want string
	}{
		{"bad number", bytesFile("imported_visitors_20240101_20240102.csv", plausibleCSV(visitors, "2024-01-01,1,1,0,1,10", "2024-01-02,1,-3,0,1,10")),
			`imported_visitors_20240101_20240102.csv: line 3, column 3 (pageviews): "-3" is not a whole number of at least 0`},
		{"bad date", bytesFile("visitors_20240101_20240102.csv", plausibleCSV(visitors, "01/02/2024,1,1,0,1,10")),
			`visitors_20240101_20240102.csv: line 2, column 1 (date): "01/02/2024" is not a date (2006-01-02)`},
		{"nothing to count", bytesFile("imported_pages_20240101_20240102.csv", []byte("date,page\n2024-01-01,/\n")),
			"imported_pages_20240101_20240102.csv: line 1: no column of figures for imported_pages"},
		{"no date", bytesFile("imported_pages_20240101_20240102.csv", []byte("day,page,visitors\n2024-01-01,/,1\n")),
			"imported_pages_20240101_20240102.csv: line 1: no date column"},
		{"short row", bytesFile("imported_visitors_20240101_20240102.csv", []byte("date,visitors,pageviews,bounces,visits,visit_duration\n2024-01-01,1\n")),
			"imported_visitors_20240101_20240102.csv: line 2, column 2: the row has 2 fields, the header 6"},
		{"bare quote", bytesFile("imported_visitors_20240101_20240102.csv", []byte("date,visitors,pageviews,bounces,visits,visit_duration\n2024-01-01,1\"x,1,0,1,1\n")),
			"imported_visitors_20240101_20240102.csv: line 2, column 13"},
		{"unknown file", bytesFile("notes.csv", []byte("a,b\n1,2\n")), "notes.csv: not an export Waymark reads"},
		{"empty", bytesFile("imported_visitors_20240101_20240102.csv", nil), "the file is empty"},
		{"broken zip", bytesFile("export.zip", []byte("PK\x03\x04 not really")), "export.zip: not a readable zip archive"},
		{"goatcounter date", bytesFile("gc.csv", []byte("2Path,Title,Event,UserAgent,Browser,System,Session,Bot,Referrer,Referrer scheme,Screen size,Location,FirstVisit,Date\n/,t,0,,Chrome 1,Linux,s,0,,,,,1,yesterday\n")),
			`gc.csv: line 2, column 14 (Date): "yesterday" is not an RFC 3339 time`},
		{"umami columns", bytesFile("u.csv", []byte("session_id,url_path,event_type\ns,/,1\n")), "u.csv: line 1: missing columns: created_at"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := newMemStore()
			// A good file first: its rows must not stay.
			files := []File{good, c.file}
			if strings.HasPrefix(c.name, "goatcounter") || strings.HasPrefix(c.name, "umami") {
				files = files[1:] // one tool per import
			}
			_, err := Run(context.Background(), st, files, Options{Site: "e.com", BatchRows: 1})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
			if len(st.imports) != 0 || len(st.rows) != 0 {
				t.Errorf("rows of the failed import stayed: %v", st.rows)
			}
		})
	}
}

func TestWriteFailureRemovesRows(t *testing.T) {
	st := newMemStore()
	st.failAt = 2
	b := plausibleCSV(TableNamed("imported_visitors"), "2024-01-01,1,1,0,1,10", "2024-01-02,1,1,0,1,10", "2024-01-03,1,1,0,1,10")
	_, err := Run(context.Background(), st, []File{bytesFile("imported_visitors_20240101_20240103.csv", b)}, Options{Site: "e.com", BatchRows: 1})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("error %v", err)
	}
	if len(st.imports) != 0 {
		t.Errorf("the failed import stayed")
	}
}

func TestMixedSourcesRefused(t *testing.T) {
	gc, _ := os.ReadFile("testdata/goatcounter/export.csv")
	p := plausibleCSV(TableNamed("imported_visitors"), "2024-01-01,1,1,0,1,10")
	st := newMemStore()
	_, err := Run(context.Background(), st, []File{bytesFile("imported_visitors_20240101_20240101.csv", p), bytesFile("gc.csv", gc)}, Options{Site: "e.com"})
	if err == nil || !strings.Contains(err.Error(), "import them one at a time") || len(st.imports) != 0 {
		t.Fatalf("error %v, imports %v", err, st.imports)
	}
}

// FuzzPlausibleCSV: any bytes either import or fail with a FormatError;
// nothing panics and a failure leaves nothing.
func FuzzPlausibleCSV(f *testing.F) {
	f.Add([]byte("date,visitors,pageviews,bounces,visits,visit_duration\n2024-01-01,1,1,0,1,10\n"))
	f.Add([]byte("date,page,visits,visitors,pageviews,scroll_depth\n2024-01-01,\"/a\"\"b\",1,1,1,\\N\n"))
	f.Add([]byte("\ufeffdate,visitors\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, name := range []string{"imported_visitors_20240101_20240101.csv", "pages_20240101_20240101.csv"} {
			st := newMemStore()
			_, err := Run(context.Background(), st, []File{bytesFile(name, b)}, Options{Site: "e.com", BatchRows: 2})
			if err != nil && len(st.imports) != 0 {
				t.Fatalf("failed import %v left %v", err, st.imports)
			}
		}
	})
}

// FuzzRawExports fuzzes the GoatCounter and Umami readers.
func FuzzRawExports(f *testing.F) {
	gc, _ := os.ReadFile("testdata/goatcounter/export.csv")
	f.Add(gc)
	f.Add([]byte("session_id,visit_id,url_path,event_type,event_name,created_at\ns,v,/,1,,2025-01-01 00:00:00\ns,v,/,2,x,2025-01-01 00:00:09\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st := newMemStore()
		res, err := Run(context.Background(), st, []File{bytesFile("export.csv", b)}, Options{Site: "e.com", Location: time.UTC})
		if err != nil {
			if len(st.imports) != 0 {
				t.Fatalf("failed import %v left rows", err)
			}
			return
		}
		if res.From > res.To {
			t.Fatalf("range %d..%d", res.From, res.To)
		}
	})
}

// BenchmarkPlausibleReader measures reading Plausible's pages table (the
// widest), without a store.
func BenchmarkPlausibleReader(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("date,hostname,page,visits,visitors,pageviews,total_scroll_depth,total_scroll_depth_visits,total_time_on_page,total_time_on_page_visits\n")
	for i := range 10000 {
		fmt.Fprintf(&sb, "2024-01-%02d,example.com,/docs/page-%d,%d,%d,%d,%d,%d,%d,%d\n", 1+i%28, i, i%50, i%40, i%90, i%900, i%40, i%600, i%40)
	}
	data := []byte(sb.String())
	t := TableNamed("imported_pages")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := newPlausibleReader("bench.csv", t, bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := p.next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)*10000/b.Elapsed().Seconds(), "rows/s")
}
