package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"waymark.dev/waymark/internal/apptest"
	"waymark.dev/waymark/internal/config"
)

func testPolicy(version string) string {
	return `{"version":"` + version + `","expiry_days":365,
	"banner":{"en":{"title":"Privacy at the demo shop","description":"Choose what you accept."}},
	"purposes":[
	 {"id":"necessary","required":true,"text":{"en":{"title":"Necessary","description":"Security and session."}}},
	 {"id":"preferences","text":{"en":{"title":"Preferences","description":"Remember details."}}},
	 {"id":"analytics","off_under_gpc":true,"cookies":["demo_stat"],"text":{"en":{"title":"Analytics","description":"Count returning visitors."}}}]}`
}

// TestConsentPolicyBrowser: an operator's policy from a file, withdrawal
// deleting the purpose's cookies, a new policy version asking again.
func TestConsentPolicyBrowser(t *testing.T) {
	data := t.TempDir()
	file := filepath.Join(t.TempDir(), "policy.json")
	os.WriteFile(file, []byte(testPolicy("1")), 0o600)
	withPolicy := func(c *config.Serve) { c.ConsentPolicy = file }
	addr, _, stop := startWith(t, data, withPolicy)
	base := "http://" + addr
	ctx := apptest.Browser(t)
	ctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	has := func(name string) bool {
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range res.Cookies {
			if c.Name == name {
				return true
			}
		}
		return false
	}
	do("accept", chromedp.Navigate(base+"/demo/"), chromedp.WaitVisible(".wm-consent"))
	if title, _ := chromedp.Run(ctx, chromedp.Text("#wm-title")); title != "Privacy at the demo shop" {
		t.Errorf("banner title %q, want the policy file's", title)
	}
	do("accept", chromedp.Click(`[data-wm="accept"]`), chromedp.WaitNotPresent(".wm-consent"))
	// The site's analytics tool sets its cookie; withdrawing analytics
	// deletes it.
	do("tool cookie", chromedp.Evaluate[chromedp.Void](`document.cookie = "demo_stat=1; path=/"`))
	if !has("demo_stat") {
		t.Fatal("the tool's cookie was not set")
	}
	do("withdraw", chromedp.Click(`[data-waymark-preferences]`), chromedp.WaitVisible("#wm-p-analytics"),
		chromedp.Click("#wm-p-analytics"), chromedp.Click(`[data-wm="save"]`), chromedp.WaitNotPresent(".wm-consent"))
	if has("demo_stat") {
		t.Error("withdrawing analytics left its cookie")
	}
	stop()

	// Version 2 of the policy: the same browser is asked again.
	os.WriteFile(file, []byte(testPolicy("2")), 0o600)
	addr2, _, stop2 := startWith(t, data, withPolicy)
	defer stop2()
	do("after the policy change", chromedp.Navigate("http://"+addr2+"/demo/"), chromedp.WaitVisible(".wm-consent"))
	if v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`waymark.consent.get().policy_version`)); v != "2" {
		t.Errorf("policy version %q, want 2", v)
	}
}

// TestConsentCookiesBlocked: in a browser that refuses cookies but keeps
// site storage (as Safari's settings and some privacy tools do; Chromium's
// own "block cookies" blocks storage too, so the test refuses them through
// DevTools: document.cookie off and Set-Cookie removed from responses), a
// feature that needs a cookie explains itself, and after consent to
// preferences the id lives in local storage and is recognised from there.
func TestConsentCookiesBlocked(t *testing.T) {
	addr, _, stop := startDashboard(t)
	defer stop()
	base := "http://" + addr
	ctx := apptest.Browser(t)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	paused := make(chan *fetch.EventRequestPaused, 64)
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*fetch.EventRequestPaused); ok {
			paused <- e
		}
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for e := range paused {
			var keep []*fetch.HeaderEntry
			for _, h := range e.ResponseHeaders {
				if !strings.EqualFold(h.Name, "Set-Cookie") {
					keep = append(keep, h)
				}
			}
			if keep == nil {
				keep = []*fetch.HeaderEntry{{Name: "X-Cookies", Value: "refused"}}
			}
			if _, err := chromedp.Call(ctx, fetch.ContinueResponse, fetch.ContinueResponseParams{RequestID: e.RequestID, ResponseCode: e.ResponseStatusCode, ResponsePhrase: e.ResponseStatusText, ResponseHeaders: keep}); err != nil {
				t.Logf("continue %s: %v", e.Request.URL, err)
			}
		}
	}()
	defer close(paused)
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*", RequestStage: fetch.RequestStageResponse}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetDocumentCookieDisabled, emulation.SetDocumentCookieDisabledParams{Disabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/demo/signup"), chromedp.WaitVisible(".wm-consent"), chromedp.WaitVisible(".wm-needs")); err != nil {
		t.Fatal(err)
	}
	if txt, _ := chromedp.Run(ctx, chromedp.Text(".wm-needs")); !strings.Contains(txt, "refuses cookies") {
		t.Errorf("explanation %q", txt)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`[data-wm="customise"]`), chromedp.WaitVisible("#wm-p-preferences"),
		chromedp.Click("#wm-p-preferences"), chromedp.Click(`[data-wm="save"]`), chromedp.WaitNotPresent(".wm-consent")); err != nil {
		t.Fatal(err)
	}
	stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](`localStorage.getItem('waymark_id') || ''`))
	if err != nil || stored == "" {
		t.Fatalf("no id in local storage after consenting to preferences (%v)", err)
	}
	// Responses to the SDK's own requests may still have set cookies in
	// the browser's jar; drop them so the reload has local storage only.
	if _, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	id, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`waymark.identity.id() || ''`))
	if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible("h1"), chromedp.Sleep(700*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	again, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`waymark.identity.id() || ''`))
	where, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`waymark.identity.storage()`))
	if id == "" || again != id || where != "localStorage" {
		t.Errorf("after reload: id %q (was %q), kept in %q; want the same id from local storage", again, id, where)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.wm-consent').length`)); n != 0 {
		t.Error("asked again although the decision is in local storage")
	}
}
