package app

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"waymark.dev/waymark/internal/apptest"
	"waymark.dev/waymark/internal/config"
)

const testAdminPassword = "dashboard-test-password"

// startDashboard boots the real program with the demo and a known admin
// password.
func startDashboard(t *testing.T) (addr, data string, stop func()) {
	t.Helper()
	return startWith(t, t.TempDir(), nil)
}

// startWith boots the real program on data with the demo, the test admin
// password and the changes of edit.
func startWith(t *testing.T, data string, edit func(*config.Serve)) (addr, dataDir string, stop func()) {
	t.Helper()
	c := config.Defaults()
	c.Addr, c.Data, c.Demo, c.FlushInterval, c.LogLevel = "127.0.0.1:0", data, true, 50*time.Millisecond, "warn"
	c.AdminPassword = testAdminPassword
	if edit != nil {
		edit(&c)
	}
	addr, stop = boot(t, c)
	return addr, data, stop
}

// artifactDir is where screenshots go: $WAYMARK_ARTIFACTS, or a folder in
// the system's temporary directory.
func artifactDir(t *testing.T) string {
	d := os.Getenv("WAYMARK_ARTIFACTS")
	if d == "" {
		d = filepath.Join(os.TempDir(), "waymark-artifacts")
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDashboardBrowser drives the dashboard in headless Chromium: log in,
// add a site, watch a visit from another browser arrive in realtime,
// combine filters from two dimensions, change the range, compare, and
// check the layout at desktop and mobile widths.
func TestDashboardBrowser(t *testing.T) {
	addr, data, stop := startDashboard(t)
	defer stop()
	base := "http://" + addr
	ctx := apptest.Browser(t)
	ctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	location := func() string {
		t.Helper()
		l, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+jsString(sel)+`).length`))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// The front page to a visitor: what Waymark is and how to sign in, at
	// both widths, without sideways scrolling.
	for _, vp := range []struct {
		name string
		w, h int64
	}{{"desktop", 1366, 900}, {"mobile", 390, 844}} {
		run("front page", chromedp.EmulateViewport(vp.w, vp.h), chromedp.Navigate(base+"/"), chromedp.WaitVisible(".hero"))
		if wide, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth + 1`)); wide {
			t.Errorf("%s: the front page scrolls sideways", vp.name)
		}
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(filepath.Join(artifactDir(t), "front-"+vp.name+".png"), png, 0o644)
		}
	}
	run("desktop", chromedp.EmulateViewport(1280, 900))

	// Logged out, the dashboard asks for the password.
	run("open dashboard", chromedp.Navigate(base+"/dashboard"), chromedp.WaitVisible("#password"))
	if l := location(); !strings.Contains(l, "/login") {
		t.Fatalf("logged out /dashboard went to %s, want the login page", l)
	}
	run("wrong password", chromedp.SendKeys("#password", "nope"), chromedp.Submit("#password"), chromedp.WaitVisible(".error"))
	run("log in", chromedp.SendKeys("#password", testAdminPassword), chromedp.Submit("#password"), chromedp.WaitVisible("table.sites"))

	// Add a site; its (empty) view opens.
	run("add site", chromedp.SendKeys("#domain", "shop.example"), chromedp.Submit("#domain"), chromedp.WaitVisible(".headline"))
	if l := location(); !strings.HasSuffix(l, "/dashboard/shop.example") {
		t.Errorf("after adding a site the browser is at %s", l)
	}

	// A new site: the snippet for its domain, and a live wait for its
	// first pageview.
	run("onboarding", chromedp.WaitVisible("#onboarding"))
	if snip, _ := chromedp.Run(ctx, chromedp.Text("#snippet-js")); !strings.Contains(snip, `data-domain="shop.example"`) || !strings.Contains(snip, base+"/js/script.js") {
		t.Errorf("snippet %q", snip)
	}
	req, _ := http.NewRequest("POST", base+"/api/event", strings.NewReader(`{"n":"pageview","u":"https://shop.example/welcome","d":"shop.example"}`))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0") // a bot's hit is dropped
	hit, err := http.DefaultClient.Do(req)
	if err != nil || hit.StatusCode != 202 {
		t.Fatalf("first hit: %v %v", err, hit)
	}
	hit.Body.Close()
	run("first hit arrives", chromedp.WaitVisible(".waiting.arrived"))
	if msg, _ := chromedp.Run(ctx, chromedp.Text(".waiting")); !strings.Contains(msg, "/welcome") {
		t.Errorf("arrival message %q", msg)
	}

	// The demo shop's view has the synthetic week.
	view := base + "/dashboard/" + DemoDomain
	run("demo view", chromedp.Navigate(view), chromedp.WaitVisible("#panel-pages table"))
	if n := count(".panel table"); n < 10 {
		t.Errorf("%d panels with rows, want the demo's data in most of them", n)
	}

	// A visitor in another browser context shows up in realtime.
	visitor, cancelVisitor := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancelVisitor()
	if err := chromedp.Do(visitor, chromedp.Navigate(base+"/demo/products/lamp"), chromedp.WaitVisible("h1")); err != nil {
		t.Fatal(err)
	}
	seen := time.Now()
	run("realtime", chromedp.WaitVisible(`#rt-list li`))
	for {
		text, err := chromedp.Run(ctx, chromedp.Text("#rt-list"))
		if err != nil {
			t.Fatal(err)
		}
		v, _ := chromedp.Run(ctx, chromedp.Text("#rt-visitors"))
		if strings.Contains(text, "/demo/products/lamp") && v != "0" && v != "–" {
			break
		}
		if time.Since(seen) > 3*time.Second {
			t.Fatalf("after 3 s the realtime panel shows %s visitors and %q", v, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("visit shown in realtime %s after the page loaded", time.Since(seen).Round(10*time.Millisecond))

	// Two filters from different dimensions: every panel is drawn again
	// for the filtered visits.
	before, _ := chromedp.Run(ctx, chromedp.Text(".headline .figure:first-child .value"))
	run("filter by source", chromedp.Click(`#panel-sources tbody tr:first-child a`), chromedp.WaitVisible(".chip"))
	run("filter by browser", chromedp.Click(`#panel-browsers tbody tr:first-child a`), chromedp.WaitVisible(".chip:nth-of-type(2)"))
	if n := count(".chip"); n != 2 {
		t.Errorf("%d filter chips, want 2", n)
	}
	l := location()
	if strings.Count(l, "f=") != 2 {
		t.Errorf("the address %s does not hold both filters", l)
	}
	after, _ := chromedp.Run(ctx, chromedp.Text(".headline .figure:first-child .value"))
	if after == before {
		t.Errorf("visitors stayed %s with two filters", after)
	}
	// The browser panel drills down into versions once filtered.
	if title, _ := chromedp.Run(ctx, chromedp.Text("#title-browsers")); title != "Browser versions" {
		t.Errorf("browser panel title %q after filtering a browser", title)
	}
	// Reloading the address gives the same view: it can be bookmarked.
	run("reload", chromedp.Navigate(l), chromedp.WaitVisible(".chip"))
	if n := count(".chip"); n != 2 {
		t.Errorf("after reloading the address %d chips, want 2", n)
	}
	run("remove a filter", chromedp.Click(`.chip a`), chromedp.WaitNotPresent(".chip:nth-of-type(2)"))
	if n := count(".chip"); n != 1 {
		t.Errorf("after removing one filter %d chips, want 1", n)
	}

	// Date range by link and by keyboard; comparison.
	run("7 days", chromedp.Click(`.periods a[data-key="w"]`), chromedp.WaitVisible(`.periods a[data-key="w"][aria-current="page"]`))
	if l := location(); !strings.Contains(l, "period=7d") {
		t.Errorf("after choosing 7 days the address is %s", l)
	}
	run("shortcut y", chromedp.Click("h1"), chromedp.KeyEvent("y"), chromedp.WaitVisible(`.periods a[data-key="y"][aria-current="page"]`))
	if l := location(); !strings.Contains(l, "period=yesterday") {
		t.Errorf("after pressing y the address is %s", l)
	}
	run("compare", chromedp.Navigate(view+"?period=7d"), chromedp.WaitVisible(".compare"), chromedp.Click(".compare"), chromedp.WaitVisible(`.compare[aria-pressed="true"]`))
	if n := count("svg.chart polyline.previous"); n != 1 {
		t.Errorf("compared chart has %d previous-period lines, want 1", n)
	}

	// A shared link opens the view read-only for someone logged out, and
	// its CSV of a panel has the stats API's rows.
	run("make a shared link", chromedp.Navigate(view+"/settings"), chromedp.WaitVisible("#share_name"),
		chromedp.SendKeys("#share_name", "team"), chromedp.Submit("#share_name"), chromedp.WaitVisible(".secret a"))
	shared, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.secret a').href`))
	if err != nil || !strings.Contains(shared, "/share/wmk_") {
		t.Fatalf("shared link %q (%v)", shared, err)
	}
	if err := chromedp.Do(visitor, chromedp.Navigate(shared), chromedp.WaitVisible(".sitetools")); err != nil {
		t.Fatal(err)
	}
	if n, _ := chromedp.Run(visitor, chromedp.Evaluate[int](`document.querySelectorAll('.logout, a[href$="/settings"]').length`)); n != 0 {
		t.Errorf("the shared view offers logout or settings (%d)", n)
	}
	csvText, err := chromedp.Run(visitor, chromedp.Evaluate[string](`fetch(location.pathname + '/export.csv?dim=event:page').then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(csvText)).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v\n%s", err, csvText)
	}
	var api struct {
		Results []struct {
			Dimensions []string  `json:"dimensions"`
			Metrics    []float64 `json:"metrics"`
		} `json:"results"`
	}
	body := postQuery(t, addr, addToken(t, data), `{"site_id":"`+DemoDomain+`","metrics":["visitors","pageviews","time_on_page"],"date_range":"30d","dimensions":["event:page"]}`)
	if err := json.Unmarshal([]byte(body), &api); err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(api.Results)+1 {
		t.Fatalf("CSV has %d rows, the API %d", len(recs)-1, len(api.Results))
	}
	for i, r := range api.Results {
		want := []string{r.Dimensions[0], strconv.FormatFloat(r.Metrics[0], 'f', -1, 64), strconv.FormatFloat(r.Metrics[1], 'f', -1, 64), strconv.FormatFloat(r.Metrics[2], 'f', -1, 64)}
		if strings.Join(recs[i+1], ",") != strings.Join(want, ",") {
			t.Errorf("CSV row %d = %v, the API's %v", i+1, recs[i+1], want)
		}
	}

	// Layout at desktop and mobile widths: no sideways scrolling, no
	// overlapping panels. Screenshots are kept as artifacts.
	dir := artifactDir(t)
	for _, vp := range []struct {
		name string
		w, h int64
	}{{"desktop", 1280, 900}, {"mobile", 390, 844}} {
		run("viewport", chromedp.EmulateViewport(vp.w, vp.h), chromedp.Navigate(view), chromedp.WaitVisible("#panel-pages"), chromedp.WaitVisible("#rt-list li"))
		overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth + 1`))
		if err != nil || overflow {
			wide, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.scrollWidth + ' > ' + document.documentElement.clientWidth + ': ' + [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1 || e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX == 'visible').slice(0, 5).map(e => e.tagName + '.' + e.className + ' r=' + Math.round(e.getBoundingClientRect().right) + ' sw=' + e.scrollWidth + ' cw=' + e.clientWidth).join(', ')`))
			t.Errorf("%s: the page scrolls sideways (%v); too wide: %s", vp.name, err, wide)
		}
		// The chart's labels keep their shape at any width (they were
		// squeezed to a few pixels on phones) and dates read in the
		// browser's locale.
		axis, err := chromedp.Run(ctx, chromedp.Evaluate[[]any](`(() => { const t = document.querySelector('svg.chart text.axis.x'); const r = t.getBoundingClientRect(); return [t.textContent, r.width, r.height]; })()`))
		if err != nil || len(axis) != 3 {
			t.Errorf("%s: chart axis: %v %v", vp.name, axis, err)
		} else if label, _ := axis[0].(string); !strings.ContainsAny(label, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") || axis[2].(float64) < 9 || axis[1].(float64) < 2*axis[2].(float64) {
			t.Errorf("%s: chart axis label %q is %.1f x %.1f px", vp.name, label, axis[1], axis[2])
		}
		// No figure or column heading breaks inside a word ("VISITO RS"):
		// each numeric cell's text lies on one line.
		wrapped, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.panel th.num, .panel td.num, .panel td.label a, .rt-list li span')].filter(e => {
			const r = document.createRange(); r.selectNodeContents(e);
			const tops = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
			return tops.size > 1;
		}).concat([...document.querySelectorAll('.headline dd')].filter(dd => {
			// A change badge stays beside its figure.
			const v = dd.querySelector('.value'), c = dd.querySelector('.change');
			return c && c.getBoundingClientRect().top >= v.getBoundingClientRect().bottom - 2;
		})).slice(0, 5).map(e => e.textContent)`))
		if err != nil || len(wrapped) > 0 {
			t.Errorf("%s: cells whose text wraps: %q (%v)", vp.name, wrapped, err)
		}
		overlap, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
			const r = [...document.querySelectorAll('.panel, .figure, .chartcard, .realtime')].map(e => [e.id || e.className, e.getBoundingClientRect()]);
			for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++) {
				const a = r[i][1], b = r[j][1];
				if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) return r[i][0] + ' / ' + r[j][0];
			}
			return '';
		})()`))
		if err != nil || overlap != "" {
			t.Errorf("%s: overlapping boxes %q (%v)", vp.name, overlap, err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "dashboard-"+vp.name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s", p)
	}

	// One date format, the browser's locale's, on every page: no ISO
	// ("2026-11-03") or bare "11-03" dates left in the text or the chart's
	// tooltips, and a day in the chart's table reads as Intl writes it.
	from := time.Now().AddDate(0, 0, -9).Format(time.DateOnly)
	to := time.Now().AddDate(0, 0, -2).Format(time.DateOnly)
	for _, page := range []string{view, view + "?period=day", view + "?period=12mo", view + "?from=" + from + "&to=" + to, view + "/settings"} {
		run("open "+page, chromedp.Navigate(page), chromedp.WaitVisible("h1"))
		res, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](dateCheck))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range res {
			t.Errorf("%s: %s", page, p)
		}
	}

	// Accessibility of the main pages: every control has a label, headings
	// do not skip levels, and Tab moves through visible controls in
	// document order.
	for _, page := range []string{base + "/dashboard", view, view + "/settings", view + "/details?dim=event:page"} {
		run("open "+page, chromedp.Navigate(page), chromedp.WaitVisible("h1"))
		problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](a11yCheck))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s", page, p)
		}
		var order []string
		for range 12 {
			run("tab", chromedp.KeyEvent("\t"))
			el, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const e = document.activeElement; if (!e || e === document.body) return ''; const r = e.getBoundingClientRect(); return (r.width > 0 && r.height > 0 ? '' : 'INVISIBLE ') + e.tagName + ':' + ([...document.querySelectorAll('a,button,input,select,textarea,summary')].indexOf(e)); })()`))
			if err != nil {
				t.Fatal(err)
			}
			if el == "" {
				break // past the last control
			}
			order = append(order, el)
		}
		last := -1
		for _, o := range order {
			if strings.HasPrefix(o, "INVISIBLE") {
				t.Errorf("%s: focus went to an invisible element (%s)", page, o)
			}
			i := strings.LastIndex(o, ":")
			n := 0
			if i >= 0 {
				n, _ = strconv.Atoi(o[i+1:])
			}
			if n < last {
				t.Errorf("%s: focus order jumps back: %v", page, order)
				break
			}
			last = n
		}
	}

	// Logging out ends the session.
	run("log out", chromedp.EmulateViewport(1280, 900), chromedp.Click(".logout button"), chromedp.WaitVisible("#password"))
	run("after logout", chromedp.Navigate(view), chromedp.WaitVisible("#password"))
}

