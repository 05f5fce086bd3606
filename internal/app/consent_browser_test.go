package app

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"waymark.dev/waymark/internal/apptest"
)

// TestConsentBrowser drives the demo shop's consent banner in Chromium:
// nothing identifying before a choice, keyboard-only refusal, accepting
// (the identity cookie's attributes read back through DevTools),
// withdrawing from the preferences panel, and Global Privacy Control.
func TestConsentBrowser(t *testing.T) {
	addr, _, stop := startDashboard(t)
	defer stop()
	base := "http://" + addr
	root := apptest.Browser(t)
	root, cancel := context.WithTimeout(root, 120*time.Second)
	defer cancel()
	fresh := func() context.Context {
		ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		return ctx
	}
	do := func(ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	cookies := func(ctx context.Context) map[string]*network.Cookie {
		t.Helper()
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]*network.Cookie{}
		for _, c := range res.Cookies {
			m[c.Name] = c
		}
		return m
	}
	state := func(ctx context.Context) map[string]any {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`waymark.consent.get()`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	// First visit: the banner, and nothing that identifies the browser.
	a := fresh()
	do(a, "first visit", chromedp.Navigate(base+"/demo/"), chromedp.WaitVisible(`.wm-consent[role="dialog"]`))
	if c := cookies(a); c["waymark_id"] != nil || c["waymark_consent"] != nil {
		t.Errorf("cookies before a choice: %v", c)
	}
	if n, _ := chromedp.Run(a, chromedp.Evaluate[int](`localStorage.length`)); n != 0 {
		t.Errorf("local storage before a choice: %d items", n)
	}
	// Keyboard only: focus starts on the first button and stays in the
	// dialog; Tab to "Reject all" and press Enter.
	focused := func() string {
		s, _ := chromedp.Run(a, chromedp.Evaluate[string](`document.activeElement.getAttribute('data-wm') || document.activeElement.tagName`))
		return s
	}
	if f := focused(); f != "accept" {
		t.Errorf("focus starts on %q, want the Accept button", f)
	}
	var order []string
	for range 4 {
		do(a, "tab", chromedp.KeyEvent("\t"))
		order = append(order, focused())
	}
	if strings.Join(order, ",") != "reject,customise,accept,reject" {
		t.Errorf("Tab order %v: want the three buttons, kept inside the dialog", order)
	}
	do(a, "enter", chromedp.KeyEvent("\r"), chromedp.WaitNotPresent(".wm-consent"))
	// The receipt says where the choice was made: the banner's first
	// layer (it said "preferences" for every bulk choice before).
	if s := state(a); s["prompt"] != false || s["visitor_id"] != "" || s["receipt_id"] == "" || s["source"] != "banner" {
		t.Errorf("after refusing: %v", s)
	}
	if c := cookies(a); c["waymark_id"] != nil || c["waymark_consent"] == nil {
		t.Errorf("after refusing: cookies %v, want only the consent cookie", c)
	}
	do(a, "reload", chromedp.Reload(), chromedp.WaitVisible("h1"), chromedp.Sleep(500*time.Millisecond))
	if n, _ := chromedp.Run(a, chromedp.Evaluate[int](`document.querySelectorAll('.wm-consent').length`)); n != 0 {
		t.Error("the banner asks again after a decision")
	}

	// Accept all: the identity cookie, as the server set it.
	b := fresh()
	do(b, "accept", chromedp.Navigate(base+"/demo/"), chromedp.WaitVisible(".wm-consent"),
		chromedp.Click(`[data-wm="accept"]`), chromedp.WaitNotPresent(".wm-consent"))
	id := cookies(b)["waymark_id"]
	if id == nil || !id.HTTPOnly || id.SameSite != network.CookieSameSiteLax || id.Path != "/" {
		t.Fatalf("identity cookie %+v: want HttpOnly, SameSite=Lax, Path=/", id)
	}
	if days := (id.Expires - float64(time.Now().Unix())) / 86400; math.Abs(days-400) > 1 {
		t.Errorf("identity cookie lasts %.1f days, want 400", days)
	}
	if s := state(b); s["visitor_id"] == "" || s["source"] != "banner" {
		t.Errorf("after accepting on the banner, no visitor id or not source banner: %v", s)
	}
	if v, _ := chromedp.Run(b, chromedp.Evaluate[string](`document.cookie`)); strings.Contains(v, "waymark_id") {
		t.Error("page scripts can read the identity cookie")
	}
	// Withdraw analytics in the preferences panel (the footer link).
	do(b, "preferences", chromedp.Click(`[data-waymark-preferences]`), chromedp.WaitVisible("#wm-p-analytics"),
		chromedp.Click("#wm-p-analytics"), chromedp.Click(`[data-wm="save"]`), chromedp.WaitNotPresent(".wm-consent"))
	if s := state(b); s["purposes"].(map[string]any)["analytics"] != false || s["purposes"].(map[string]any)["preferences"] != true || s["source"] != "preferences" {
		t.Errorf("after withdrawing analytics in the preferences: %v", s)
	}
	// What is stored about me, and forgetting it.
	do(b, "me", chromedp.Navigate(base+"/demo/me"), chromedp.WaitVisible("#me-receipts tbody tr"))
	// Choices as a table, dates as dates, ids short (whole in the title),
	// refusals among the receipts.
	if rows, _ := chromedp.Run(b, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#me-receipts tbody tr")].map(r => r.textContent)`)); len(rows) < 2 ||
		!strings.Contains(strings.Join(rows, "\n"), "refused: Analytics") || strings.Contains(strings.Join(rows, "\n"), "T") && strings.Contains(strings.Join(rows, "\n"), "Z ") {
		t.Errorf("receipts %q", rows)
	}
	if idText, _ := chromedp.Run(b, chromedp.Text("#me-id")); len(idText) > 12 {
		t.Errorf("the visitor id shows whole: %q", idText)
	}
	do(b, "phone", chromedp.EmulateViewport(390, 844))
	if wide, _ := chromedp.Run(b, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth + 1`)); wide {
		t.Error("the page scrolls sideways at 390 px")
	}
	if png, err := chromedp.Run(b, chromedp.FullScreenshot(100)); err == nil {
		os.WriteFile(filepath.Join(artifactDir(t), "demo-me-mobile.png"), png, 0o644)
	}
	do(b, "desktop", chromedp.EmulateViewport(1280, 900))
	do(b, "forget", chromedp.Click("#forget"), chromedp.WaitVisible("#forgotten"), chromedp.Sleep(500*time.Millisecond))
	if txt, _ := chromedp.Run(b, chromedp.Text("#me-id")); txt != "none" {
		t.Errorf("after forgetting, the visitor id shows %q", txt)
	}
	if msg, _ := chromedp.Run(b, chromedp.Text("#forgotten")); !strings.HasPrefix(msg, "Done:") {
		t.Errorf("no confirmation after Forget me: %q", msg)
	}
	if c := cookies(b); c["waymark_id"] != nil {
		t.Error("the identity cookie survives forgetting")
	}

	// Global Privacy Control by the JS property alone (an extension that
	// sets no header): the SDK passes it on.
	j := fresh()
	if _, err := chromedp.Call(j, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})`}); err != nil {
		t.Fatal(err)
	}
	do(j, "gpc property", chromedp.Navigate(base+"/demo/"), chromedp.WaitVisible(".wm-gpc"))

	// Global Privacy Control: the notice, and Accept all keeps analytics off.
	g := fresh()
	if _, err := chromedp.Call(g, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(g, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Sec-GPC": "1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(g, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})`}); err != nil {
		t.Fatal(err)
	}
	do(g, "gpc", chromedp.Navigate(base+"/demo/"), chromedp.WaitVisible(".wm-gpc"), chromedp.Click(`[data-wm="accept"]`), chromedp.WaitNotPresent(".wm-consent"))
	if p := state(g)["purposes"].(map[string]any); p["analytics"] != false || p["preferences"] != true {
		t.Errorf("Accept all under GPC: %v, want analytics off", p)
	}
}

// TestRememberedBrowser: sign-up details are remembered after consent to
// preferences, filled in on the next visit, gone after "forget", and never
// stored without the consent.
func TestRememberedBrowser(t *testing.T) {
	addr, _, stop := startDashboard(t)
	defer stop()
	base := "http://" + addr
	root := apptest.Browser(t)
	root, cancel := context.WithTimeout(root, 40*time.Second)
	defer cancel()
	ctx, cancel2 := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	defer cancel2()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	value := func(sel string) string {
		v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+sel+`').value`))
		return v
	}
	do("consent", chromedp.EmulateViewport(1366, 900), chromedp.Navigate(base+"/demo/signup"), chromedp.WaitVisible(".wm-consent"), chromedp.Click(`[data-wm="customise"]`),
		chromedp.WaitVisible("#wm-p-preferences"))
	// The demo's own stylesheet has form { max-width: 20rem }: the
	// banner's Customise layer must not be squeezed by it (it was 320 px).
	if w, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector('.wm-consent .wm-purposes').getBoundingClientRect().width / document.querySelector('.wm-consent').clientWidth`)); err != nil || w < 0.85 {
		t.Errorf("the Customise layer fills %.0f%% of the banner (%v): the host page's form rule leaks in", w*100, err)
	}
	if png, err := chromedp.Run(ctx, chromedp.Screenshot(".wm-consent")); err == nil {
		os.WriteFile(filepath.Join(artifactDir(t), "consent-customise.png"), png, 0o644)
	}
	do("save", chromedp.Click("#wm-p-preferences"), chromedp.Click(`[data-wm="save"]`), chromedp.WaitNotPresent(".wm-consent"))
	do("sign up", chromedp.SendKeys("#name", "Alice Example"), chromedp.SendKeys("#email", "alice@example.com"),
		chromedp.Click(`#signup button[type="submit"]`), chromedp.WaitVisible("h1"), chromedp.Sleep(500*time.Millisecond))
	do("back", chromedp.Navigate(base+"/demo/signup"), chromedp.WaitVisible("#name"), chromedp.Sleep(800*time.Millisecond))
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.wm-forget').length`)); n == 0 {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch('/api/v1/remembered').then(r => r.text()).then(s => s + ' ' + JSON.stringify(waymark.consent.get().purposes) + ' ' + document.querySelector('.wm-remember').textContent)`, chromedp.EvalAwaitPromise))
		t.Fatalf("not prefilled: %s", got)
	}
	if n, e := value("#name"), value("#email"); n != "Alice Example" || e != "alice@example.com" {
		t.Fatalf("prefilled %q %q", n, e)
	}
	do("forget", chromedp.Click(".wm-forget"), chromedp.Sleep(300*time.Millisecond), chromedp.Reload(), chromedp.WaitVisible("#name"), chromedp.Sleep(700*time.Millisecond))
	if n := value("#name"); n != "" {
		t.Errorf("after forgetting the name is still filled: %q", n)
	}

	// Without the preferences consent: nothing is stored, and the form says why.
	other, cancel3 := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	defer cancel3()
	if err := chromedp.Do(other, chromedp.Navigate(base+"/demo/signup"), chromedp.WaitVisible(".wm-consent"),
		chromedp.Click(`[data-wm="reject"]`), chromedp.WaitNotPresent(".wm-consent"), chromedp.WaitVisible(".wm-remember")); err != nil {
		t.Fatal(err)
	}
	if txt, _ := chromedp.Run(other, chromedp.Text(".wm-remember")); !strings.Contains(txt, "not remembered") {
		t.Errorf("without consent the form says %q", txt)
	}
}

