package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"waymark.dev/waymark/internal/apptest"
)

// sentLog records, in the page, each beacon the tracker sends (it posts
// with fetch), before the tracker loads.
const sentLog = `<script>window.sent=[];const f0=window.fetch;window.fetch=(u,o)=>{window.sent.push(JSON.parse(o.body));return f0(u,o)};` +
	`document.addEventListener('click',e=>e.preventDefault())</script>`

// TestPlausibleSnippet: a site moving from Plausible keeps its snippet.
// In Chromium, on a page of another origin: Plausible's documented
// snippet with calls queued before the script loads (replayed in order
// after the pageview; the callback gets the answer's status), Plausible's
// script variants (hash routing, outbound links, file downloads, tagged
// events, manual pageviews), each checked through the Stats API.
func TestPlausibleSnippet(t *testing.T) {
	data := t.TempDir()
	addr, stop := startServer(t, data)
	defer stop()
	token := addToken(t, data)
	tag := func(script string) string {
		return fmt.Sprintf(`<script defer data-domain="%s" data-allow-localhost src="http://%s/js/%s"></script>`, DemoDomain, addr, script)
	}
	pages := map[string]string{
		"/snippet": sentLog + tag("script.js") +
			`<script>window.plausible = window.plausible || function() { (window.plausible.q = window.plausible.q || []).push(arguments) }</script>` +
			`<script>plausible('Purchase', {props: {plan: 'pro'}, revenue: {amount: 12.5, currency: 'EUR'}, callback: function (r) { window.cb = r }})</script>` +
			`<h1>Snippet</h1><div style="height:3000px"></div><p id="end">end</p>`,
		"/variants": sentLog + tag("script.hash.outbound-links.file-downloads.tagged-events.js") +
			`<h1>Variants</h1><a id="out" href="https://example.org/x">out</a> <a id="pdf" href="/files/report.pdf">pdf</a>` +
			` <button id="tagged" class="btn plausible-event-name=Newsletter+Signup plausible-event-position=footer">join</button>`,
		"/hooked": sentLog + tag("script.js") +
			`<script>window.plausible = window.plausible || function() { (window.plausible.q = window.plausible.q || []).push(arguments) }</script>` +
			`<script>plausible('Kept'); plausible('hook', function (p) { return p.n == 'pageview' ? null : p })</script><h1>Hooked</h1>`,
		"/manual": sentLog + tag("script.manual.js") +
			`<script>window.plausible = window.plausible || function() { (window.plausible.q = window.plausible.q || []).push(arguments) }</script>` +
			`<script>plausible('pageview', {u: location.origin + '/virtual/checkout'})</script><h1>Manual</h1>`,
	}
	site := pagesSite(pages, "")
	defer site.Close()

	ctx := apptest.Browser(t)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	sent := func() string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.sent)`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	waitSent := func(n int) string {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			c, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`window.sent.length`))
			if c >= n || time.Now().After(deadline) {
				return sent()
			}
		}
	}

	// The snippet: the queued Purchase goes after the pageview, with its
	// props and revenue, and the callback hears 202; then the visitor reads
	// to the end of the page (the engagement report goes when it is left).
	if err := chromedp.Do(ctx, chromedp.Navigate(site.URL+"/snippet"), chromedp.WaitVisible("h1"),
		chromedp.Poll[chromedp.Void](`window.cb`)); err != nil {
		t.Fatalf("snippet: %v (sent %s)", err, sent())
	}
	s := sent()
	if !strings.HasPrefix(s, `[{"n":"pageview"`) || !strings.Contains(s, `},{"n":"Purchase"`) || !strings.Contains(s, `"p":{"plan":"pro"}`) ||
		!strings.Contains(s, `"$":{"amount":12.5,"currency":"EUR"}`) {
		t.Errorf("snippet sent %s", s)
	}
	if st, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`window.cb.status`)); st != 202 {
		t.Errorf("callback status %d, want 202", st)
	}
	if err := chromedp.Do(ctx, chromedp.ScrollIntoView("#end"), chromedp.Sleep(1500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}

	// The variants page opened at a fragment route; then three clicks.
	if err := chromedp.Do(ctx, chromedp.Navigate(site.URL+"/variants#/cart"), chromedp.WaitVisible("h1"),
		chromedp.Click("#out"), chromedp.Click("#pdf"), chromedp.Click("#tagged")); err != nil {
		t.Fatal(err)
	}
	s = waitSent(4)
	for _, want := range []string{`"n":"pageview","u":"` + site.URL + `/variants#/cart"`, `"h":1`, `"n":"Outbound Link: Click"`,
		`"p":{"url":"https://example.org/x"}`, `"n":"File Download"`, `"n":"Newsletter Signup"`, `"p":{"position":"footer"}`} {
		if !strings.Contains(s, want) {
			t.Errorf("variants sent %s, lacking %s", s, want)
		}
	}

	// A hook queued before the script loaded (a consent hook) applies to
	// the first pageview already, though queued after another call.
	if err := chromedp.Do(ctx, chromedp.Navigate(site.URL+"/hooked"), chromedp.WaitVisible("h1")); err != nil {
		t.Fatal(err)
	}
	if s = waitSent(1); strings.Contains(s, `"pageview"`) || !strings.Contains(s, `"n":"Kept"`) {
		t.Errorf("hooked sent %s", s)
	}

	// Manual: only the pageview the page asks for, at its address.
	if err := chromedp.Do(ctx, chromedp.Navigate(site.URL+"/manual"), chromedp.WaitVisible("h1")); err != nil {
		t.Fatal(err)
	}
	if s = waitSent(1); strings.Count(s, `"n":"pageview"`) != 1 || !strings.Contains(s, `/virtual/checkout"`) {
		t.Errorf("manual sent %s", s)
	}

	// All of it through the Stats API.
	q := `{"site_id":"` + DemoDomain + `","metrics":["events"],"date_range":"day","dimensions":["event:name","event:page"],"filters":[["is","visit:hostname",["127.0.0.1"]]]}`
	want := []string{`["pageview","/snippet"]`, `["Purchase","/snippet"]`, `["pageview","/variants#/cart"]`, `["Outbound Link: Click","/variants#/cart"]`,
		`["File Download","/variants#/cart"]`, `["Newsletter Signup","/variants#/cart"]`, `["pageview","/virtual/checkout"]`}
	waitRows(t, addr, token, q, want)
	prop := postQuery(t, addr, token, `{"site_id":"`+DemoDomain+`","metrics":["events"],"date_range":"day","dimensions":["event:props:plan"],"filters":[["is","event:name",["Purchase"]],["is","visit:hostname",["127.0.0.1"]]]}`)
	if !strings.Contains(prop, `"dimensions":["pro"],"metrics":[1]`) {
		t.Errorf("Purchase's plan: %s", prop)
	}
	// The demo's Purchase goal counts revenue in EUR: the snippet's 12.50.
	rev := postQuery(t, addr, token, `{"site_id":"`+DemoDomain+`","metrics":["total_revenue"],"date_range":"day","filters":[["is","event:goal",["Purchase"]],["is","visit:hostname",["127.0.0.1"]]]}`)
	if !strings.Contains(rev, `{"currency":"EUR","long":"€12.50","short":"€12.5","value":12.5}`) {
		t.Errorf("revenue of the snippet's Purchase: %s", rev)
	}
	// The engagement report of the snippet's page, sent when it was left.
	eng := postQuery(t, addr, token, `{"site_id":"`+DemoDomain+`","metrics":["time_on_page","scroll_depth"],"date_range":"day","dimensions":["event:page"],"filters":[["is","event:page",["/snippet"]],["is","visit:hostname",["127.0.0.1"]]]}`)
	var er struct{ Results []struct{ Metrics []float64 } }
	if json.Unmarshal([]byte(eng), &er) != nil || len(er.Results) != 1 || er.Results[0].Metrics[0] < 1 || er.Results[0].Metrics[1] < 50 {
		t.Errorf("engagement of /snippet (time on page >= 1 s, scroll depth >= 50%%): %s", eng)
	}
}

