package web

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"waymark.dev/waymark/internal/apptest"
	"waymark.dev/waymark/internal/stats"
)

// upload posts files to the settings page's import form as a browser
// does (multipart, same origin), JSON when asked.
func (b *browser) upload(path, csrf string, files map[string][]byte, jsonAnswer bool) (*http.Response, string) {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", csrf)
	mw.WriteField("job", "job-0123456789")
	for name, data := range files {
		w, _ := mw.CreateFormFile("file", name)
		w.Write(data)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", b.origin+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", b.origin)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if jsonAnswer {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

// plausibleZip is a small export of Plausible's: two months of visitors
// and sources.
func plausibleZip(t *testing.T) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range map[string]string{
		"imported_visitors_20250101_20250228.csv": "date,visitors,pageviews,bounces,visits,visit_duration\n2025-01-10,40,90,10,50,3000\n2025-02-10,60,120,20,70,4200\n",
		"imported_sources_20250101_20250228.csv":  "date,source,referrer,utm_source,utm_medium,utm_campaign,utm_content,utm_term,pageviews,visitors,visits,visit_duration,bounces\n2025-01-10,Google,google.com,,,,,,90,40,50,3000,10\n2025-02-10,,,,,,,,120,60,70,4200,20\n",
	} {
		w, _ := zw.Create(name)
		io.WriteString(w, body)
	}
	zw.Close()
	return buf.Bytes()
}

func TestImportThroughSettings(t *testing.T) {
	srv, _, token := newTestServer(t, apptest.Options{})
	b := newBrowser(t, srv.URL)

	// Without a session nothing is read or stored.
	resp, _ := b.upload("/dashboard/shop.example/imports", "x", map[string][]byte{"a.zip": plausibleZip(t)}, true)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous upload: %d", resp.StatusCode)
	}
	b.login()
	csrf := b.csrf("/dashboard/shop.example/settings")

	// A malformed file: 400 naming file, line and column; nothing stays.
	bad := []byte("date,visitors,pageviews,bounces,visits,visit_duration\n2025-01-01,1,1,0,1,10\n2025-01-02,1,one,0,1,10\n")
	resp, body := b.upload("/dashboard/shop.example/imports", csrf, map[string][]byte{"imported_visitors_20250101_20250102.csv": bad}, true)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `imported_visitors_20250101_20250102.csv: line 3, column 3 (pageviews): \"one\" is not a whole number`) {
		t.Fatalf("bad file: %d %s", resp.StatusCode, body)
	}
	// The same without scripts: the settings page with the error.
	resp, body = b.upload("/dashboard/shop.example/imports", csrf, map[string][]byte{"imported_visitors_20250101_20250102.csv": bad}, false)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `class="error"`) || !strings.Contains(body, "line 3, column 3") {
		t.Fatalf("bad file, form: %d", resp.StatusCode)
	}
	if _, page := b.get("/dashboard/shop.example/settings"); !strings.Contains(page, "No imports yet.") {
		t.Fatal("a failed import is listed")
	}

	resp, body = b.upload("/dashboard/shop.example/imports", csrf, map[string][]byte{"shop_example_20250228.zip": plausibleZip(t)}, true)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("import: %d %s", resp.StatusCode, body)
	}
	var got struct {
		Import struct {
			ID       int64
			Source   string
			From, To string
			Rows     int
		}
	}
	json.Unmarshal([]byte(body), &got)
	if got.Import.Source != "plausible" || got.Import.Rows != 4 || got.Import.From != "2025-01-10" || got.Import.To != "2025-02-10" {
		t.Fatalf("import answer %s", body)
	}
	_, page := b.get("/dashboard/shop.example/settings?imported=" + itoa(got.Import.ID))
	for _, want := range []string{`Imported 4 rows of Plausible data, <time datetime="2025-01-10" data-fmt="day">10 Jan 2025</time> to <time datetime="2025-02-10" data-fmt="day">10 Feb 2025</time>.`,
		`<strong>Plausible</strong> <span class="period"><time datetime="2025-01-10" data-fmt="day">10 Jan 2025</time> to <time datetime="2025-02-10" data-fmt="day">10 Feb 2025</time></span>`} {
		if !strings.Contains(page, want) {
			t.Errorf("settings page lacks %q", want)
		}
	}

	// The Stats API merges it; the dashboard shows it and can hide it.
	q := `{"site_id":"shop.example","metrics":["visitors","visits","bounce_rate"],"date_range":["2025-01-01","2025-02-28"],"dimensions":["time:month"],"include":{"imports":true}}`
	_, res := do(t, "POST", srv.URL+"/api/v2/query", q, map[string]string{"Authorization": "Bearer " + token})
	if !strings.Contains(string(res), `"results":[{"dimensions":["2025-01-01"],"metrics":[40,50,20]},{"dimensions":["2025-02-01"],"metrics":[60,70,29]}]`) {
		t.Errorf("query: %s", res)
	}
	_, dash := b.get("/dashboard/shop.example?from=2025-01-01&to=2025-02-28")
	if !strings.Contains(dash, `Includes imported data: Plausible, <time datetime="2025-01-10" data-fmt="day">10 Jan 2025</time> to <time datetime="2025-02-10" data-fmt="day">10 Feb 2025</time>.`) || !strings.Contains(dash, `<a href="/dashboard/shop.example?from=2025-01-01&amp;imports=0&amp;to=2025-02-28">Hide imported data</a>`) {
		t.Errorf("dashboard does not offer the imported data")
	}
	if !strings.Contains(dash, `/dashboard/shop.example/export/plausible.zip?from=2025-01-01&amp;to=2025-02-28`) {
		t.Errorf("the view offers no export of its period in Plausible's format")
	}
	if !regexp.MustCompile(`Google</a>`).MatchString(dash) {
		t.Errorf("the sources panel lacks the imported source")
	}
	_, hidden := b.get("/dashboard/shop.example?from=2025-01-01&to=2025-02-28&imports=0")
	if !strings.Contains(hidden, "Show imported data") || strings.Contains(hidden, "Google</a>") {
		t.Errorf("imports=0 still shows imported data")
	}
	// "All time" starts at the first imported day.
	_, all := b.get("/dashboard/shop.example?period=all")
	if !strings.Contains(all, "2025-01-10") {
		t.Errorf("All time does not start with the import")
	}

	// The export holds the imported history in Plausible's files.
	resp, zipBody := b.get("/dashboard/shop.example/export/plausible.zip?from=2025-01-01&to=2025-03-01")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("export: %d", resp.StatusCode)
	}
	zr, err := zip.NewReader(strings.NewReader(zipBody), int64(len(zipBody)))
	if err != nil || len(zr.File) != 10 {
		t.Fatalf("export archive: %v, %d files", err, len(zr.File))
	}
	for _, f := range zr.File {
		if strings.HasPrefix(f.Name, "imported_visitors_") {
			rc, _ := f.Open()
			data, _ := io.ReadAll(rc)
			if !strings.Contains(string(data), "2025-01-10,40,90,10,50,3000") {
				t.Errorf("exported visitors: %s", data)
			}
		}
	}

	// Deleting removes it (Post/Redirect/Get).
	resp, _ = b.post("/dashboard/shop.example/imports/"+itoa(got.Import.ID)+"/delete", url.Values{"csrf": {csrf}}, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "/settings?deleted_import=1#imports") {
		t.Fatalf("delete: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, res = do(t, "POST", srv.URL+"/api/v2/query", q, map[string]string{"Authorization": "Bearer " + token})
	if !strings.Contains(string(res), `"imports_skip_reason":"no_imported_data"`) {
		t.Errorf("after delete: %s", res)
	}
	resp, _ = b.post("/dashboard/shop.example/imports/12345/delete", url.Values{"csrf": {csrf}}, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleting an unknown import: %d", resp.StatusCode)
	}
	// Progress of an import not running.
	if resp, _ := b.get("/dashboard/shop.example/imports/progress/job-0123456789"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("progress of a finished import: %d", resp.StatusCode)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestSettingsListsEverySiteTokens: a token for every site (made with
// the CLI) shows on each site's settings and can be revoked there; a
// pasted address adds its site.
func TestSettingsListsEverySiteTokens(t *testing.T) {
	srv, st, _ := newTestServer(t, apptest.Options{})
	st.AddToken(t, "") // waymark token add --name test, without --site
	b := newBrowser(t, srv.URL)
	b.login()
	_, page := b.get("/dashboard/shop.example/settings")
	if !strings.Contains(page, "every site") {
		t.Fatal("the every-site token is not listed")
	}
	m := regexp.MustCompile(`token-revoke" class="inline-item"><input type="hidden" name="csrf" value="([^"]+)"><input type="hidden" name="id" value="(\d+)">`).FindAllStringSubmatch(page, -1)
	if len(m) == 0 {
		t.Fatal("no revoke form")
	}
	last := m[len(m)-1]
	resp, _ := b.post("/dashboard/shop.example/settings/token-revoke", url.Values{"csrf": {last[1]}, "id": {last[2]}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if _, page := b.get("/dashboard/shop.example/settings"); strings.Contains(page, "every site") {
		t.Error("the revoked token is still listed")
	}
	resp, _ = b.post("/dashboard/sites", url.Values{"csrf": {last[1]}, "domain": {"https://www.pasted.example/shop?x=1"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dashboard/pasted.example" {
		t.Errorf("adding a pasted address: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestHeadlineNew: a figure up from nothing says "new", not "+100%"; a
// rate keeps its change in points.
func TestHeadlineNew(t *testing.T) {
	row := stats.Row{Metrics: make(stats.Values, len(headlineMetrics)), Comparison: &stats.Comparison{Metrics: make(stats.Values, len(headlineMetrics)), Change: make(stats.Values, len(headlineMetrics))}}
	for i, m := range headlineMetrics {
		switch m {
		case "visitors":
			row.Metrics[i], row.Comparison.Metrics[i], row.Comparison.Change[i] = 12, 0, 100
		case "visits":
			row.Metrics[i], row.Comparison.Metrics[i], row.Comparison.Change[i] = 10, 5, 100
		case "bounce_rate":
			row.Metrics[i], row.Comparison.Metrics[i], row.Comparison.Change[i] = 40, 0, 40
		}
	}
	got := map[string]string{}
	for _, f := range headline(&stats.Result{Rows: []stats.Row{row}}) {
		got[f.Label] = f.Change
	}
	if got["Visitors"] != "new" || got["Visits"] != "+100%" || got["Bounce rate"] != "+40%" {
		t.Errorf("changes %v", got)
	}
	// No visits before: every figure with a value is new, the bounce rate
	// included (its 0% before was no figure); one still at zero says
	// nothing.
	for i, m := range headlineMetrics {
		row.Comparison.Metrics[i], row.Comparison.Change[i] = 0, 0
		if m == "pageviews" {
			row.Metrics[i] = 0
		}
	}
	got = map[string]string{}
	for _, f := range headline(&stats.Result{Rows: []stats.Row{row}}) {
		got[f.Label] = f.Change
	}
	if got["Visitors"] != "new" || got["Visits"] != "new" || got["Bounce rate"] != "new" || got["Pageviews"] != "" {
		t.Errorf("changes against an empty period %v", got)
	}
}

// TestErrorPagesForBrowsers: a browser gets an HTML page in the
// dashboard's style (status, what happened, what to do) where an API
// client gets JSON, for unknown addresses, bad views and revoked links.
func TestErrorPagesForBrowsers(t *testing.T) {
	srv, _, _ := newTestServer(t, apptest.Options{})
	b := newBrowser(t, srv.URL)
	b.login()
	for _, c := range []struct {
		path   string
		status int
		want   string
	}{
		{"/no/such/page", 404, "There is no page at /no/such/page."},
		{"/dashboard/nope.example", 404, "no site nope.example"},
		{"/dashboard/shop.example?period=bogus", 400, "unknown period"},
		{"/dashboard/shop.example?from=2024-03-10&to=2024-03-01", 400, "the range ends before it starts"},
		{"/share/not-a-secret", 404, "this shared link does not exist or was revoked"},
	} {
		req, _ := http.NewRequest("GET", srv.URL+c.path, nil)
		req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page := string(body)
		if resp.StatusCode != c.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(page, `name="viewport"`) || !strings.Contains(page, c.want) || !strings.Contains(page, `class="card errorpage"`) {
			t.Errorf("%s: %d %s: %.300s", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), page)
		}
		// The same without Accept: text/html is JSON, as before.
		resp, _ = b.get(c.path)
		if resp.StatusCode != c.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s for an API client: %d %s", c.path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

// TestRealtimeFollowsFilters: the realtime panel counts and lists only
// what the view's filters select.
func TestRealtimeFollowsFilters(t *testing.T) {
	srv, st, _ := newTestServer(t, apptest.Options{})
	for i, page := range []string{"/a", "/b", "/b"} {
		resp, body := do(t, "POST", srv.URL+"/api/event", `{"n":"pageview","u":"https://shop.example`+page+`","d":"shop.example"}`,
			map[string]string{"Content-Type": "text/plain", "User-Agent": fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64; rv:%d.0) Gecko/20100101 Firefox/%d.0", 120+i, 120+i)})
		if resp.StatusCode != 202 {
			t.Fatalf("event: %d %s", resp.StatusCode, body)
		}
	}
	st.WaitStored(t, 3)
	b := newBrowser(t, srv.URL)
	b.login()
	_, page := b.get("/dashboard/shop.example?f=is~event:page~/b")
	if !strings.Contains(page, `data-realtime="/dashboard/shop.example/realtime.json?f=is~event%3Apage~%2Fb"`) {
		t.Fatalf("the realtime feed does not carry the view's filter")
	}
	for _, c := range []struct {
		query    string
		visitors float64
		pages    []string
	}{
		{"", 3, []string{"/a", "/b", "/b"}},
		{"?f=is~event%3Apage~%2Fb", 2, []string{"/b", "/b"}},
		{"?f=is~event%3Apage~%2Fnone", 0, nil},
	} {
		_, body := b.get("/dashboard/shop.example/realtime.json" + c.query)
		var got struct {
			Visitors float64
			Recent   []struct{ Page string }
		}
		json.Unmarshal([]byte(body), &got)
		var pages []string
		for _, p := range got.Recent {
			pages = append(pages, p.Page)
		}
		slices.Sort(pages) // stored to the second: the order within one is not fixed
		if got.Visitors != c.visitors || !slices.Equal(pages, c.pages) {
			t.Errorf("realtime%s: %v visitors, pages %v; want %v, %v", c.query, got.Visitors, pages, c.visitors, c.pages)
		}
	}
}

// TestIcons: every page links the icons, and they are served.
func TestIcons(t *testing.T) {
	srv, _, _ := newTestServer(t, apptest.Options{})
	for path, typ := range map[string]string{"/favicon.ico": "image/x-icon", "/favicon.svg": "image/svg+xml", "/apple-touch-icon.png": "image/png"} {
		resp, body := do(t, "GET", srv.URL+path, "", nil)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != typ || len(body) < 100 {
			t.Errorf("%s: %d %s, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
	}
	for _, page := range []string{"/login", "/demo/", "/no/such/page"} {
		req, _ := http.NewRequest("GET", srv.URL+page, nil)
		req.Header.Set("Accept", "text/html")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `<link rel="icon" href="/favicon.svg"`) {
			t.Errorf("%s links no icon", page)
		}
	}
}

// TestDemoCodeRetry: a wrong one-time code gets one more try on the same
// code; a second sends the visitor back to log in. The reasons read in
// words, the raw signals sit under "For developers".
func TestDemoCodeRetry(t *testing.T) {
	srv, _, _ := newTestServer(t, apptest.Options{})
	b := newBrowser(t, srv.URL)
	resp, page := b.post("/demo/login", url.Values{"account": {"ann"}, "password": {"demo"}}, nil)
	code := regexp.MustCompile(`<strong id="code">(\d{6})</strong>`).FindStringSubmatch(page)
	if resp.StatusCode != 200 || code == nil {
		t.Fatalf("login: %d, no code step", resp.StatusCode)
	}
	if !strings.Contains(page, "<summary>For developers</summary>") || strings.Contains(page, "Reasons:") {
		t.Error("the signals are not behind For developers")
	}
	wrong := "000000"
	if code[1] == wrong {
		wrong = "111111"
	}
	resp, page = b.post("/demo/login/verify", url.Values{"code": {wrong}}, nil)
	if resp.StatusCode != 401 || !strings.Contains(page, "try once more") || !strings.Contains(page, `<strong id="code">`+code[1]) {
		t.Fatalf("first wrong code: %d, not the code step again", resp.StatusCode)
	}
	resp, _ = b.post("/demo/login/verify", url.Values{"code": {code[1]}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/demo/account" {
		t.Fatalf("the right code after one wrong: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Two wrong codes: back to log in.
	b2 := newBrowser(t, srv.URL)
	b2.post("/demo/login", url.Values{"account": {"bob"}, "password": {"demo"}}, nil)
	b2.post("/demo/login/verify", url.Values{"code": {"x"}}, nil)
	resp, page = b2.post("/demo/login/verify", url.Values{"code": {"y"}}, nil)
	if resp.StatusCode != 401 || !strings.Contains(page, "Log in again for a new one") || !strings.Contains(page, `action="/demo/login"`) {
		t.Errorf("second wrong code: %d", resp.StatusCode)
	}
}
