package web

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"waymark.dev/waymark/internal/apptest"
	"waymark.dev/waymark/internal/stats"
)

// browser is an HTTP client with cookies that sends the headers a
// same-origin form post from a browser has.
type browser struct {
	t      *testing.T
	c      *http.Client
	origin string
}

func newBrowser(t *testing.T, origin string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, origin: origin, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.origin + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) post(path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.origin+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.origin)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) csrf(path string) string {
	b.t.Helper()
	_, body := b.get(path)
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no csrf field on %s", path)
	}
	return m[1]
}

func (b *browser) login() {
	b.t.Helper()
	resp, _ := b.post("/login", url.Values{"password": {testPassword}, "next": {"/dashboard"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dashboard" {
		b.t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestDashboardAuth(t *testing.T) {
	srv, _, _ := newTestServer(t, apptest.Options{})
	b := newBrowser(t, srv.URL)
	for _, p := range []string{"/dashboard", "/dashboard/shop.example", "/dashboard/shop.example/settings"} {
		if resp, _ := b.get(p); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
			t.Errorf("GET %s logged out: %d to %q, want the login page", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if resp, body := b.get("/dashboard/shop.example/realtime.json"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "unauthenticated") {
		t.Errorf("realtime.json logged out: %d %s", resp.StatusCode, body)
	}
	// A cross-site login form is refused before the password is checked.
	if resp, _ := b.post("/login", url.Values{"password": {testPassword}}, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site login: %d, want 403", resp.StatusCode)
	}
	// Wrong passwords: 401, then throttled with Retry-After.
	var last *http.Response
	for range 6 {
		last, _ = b.post("/login", url.Values{"password": {"wrong"}}, nil)
	}
	if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Errorf("sixth wrong password: %d Retry-After %q, want 429 with Retry-After", last.StatusCode, last.Header.Get("Retry-After"))
	}
	// Another client (by address) is not throttled; this test shares one
	// address, so log in from a fresh server instead.
	srv2, _, _ := newTestServer(t, apptest.Options{})
	b2 := newBrowser(t, srv2.URL)
	b2.login()
	if resp, body := b2.get("/dashboard"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "shop.example") {
		t.Fatalf("dashboard after login: %d", resp.StatusCode)
	}
	// A form without the session's token is refused.
	if resp, _ := b2.post("/dashboard/sites", url.Values{"domain": {"new.example"}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("add site without csrf token: %d, want 403", resp.StatusCode)
	}
	token := b2.csrf("/dashboard")
	if resp, _ := b2.post("/dashboard/sites", url.Values{"domain": {"new.example"}, "timezone": {"Europe/Berlin"}, "csrf": {token}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("add site: %d", resp.StatusCode)
	}
	if resp, body := b2.post("/dashboard/sites", url.Values{"domain": {"bad domain/x"}, "timezone": {"UTC"}, "csrf": {token}}, nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "bare host name") {
		t.Errorf("add a bad site: %d", resp.StatusCode)
	}
	// Logging out ends the session.
	b2.post("/logout", url.Values{"csrf": {token}}, nil)
	if resp, _ := b2.get("/dashboard"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("dashboard after logout: %d", resp.StatusCode)
	}
	// Bad view parameters name the problem.
	b2.login()
	if resp, body := b2.get("/dashboard/shop.example?period=fortnight"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"field":"period"`) {
		t.Errorf("bad period: %d %s", resp.StatusCode, body)
	}
	if resp, body := b2.get("/dashboard/shop.example?f=is~visit:nonsense~x"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "unknown dimension") {
		t.Errorf("bad filter: %d %s", resp.StatusCode, body)
	}
	if resp, _ := b2.get("/dashboard/nosuch.example"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown site: %d", resp.StatusCode)
	}
}

func TestSettingsSharesAndExport(t *testing.T) {
	srv, st, apiToken := newTestServer(t, apptest.Options{})
	for _, p := range []string{"/", "/pricing", "/", "/signup"} {
		resp, _ := do(t, "POST", srv.URL+"/api/event", `{"n":"pageview","u":"https://shop.example`+p+`","d":"shop.example","r":"https://news.ycombinator.com/"}`, map[string]string{"Content-Type": "text/plain"})
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("event: %d", resp.StatusCode)
		}
	}
	do(t, "POST", srv.URL+"/api/event", `{"n":"Signup","u":"https://shop.example/signup","d":"shop.example"}`, map[string]string{"Content-Type": "text/plain"})
	st.WaitStored(t, 5)

	b := newBrowser(t, srv.URL)
	b.login()
	token := b.csrf("/dashboard/shop.example/settings")
	change := func(action string, form url.Values) (*http.Response, string) {
		form.Set("csrf", token)
		return b.post("/dashboard/shop.example/settings/"+action, form, nil)
	}
	for _, c := range []struct {
		action string
		form   url.Values
		status int
	}{
		{"general", url.Values{"timezone": {"Europe/Berlin"}, "retention_days": {"90"}}, http.StatusSeeOther},
		{"general", url.Values{"timezone": {"Mars/Olympus"}, "retention_days": {"90"}}, http.StatusBadRequest},
		{"ignore", url.Values{"ignore_ips": {"10.0.0.0/8, 192.0.2.1"}, "ignore_paths": {"/admin"}}, http.StatusSeeOther},
		{"ignore", url.Values{"ignore_ips": {"not-an-ip"}}, http.StatusBadRequest},
		{"goal-add", url.Values{"goal": {"/pricing"}}, http.StatusSeeOther},
		{"funnel-add", url.Values{"name": {"Buy"}, "steps": {"/\n/pricing\nSignup"}}, http.StatusSeeOther},
		{"funnel-add", url.Values{"name": {"Short"}, "steps": {"/"}}, http.StatusBadRequest},
		{"nonsense", url.Values{}, http.StatusNotFound},
	} {
		t.Run(c.action+"?"+c.form.Encode(), func(t *testing.T) {
			if resp, body := change(c.action, c.form); resp.StatusCode != c.status {
				t.Errorf("%s %v: %d, want %d\n%s", c.action, c.form, resp.StatusCode, c.status, body)
			}
		})
	}
	s := st.Sites.Lookup(t.Context(), "shop.example")
	if s.TimeZone != "Europe/Berlin" || s.RetentionDays != 90 || len(s.IgnoreIPs) != 2 || len(s.Goals) != 2 || len(s.Funnels) != 1 {
		t.Fatalf("site after settings: %+v", s)
	}

	// A shared link: made with Post/Redirect/Get (its card is shown on
	// the next page, once), opens a read-only view without login, and is
	// not an API token.
	resp0, _ := change("share-add", url.Values{"name": {"team"}})
	next := resp0.Header.Get("Location")
	if resp0.StatusCode != http.StatusSeeOther || !strings.Contains(next, "/settings?new=") {
		t.Fatalf("share-add: %d to %q, want a redirect to the settings page", resp0.StatusCode, next)
	}
	_, body := b.get(next)
	m := regexp.MustCompile(`/share/(wmk_[A-Za-z0-9_-]+)`).FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, "New shared link") {
		t.Fatalf("no shared link in the page")
	}
	if _, again := b.get(next); strings.Contains(again, "New shared link") {
		t.Error("reloading shows the new link's card again")
	}
	// An API token's secret: shown on the next page only, to this session.
	resp0, _ = change("token-add", url.Values{"name": {"ci"}})
	next = resp0.Header.Get("Location")
	if other := newBrowser(t, srv.URL); true {
		other.login()
		if _, page := other.get(next); strings.Contains(page, "New API token") {
			t.Error("another session sees the new token's secret")
		}
	}
	if _, page := b.get(next); !strings.Contains(page, "New API token") || !regexp.MustCompile(`<code>wmk_[A-Za-z0-9_-]+</code>`).MatchString(page) {
		t.Error("the new token's secret is not shown after the redirect")
	}
	anon := newBrowser(t, srv.URL)
	resp, page := anon.get("/share/" + m[1])
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Shared read-only view") || strings.Contains(page, "/settings") {
		t.Fatalf("shared view: %d, read-only marker %v, settings link %v", resp.StatusCode, strings.Contains(page, "Shared read-only view"), strings.Contains(page, "/settings"))
	}
	if !strings.Contains(page, "Funnel: Buy") {
		t.Error("the shared view has no funnel")
	}
	if resp, _ := do(t, "POST", srv.URL+"/api/v2/query", `{"site_id":"shop.example","metrics":["visitors"],"date_range":"day"}`, map[string]string{"Authorization": "Bearer " + m[1]}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("shared link as API token: %d, want 401", resp.StatusCode)
	}

	// The CSV of a panel holds the Stats API's rows.
	resp, csvBody := anon.get("/share/" + m[1] + "/export.csv?period=day&dim=event:page")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("CSV: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	recs, err := csv.NewReader(strings.NewReader(csvBody)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	_, apiBody := do(t, "POST", srv.URL+"/api/v2/query", `{"site_id":"shop.example","metrics":["visitors","pageviews","time_on_page"],"date_range":"day","dimensions":["event:page"]}`, map[string]string{"Authorization": "Bearer " + apiToken})
	var api struct {
		Results []struct {
			Dimensions []string     `json:"dimensions"`
			Metrics    stats.Values `json:"metrics"`
		} `json:"results"`
	}
	if err := json.Unmarshal(apiBody, &api); err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(api.Results)+1 || strings.Join(recs[0], ",") != "Page,visitors,pageviews,time_on_page" {
		t.Fatalf("CSV has %d records (header %v), the API %d rows", len(recs), recs[0], len(api.Results))
	}
	for i, r := range api.Results {
		want := []string{r.Dimensions[0], num(r.Metrics[0]), num(r.Metrics[1]), num(r.Metrics[2])}
		if strings.Join(recs[i+1], ",") != strings.Join(want, ",") {
			t.Errorf("CSV row %d = %v, API row %v", i, recs[i+1], want)
		}
	}
	// The whole view as a zip.
	resp, zipBody := anon.get("/share/" + m[1] + "/export.zip?period=day")
	zr, err := zip.NewReader(bytes.NewReader([]byte(zipBody)), int64(len(zipBody)))
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("zip: %d %v", resp.StatusCode, err)
	}
	names := map[string]bool{}
	for _, f := range zr.File {
		names[f.Name] = true
	}
	for _, n := range []string{"headline.csv", "timeseries.csv", "pages.csv", "sources.csv", "goals.csv", "funnels.csv"} {
		if !names[n] {
			t.Errorf("zip lacks %s (has %v)", n, names)
		}
	}

	// Revoked, the link is gone.
	_, settings := b.get("/dashboard/shop.example/settings")
	id := regexp.MustCompile(`share-revoke".*?name="id" value="(\d+)"`).FindStringSubmatch(settings)
	if id == nil {
		t.Fatal("no revoke form for the shared link")
	}
	change("share-revoke", url.Values{"id": {id[1]}})
	if resp, _ := anon.get("/share/" + m[1]); resp.StatusCode != http.StatusNotFound {
		t.Errorf("revoked shared link: %d, want 404", resp.StatusCode)
	}
	if resp, _ := anon.get("/share/wmk_nonsense"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown shared link: %d, want 404", resp.StatusCode)
	}
	// Removing the site needs its name typed.
	if resp, _ := change("delete", url.Values{"confirm": {"nope"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("delete without confirmation: %d", resp.StatusCode)
	}
	if resp, _ := change("delete", url.Values{"confirm": {"shop.example"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("delete: %d", resp.StatusCode)
	}
	if resp, _ := b.get("/dashboard/shop.example"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("removed site's dashboard: %d", resp.StatusCode)
	}
}

// TestFrontPagePrivate is the newcomer's tenth finding: the public front
// page listed every site and the server's data folder. Both are shown to
// a logged-in administrator only.
func TestFrontPagePrivate(t *testing.T) {
	srv, _, _ := newTestServer(t, apptest.Options{})
	b := newBrowser(t, srv.URL)
	resp, body := b.get("/")
	if resp.StatusCode != 200 || strings.Contains(body, "other.example") || strings.Contains(body, "--data") || !strings.Contains(body, `href="/login"`) ||
		strings.Contains(body, "/api/") || !strings.Contains(body, `class="hero"`) {
		t.Errorf("front page to a visitor: %d\n%s", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("front page Cache-Control %q, want no-store (it differs per session)", resp.Header.Get("Cache-Control"))
	}
	b.login()
	if _, body := b.get("/"); !strings.Contains(body, "other.example") || !strings.Contains(body, "--data") {
		t.Errorf("front page to the administrator lacks the sites or the data folder:\n%s", body)
	}
}