// TestPlausibleNPMTrackers: Plausible's own npm packages, pointed at
// Waymark, in Chromium: the current @plausible-analytics/tracker (pageview,
// a custom event with props and revenue and its callback, an outbound
// link, the engagement report sent when the page is left) and the legacy
// plausible-tracker (pageview with the screen width, a custom event with
// props), each checked through the Stats API. The packages come from the
// npm registry through scripts/trackers (WAYMARK_TRACKERS_TESTDATA).
func TestPlausibleNPMTrackers(t *testing.T) {
	dir := os.Getenv("WAYMARK_TRACKERS_TESTDATA")
	if dir == "" {
		if os.Getenv("WAYMARK_REQUIRE_SERVICES") != "" {
			t.Fatal("WAYMARK_TRACKERS_TESTDATA is not set: run scripts/test, or export WAYMARK_TRACKERS_TESTDATA=$(scripts/trackers)")
		}
		t.Skip("WAYMARK_TRACKERS_TESTDATA is not set (export WAYMARK_TRACKERS_TESTDATA=$(scripts/trackers))")
	}
	data := t.TempDir()
	addr, stop := startServer(t, data)
	defer stop()
	token := addToken(t, data)
	pages := map[string]string{
		"/official": sentLog + `<script type="module">import {init, track} from '/npm/official/plausible.js';` +
			fmt.Sprintf(`init({domain: %q, endpoint: 'http://%s/api/event', captureOnLocalhost: true, outboundLinks: true});`, DemoDomain, addr) +
			`track('Purchase', {props: {plan: 'team'}, revenue: {amount: 29, currency: 'USD'}, callback: r => { window.cb = r }});</script>` +
			`<h1>Official</h1><a id="out" href="https://example.org/docs">docs</a><div style="height:3000px"></div><p id="end">end</p>`,
		"/legacy": sentLog + `<script>const s0=XMLHttpRequest.prototype.send;XMLHttpRequest.prototype.send=function(b){window.sent.push(JSON.parse(b));return s0.call(this,b)}</script>` +
			`<script type="module">import Plausible from '/npm/legacy/build/module/index.js';` +
			fmt.Sprintf(`const p = Plausible({domain: %q, apiHost: 'http://%s', trackLocalhost: true});`, DemoDomain, addr) +
			`p.trackPageview(); p.trackEvent('Download', {props: {file: 'guide.pdf'}, callback: () => { window.cb = {status: 202} }});</script><h1>Legacy</h1>`,
		"/next": `<h1>Next</h1>`,
	}
	site := pagesSite(pages, dir)
	defer site.Close()

	ctx := apptest.Browser(t)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	sent := func() string {
		s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.sent)`))
		return s
	}
	// The official tracker: the callback hears 202; then a click on the
	// outbound link, a scroll to the end, and leaving for another page
	// (which sends the engagement report).
	if err := chromedp.Do(ctx, chromedp.Navigate(site.URL+"/official"), chromedp.WaitVisible("h1"),
		chromedp.Poll[chromedp.Void](`window.cb`)); err != nil {
		t.Fatalf("official: %v (sent %s)", err, sent())
	}
	if st, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`window.cb.status`)); st != 202 {
		t.Errorf("official tracker's callback status %d, want 202 (sent %s)", st, sent())
	}
	if err := chromedp.Do(ctx, chromedp.Click("#out"), chromedp.ScrollIntoView("#end"), chromedp.Sleep(1500*time.Millisecond),
		chromedp.Navigate(site.URL+"/next"), chromedp.WaitVisible("h1")); err != nil {
		t.Fatal(err)
	}
	// The legacy tracker.
	if err := chromedp.Do(ctx, chromedp.Navigate(site.URL+"/legacy"), chromedp.WaitVisible("h1"),
		chromedp.Poll[chromedp.Void](`window.cb`)); err != nil {
		t.Fatalf("legacy: %v (sent %s)", err, sent())
	}
	if s := sent(); !strings.Contains(s, `"n":"pageview"`) || !strings.Contains(s, `"w":`) {
		t.Errorf("legacy tracker sent %s, without the screen width", s)
	}

	q := `{"site_id":"` + DemoDomain + `","metrics":["events"],"date_range":"day","dimensions":["event:name","event:page"],"filters":[["is","visit:hostname",["127.0.0.1"]]]}`
	want := []string{`["pageview","/official"]`, `["Purchase","/official"]`, `["Outbound Link: Click","/official"]`,
		`["pageview","/legacy"]`, `["Download","/legacy"]`}
	waitRows(t, addr, token, q, want)
	for _, c := range []struct{ q, want string }{
		{`"dimensions":["event:props:plan"],"filters":[["is","event:name",["Purchase"]]]`, `"dimensions":["team"],"metrics":[1]`},
		{`"dimensions":["event:props:url"],"filters":[["is","event:name",["Outbound Link: Click"]]]`, `"dimensions":["https://example.org/docs"],"metrics":[1]`},
		{`"dimensions":["event:props:file"],"filters":[["is","event:name",["Download"]]]`, `"dimensions":["guide.pdf"],"metrics":[1]`},
	} {
		b := postQuery(t, addr, token, `{"site_id":"`+DemoDomain+`","metrics":["events"],"date_range":"day",`+c.q+`}`)
		if !strings.Contains(b, c.want) {
			t.Errorf("%s: %s, want %s", c.q, b, c.want)
		}
	}
	// The engagement report of /official: time on the page and how far
	// down it was read.
	eng := `{"site_id":"` + DemoDomain + `","metrics":["time_on_page","scroll_depth"],"date_range":"day","dimensions":["event:page"],"filters":[["is","event:page",["/official"]]]}`
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		b := postQuery(t, addr, token, eng)
		var r struct{ Results []struct{ Metrics []float64 } }
		if json.Unmarshal([]byte(b), &r) == nil && len(r.Results) == 1 && r.Results[0].Metrics[0] >= 1 && r.Results[0].Metrics[1] > 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("engagement of /official: %s", b)
		}
	}
}

// pagesSite serves the test pages of another origin than Waymark's: each
// body in a document of its own, and under /npm/ the files of npmDir (the
// npm packages' modules; the legacy package imports them without the .js
// a browser needs, which a bundler would add).
func pagesSite(pages map[string]string, npmDir string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/npm/"); ok && npmDir != "" && !strings.Contains(rest, "..") {
			name := filepath.Join(npmDir, filepath.FromSlash(rest))
			if filepath.Ext(name) == "" {
				name += ".js"
			}
			w.Header().Set("Content-Type", "text/javascript")
			http.ServeFile(w, r, name)
			return
		}
		body, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><html><head><title>t</title></head><body>%s</body></html>", body)
	}))
}

// waitRows waits until the Stats API's answer to q has a row with each of
// the dimension lists in want (stored hits arrive within a second or so).
func waitRows(t *testing.T, addr, token, q string, want []string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		body := postQuery(t, addr, token, q)
		missing := 0
		for _, w := range want {
			if !strings.Contains(body, `"dimensions":`+w) {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats lack %d of %v: %s", missing, want, body)
		}
	}
}