// a11yCheck lists missing labels and skipped heading levels on a page.
const a11yCheck = `(() => {
	const out = [];
	for (const e of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
		if (!(e.labels && e.labels.length) && !e.getAttribute('aria-label')) out.push('control without a label: ' + (e.id || e.name));
	}
	for (const e of document.querySelectorAll('button, a')) {
		if (!e.textContent.trim() && !e.getAttribute('aria-label')) out.push('control without a name: ' + e.outerHTML.slice(0, 80));
	}
	let level = 0;
	const hs = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')];
	if (hs.filter(h => h.tagName === 'H1').length !== 1) out.push('the page needs exactly one h1');
	for (const h of hs) {
		const l = +h.tagName[1];
		if (l > level + 1) out.push('heading level skipped before: ' + h.textContent.trim());
		level = l;
	}
	if (!document.documentElement.lang) out.push('no lang on html');
	if (!document.querySelector('main')) out.push('no main landmark');
	return out;
})()`

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// dateCheck lists dates on the page that are not in the browser's locale:
// ISO or month-day text outside form fields and code, <time> elements the
// script did not write, and a chart table's day unlike Intl's.
const dateCheck = `(() => {
	const bad = [];
	const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
	while (w.nextNode()) {
		const n = w.currentNode, text = n.textContent.trim();
		if (!text || n.parentElement.closest('script,style,code,pre,textarea,input,.snippet')) continue;
		if (/\b\d{4}-\d{2}-\d{2}\b/.test(text) || /^\d{2}-\d{2}$/.test(text) || /\b\d{1,2}\/\d{1,2}\/\d{4}\b/.test(text)) bad.push('not in the locale: ' + text.slice(0, 80));
	}
	document.querySelectorAll('time[data-fmt]').forEach(t => {
		if (/^\d{1,2} [A-Z][a-z]{2} \d{4}/.test(t.textContent) && new Intl.DateTimeFormat().resolvedOptions().locale !== 'en-GB') bad.push('time element left as its fallback: ' + t.textContent);
	});
	const day = document.querySelector('.charttable time[data-fmt="day"]');
	if (day) {
		const [y, m, d] = day.getAttribute('datetime').split('-').map(Number);
		const want = new Date(y, m - 1, d).toLocaleDateString(undefined, { dateStyle: 'medium' });
		if (day.textContent !== want) bad.push('chart table day ' + JSON.stringify(day.textContent) + ', the locale writes ' + JSON.stringify(want));
	}
	return bad;
})()`