// TestDemoLoginBrowser: the demo shop's login with account security: a
// new device is checked with a one-time code, then trusted and let in
// silently; a replayed (stolen) device cookie is denied and the device
// revoked, so the next login needs a code again.
func TestDemoLoginBrowser(t *testing.T) {
	addr, _, stop := startDashboard(t)
	defer stop()
	base := "http://" + addr
	root := apptest.Browser(t)
	ctx, cancel := context.WithTimeout(root, 60*time.Second)
	defer cancel()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	login := func() {
		t.Helper()
		do("log in", chromedp.Navigate(base+"/demo/login"), chromedp.WaitVisible("#account"),
			chromedp.SendKeys("#account", "alice"), chromedp.SendKeys("#password", "demo"), chromedp.Click(`form[action="/demo/login"] button`),
			// The login page has no #code or #devices: wait for the next page.
			chromedp.WaitVisible("#code, #devices"))
	}
	do("banner", chromedp.Navigate(base+"/demo/"), chromedp.WaitVisible(".wm-consent"), chromedp.Click(`[data-wm="reject"]`), chromedp.WaitNotPresent(".wm-consent"))
	login()
	code, err := chromedp.Run(ctx, chromedp.Text("#code"))
	if err != nil || len(code) != 6 {
		t.Fatalf("a new device shows no one-time code (%q, %v)", code, err)
	}
	do("code", chromedp.SendKeys("#otp", code), chromedp.Click(`form[action="/demo/login/verify"] button`), chromedp.WaitVisible("#devices"))
	if who, _ := chromedp.Run(ctx, chromedp.Text("#who")); who != "alice" {
		t.Errorf("signed in as %q", who)
	}
	// The trusted device logs in without a code.
	do("log out", chromedp.Click(`form[action="/demo/logout"] button`), chromedp.WaitVisible("#account"))
	login()
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#devices').length`)); n != 1 {
		t.Fatal("the trusted device was asked for a code")
	}
	// A copied device cookie, replayed after the real browser used it.
	do("steal", chromedp.Click("#steal"), chromedp.WaitVisible(".note"))
	msg, _ := chromedp.Run(ctx, chromedp.Text(".note"))
	if !strings.Contains(msg, "deny") || !strings.Contains(msg, "device_token_reuse") {
		t.Errorf("after the replay: %q", msg)
	}
	if txt, _ := chromedp.Run(ctx, chromedp.Text("#devices")); !strings.Contains(txt, "revoked") {
		t.Errorf("devices after the replay: %q", txt)
	}
	do("log out", chromedp.Click(`form[action="/demo/logout"] button`), chromedp.WaitVisible("#account"))
	login()
	if _, err := chromedp.Run(ctx, chromedp.Text("#code")); err != nil {
		t.Error("after the theft the device logs in without a code")
	}
}

// TestDemoLinksBrowser: the demo's outbound links, rewritten by the SDK
// to go through the link gateway: a safe one is redirected, a lookalike
// of the shop's domain lands on the warning, a strong one and a listed
// phishing site on the block page; an altered gateway link is refused.
func TestDemoLinksBrowser(t *testing.T) {
	base, ctx, do := demoBrowser(t)
	do("about", chromedp.Navigate(base+"/demo/about"), chromedp.WaitVisible(".wm-consent"), chromedp.Click(`[data-wm="reject"]`),
		chromedp.WaitNotPresent(".wm-consent"), chromedp.WaitVisible(`html[data-waymark-links-ready]`))
	hrefs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`["#link-safe","#link-lookalike","#link-phish","#link-lookalike-strong"].map(s => document.querySelector(s).href)`))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hrefs {
		if !strings.HasPrefix(h, base+"/go?") {
			t.Fatalf("links not rewritten to the gateway: %q", hrefs)
		}
	}
	// Follow the gateway without leaving for the real internet: read the
	// answer in the page's own context.
	status := func(href string) (int, string, string) {
		t.Helper()
		r, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`fetch(`+strconv.Quote(href)+`, {redirect: "manual", credentials: "same-origin"}).then(async r => ({status: r.status, type: r.type, body: await r.text()}))`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := r["status"].(float64)
		return int(st), r["type"].(string), r["body"].(string)
	}
	if st, typ, _ := status(hrefs[0]); typ != "opaqueredirect" {
		t.Errorf("safe link: status %d type %s, want a redirect", st, typ)
	}
	if st, _, body := status(hrefs[1]); st != 200 || !strings.Contains(body, "imitating") || !strings.Contains(body, `id="continue"`) {
		t.Errorf("lookalike link: %d %.200s", st, body)
	}
	if st, _, body := status(hrefs[2]); st != 403 || !strings.Contains(body, "phishing") {
		t.Errorf("phishing link: %d %.200s", st, body)
	}
	if st, _, body := status(hrefs[3]); st != 403 || !strings.Contains(body, "imitating") || strings.Contains(body, `id="continue"`) {
		t.Errorf("strong lookalike link: %d %.200s", st, body)
	}
	if st, _, _ := status(strings.Replace(hrefs[0], "example.org", "evil.example", 1)); st != 400 {
		t.Errorf("altered link: %d, want 400", st)
	}
	// Clicking the lookalike shows the warning page in the browser.
	do("click lookalike", chromedp.Navigate(base+"/demo/about"), chromedp.WaitVisible(`html[data-waymark-links-ready]`),
		chromedp.Click("#link-lookalike"), chromedp.WaitVisible(`#waymark-gateway[data-decision="warn"]`))
}

// TestDemoNewsVerifiedBrowser: the demo's signed article is checked in
// Chromium by the SDK (WebCrypto Ed25519 against the published keys):
// intact, it is verified; through the demo's evil router, the injected
// advertisement is caught and shown only as text.
func TestDemoNewsVerifiedBrowser(t *testing.T) {
	base, ctx, do := demoBrowser(t)
	do("news", chromedp.Navigate(base+"/demo/news"), chromedp.WaitVisible(".wm-consent"), chromedp.Click(`[data-wm="reject"]`),
		chromedp.WaitNotPresent(".wm-consent"), chromedp.WaitVisible("#news-ok .wm-verified"), chromedp.WaitVisible("#news-evil .wm-verified"))
	ok, _ := chromedp.Run(ctx, chromedp.Text("#news-ok .wm-verified"))
	if !strings.HasPrefix(ok, "Content verified: signed by wm-") {
		t.Errorf("intact article: %q", ok)
	}
	bad, _ := chromedp.Run(ctx, chromedp.Text("#news-evil .wm-verified"))
	if !strings.Contains(bad, "changed on the way") {
		t.Errorf("injected article: %q", bad)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#news-evil script").length`)); n != 0 {
		t.Error("the injected script became part of the page")
	}
	// The altered article is held behind the warning, closed, not shown.
	if shown, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const d = document.querySelector("#news-evil details.wm-held"); return !d || d.open || d.previousElementSibling !== document.querySelector("#news-evil .wm-verified"); })()`)); shown {
		t.Error("the altered article is not held closed behind the warning")
	}
	if h, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector("#news-evil").getBoundingClientRect().height`)); h > 200 {
		t.Errorf("the altered article takes %.0f px: it is shown", h)
	}
}

// demoBrowser starts Waymark with the demo and a Chromium tab (closed with
// the test) and returns the base URL, the tab and a step runner that
// fails the test with the step's name.
func demoBrowser(t *testing.T) (string, context.Context, func(string, ...chromedp.Action[chromedp.Void])) {
	t.Helper()
	addr, _, stop := startDashboard(t)
	t.Cleanup(stop)
	ctx, cancel := context.WithTimeout(apptest.Browser(t), 60*time.Second)
	t.Cleanup(cancel)
	return "http://" + addr, ctx, func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
}
