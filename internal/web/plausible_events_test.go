package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"waymark.dev/waymark/internal/analytics/analyticstest"
	"waymark.dev/waymark/internal/apptest"
	"waymark.dev/waymark/internal/site"
)

// plausibleUA is the user agent of Plausible's Events API tests.
const plausibleUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_4) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.110 Safari/537.36"

// plausibleEventCases are translated from Plausible's Events API tests
// (test/plausible_web/controllers/api/external_controller_test.exs): the
// same bodies and headers, and the stored values they expect, read back
// through the Stats API. Each case has a site of its own, as there.
// want maps a dimension to its one expected value; none means nothing is
// stored for the site. Cases Waymark answers differently on purpose are
// in docs/API.md ("Plausible's Events API").
var plausibleEventCases = []struct {
	name, domain, body string
	ua                 string
	status             int
	want               map[string]string
	props              map[string]string
	none               bool
}{
	{name: "records the event", domain: "ext-1.com", body: `{"domain":"ext-1.com","name":"pageview","url":"http://gigride.live/","referrer":"http://m.facebook.com/","screen_width":1440}`,
		want: map[string]string{"visit:hostname": "gigride.live", "event:page": "/", "visit:source": "Facebook", "visit:screen": "Desktop"}},
	{name: "www. is stripped from hostname", domain: "ext-3.com", body: `{"name":"pageview","url":"http://www.example.com/","domain":"ext-3.com"}`,
		want: map[string]string{"visit:hostname": "example.com"}},
	{name: "www. is stripped from domain", domain: "ext-2.com", body: `{"name":"custom event","url":"http://gigride.live/","domain":"www.ext-2.com"}`,
		want: map[string]string{"event:name": "custom event"}},
	{name: "empty path defaults to /", domain: "ext-4.com", body: `{"name":"pageview","url":"http://www.example.com","domain":"ext-4.com"}`,
		want: map[string]string{"event:page": "/"}},
	{name: "trailing whitespace is removed", domain: "ext-ws.com", body: `{"name":"pageview","url":"http://www.example.com/path ","domain":"ext-ws.com"}`,
		want: map[string]string{"event:page": "/path"}},
	{name: "bots and crawlers are ignored", domain: "ext-5.com", ua: "generic crawler", body: `{"name":"pageview","url":"http://www.example.com/","domain":"ext-5.com"}`, none: true},
	{name: "Headless Chrome is ignored", domain: "headless.com", ua: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/85.0.4183.83 Safari/537.36",
		body: `{"name":"pageview","url":"http://www.example.com/","domain":"headless.com"}`, none: true},
	{name: "parses user_agent", domain: "ext-6.com", body: `{"name":"pageview","url":"http://gigride.live/","domain":"ext-6.com"}`,
		want: map[string]string{"visit:os": "Mac", "visit:os_version": "10.13", "visit:browser": "Chrome", "visit:browser_version": "70.0"}},
	{name: "parses referrer", domain: "ext-7.com", body: `{"name":"pageview","url":"http://gigride.live/","referrer":"https://facebook.com","domain":"ext-7.com"}`,
		want: map[string]string{"visit:source": "Facebook"}},
	{name: "strips trailing slash from referrer", domain: "ext-8.com", body: `{"name":"pageview","url":"http://gigride.live/","referrer":"https://facebook.com/page/","domain":"ext-8.com"}`,
		want: map[string]string{"visit:referrer": "facebook.com/page", "visit:source": "Facebook"}},
	{name: "ignores when referrer is internal", domain: "ext-9.com", body: `{"name":"pageview","url":"http://gigride.live/","referrer":"https://gigride.live","domain":"ext-9.com"}`,
		want: map[string]string{"visit:source": "Direct / None"}},
	{name: "ignores localhost referrer", domain: "ext-10.com", body: `{"name":"pageview","url":"http://gigride.live/","referrer":"http://localhost:4000/","domain":"ext-10.com"}`,
		want: map[string]string{"visit:source": "Direct / None"}},
	{name: "parses subdomain referrer", domain: "ext-11.com", body: `{"name":"pageview","url":"http://gigride.live/","referrer":"https://blog.gigride.live","domain":"ext-11.com"}`,
		want: map[string]string{"visit:source": "blog.gigride.live"}},
	{name: "referrer is cleaned", domain: "ext-12.com", body: `{"name":"pageview","url":"http://www.example.com/","referrer":"https://www.indiehackers.com/page?query=param#hash","domain":"ext-12.com"}`,
		want: map[string]string{"visit:referrer": "indiehackers.com/page"}},
	{name: "utm_source overrides referrer source", domain: "ext-13.com", body: `{"name":"pageview","url":"http://www.example.com/?utm_source=betalist","referrer":"https://betalist.com/my-produxct","domain":"ext-13.com"}`,
		want: map[string]string{"visit:source": "betalist"}},
	{name: "utm tags are stored", domain: "ext-utm.com", body: `{"name":"pageview","url":"http://www.example.com/?utm_medium=ads&utm_source=instagram&utm_campaign=video_story","domain":"ext-utm.com"}`,
		want: map[string]string{"visit:utm_medium": "ads", "visit:utm_source": "instagram", "visit:utm_campaign": "video_story"}},
	{name: "unknown referrer: just the domain", domain: "ext-14.com", body: `{"name":"pageview","url":"http://gigride.live/","referrer":"https://www.indiehackers.com/landing-page-feedback","domain":"ext-14.com"}`,
		want: map[string]string{"visit:source": "indiehackers.com"}},
	{name: "referrer that is not http or https is ignored", domain: "ext-15.com", body: `{"name":"pageview","url":"http://gigride.live/","referrer":"android-app://com.google.android.gm","domain":"ext-15.com"}`,
		want: map[string]string{"visit:source": "Direct / None"}},
	{name: "screen size from screen_width", domain: "ext-16.com", body: `{"name":"pageview","url":"http://gigride.live/","screen_width":480,"domain":"ext-16.com"}`,
		want: map[string]string{"visit:screen": "Mobile"}},
	{name: "screen size empty without screen_width", domain: "ext-17.com", body: `{"name":"pageview","url":"http://gigride.live/","domain":"ext-17.com"}`,
		want: map[string]string{"visit:screen": "(not set)"}},
	{name: "can trigger a custom event", domain: "ext-18.com", body: `{"name":"custom event","url":"http://gigride.live/","domain":"ext-18.com"}`,
		want: map[string]string{"event:name": "custom event"}},
	{name: "casts custom props to string", domain: "prop-1.com", body: `{"name":"Signup","url":"http://gigride.live/","domain":"prop-1.com","props":{"bool_test":true,"number_test":12}}`,
		props: map[string]string{"bool_test": "true", "number_test": "12"}},
	{name: "ignores malformed custom props", domain: "prop-2.com", body: `{"name":"Signup","url":"http://gigride.live/","domain":"prop-2.com","props":"\"show-more:button\""}`,
		want: map[string]string{"event:name": "Signup", "event:props:show-more": "(none)"}},
	{name: "can send props stringified", domain: "prop-3.com", body: `{"name":"Signup","url":"http://gigride.live/","domain":"prop-3.com","props":"{\"number_test\":12}"}`,
		props: map[string]string{"number_test": "12"}},
	{name: "ignores custom prop with array value", domain: "prop-4.com", body: `{"name":"Signup","url":"http://gigride.live/","domain":"prop-4.com","props":"{\"wat\":[\"some-thing\"],\"other\":\"key\"}"}`,
		props: map[string]string{"other": "key", "wat": "(none)"}},
	{name: "ignores custom prop with map value", domain: "prop-5.com", body: `{"name":"Signup","url":"http://gigride.live/","domain":"prop-5.com","props":"{\"foo\":{\"bar\":\"baz\"},\"other_key\":1}"}`,
		props: map[string]string{"other_key": "1", "foo": "(none)"}},
	{name: "ignores custom prop with empty string value", domain: "prop-6.com", body: `{"name":"Signup","url":"http://gigride.live/","domain":"prop-6.com","props":"{\"foo\":\"\",\"other_key\":true}"}`,
		props: map[string]string{"other_key": "true", "foo": "(none)"}},
	{name: "ignores custom prop with nil value", domain: "prop-7.com", body: `{"name":"Signup","url":"http://gigride.live/","domain":"prop-7.com","props":"{\"foo\":null,\"other_key\":true}"}`,
		props: map[string]string{"other_key": "true", "foo": "(none)"}},
	{name: "ignores a malformed referrer URL", domain: "ext-19.com", body: `{"name":"pageview","url":"http://gigride.live/","referrer":"https:://twitter.com","domain":"ext-19.com"}`,
		want: map[string]string{"visit:referrer": "Direct / None"}},
	{name: "URL is decoded", domain: "ext-21.com", body: `{"name":"pageview","url":"http://www.example.com/opportunity/category/%D8%AC%D9%88%D8%A7%D8%A6%D8%B2-%D9%88%D9%85%D8%B3%D8%A7%D8%A8%D9%82%D8%A7%D8%AA","domain":"ext-21.com"}`,
		want: map[string]string{"event:page": "/opportunity/category/جوائز-ومسابقات"}},
	{name: "accepts shorthand map keys", domain: "ext-22.com", body: `{"n":"pageview","u":"http://www.example.com/opportunity","d":"ext-22.com","r":"https://facebook.com/page","w":300}`,
		want: map[string]string{"event:page": "/opportunity", "visit:source": "Facebook", "visit:referrer": "facebook.com/page", "visit:screen": "Mobile"}},
	{name: "records hash when in hash mode", domain: "ext-23.com", body: `{"n":"pageview","u":"http://www.example.com/#page-a","d":"ext-23.com","h":1}`,
		want: map[string]string{"event:page": "/#page-a"}},
	{name: "does not record hash when hash mode is 0", domain: "ext-hash-0.com", body: `{"n":"pageview","u":"http://www.example.com/#page-a","d":"ext-hash-0.com","h":0}`,
		want: map[string]string{"event:page": "/"}},
	{name: "decodes URL pathname, fragment and search", domain: "url-decode.com", body: `{"n":"pageview","u":"https://test.com/%EF%BA%9D%EF%BB%AD%EF%BA%8E%EF%BA%8B%EF%BA%AF-%EF%BB%AE%EF%BB%A4%EF%BA%B3%EF%BA%8E%EF%BA%92%EF%BB%97%EF%BA%8E%EF%BA%97?utm_source=%25balle%25","d":"url-decode.com","h":1}`,
		want: map[string]string{"visit:hostname": "test.com", "event:page": "/ﺝﻭﺎﺋﺯ-ﻮﻤﺳﺎﺒﻗﺎﺗ", "visit:utm_source": "%balle%"}},
	{name: "double quotes in query params", domain: "quote.com", body: `{"n":"pageview","u":"https://test.com/?utm_source=Something+%22quoted%22","d":"quote.com","h":1}`,
		want: map[string]string{"visit:utm_source": `Something "quoted"`}},
	{name: "JSON that cannot be parsed", domain: "bad-json.com", body: ``, status: 400, none: true},
	{name: "400 when required fields are missing", domain: "some-domain.com", body: `{"domain":"some-domain.com","name":"pageview"}`, status: 400, none: true},
}

func TestPlausibleEventsAPI(t *testing.T) {
	srv, st, _ := newTestServer(t, apptest.Options{})
	tokens := map[string]string{}
	for _, c := range plausibleEventCases {
		if tokens[c.domain] == "" {
			st.AddSite(t, &site.Site{Domain: c.domain})
			tokens[c.domain] = st.AddToken(t, c.domain)
		}
	}
	// The multiple-domains case: one event, two dashboards.
	for _, d := range []string{"test-domain1.com", "test-domain2.com"} {
		st.AddSite(t, &site.Site{Domain: d})
		tokens[d] = st.AddToken(t, d)
	}
	stored := uint64(0)
	post := func(body, ua string) (int, []byte) {
		if ua == "" {
			ua = plausibleUA
		}
		resp, b := do(t, "POST", srv.URL+"/api/event", body, map[string]string{"User-Agent": ua, "Content-Type": "text/plain"})
		return resp.StatusCode, b
	}
	for _, c := range plausibleEventCases {
		code, b := post(c.body, c.ua)
		want := c.status
		if want == 0 {
			want = 202
		}
		if code != want {
			t.Errorf("%s: %d %s, want %d", c.name, code, b, want)
		}
		if code == 202 && string(b) != "ok" {
			t.Errorf("%s: answer %q, want ok", c.name, b)
		}
		if code == 400 {
			var e struct{ Errors map[string][]string }
			if json.Unmarshal(b, &e) != nil || len(e.Errors) == 0 {
				t.Errorf("%s: 400 without Plausible's errors map: %s", c.name, b)
			}
		}
		if !c.none {
			stored++
		}
	}
	if code, _ := post(`{"name":"pageview","url":"http://gigride.live/","referrer":"http://m.facebook.com/","domain":"test-domain1.com,test-domain2.com","screen_width":1440}`, ""); code != 202 {
		t.Errorf("multiple domains: %d", code)
	}
	stored += 2
	st.WaitStored(t, stored)

	query := func(domain, dim string, filters string) [][]any {
		t.Helper()
		q := fmt.Sprintf(`{"site_id":%q,"metrics":["events"],"date_range":"day","dimensions":[%q]%s}`, domain, dim, filters)
		resp, b := do(t, "POST", srv.URL+"/api/v2/query", q, map[string]string{"Authorization": "Bearer " + tokens[domain]})
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", q, resp.StatusCode, b)
		}
		var r struct{ Results []struct{ Dimensions []any } }
		json.Unmarshal(b, &r)
		var out [][]any
		for _, row := range r.Results {
			out = append(out, row.Dimensions)
		}
		return out
	}
	for _, c := range plausibleEventCases {
		if c.none {
			if rows := query(c.domain, "event:name", ""); len(rows) != 0 {
				t.Errorf("%s: stored %v, want nothing", c.name, rows)
			}
			continue
		}
		for dim, want := range c.want {
			rows := query(c.domain, dim, "")
			if len(rows) != 1 || fmt.Sprint(rows[0][0]) != want {
				t.Errorf("%s: %s = %v, want [%s]", c.name, dim, rows, want)
			}
		}
		for k, want := range c.props {
			rows := query(c.domain, "event:props:"+k, `,"filters":[["is","event:name",["Signup"]]]`)
			if len(rows) != 1 || fmt.Sprint(rows[0][0]) != want {
				t.Errorf("%s: prop %s = %v, want [%s]", c.name, k, rows, want)
			}
		}
	}
	for _, d := range []string{"test-domain1.com", "test-domain2.com"} {
		if rows := query(d, "visit:source", ""); len(rows) != 1 || rows[0][0] != "Facebook" {
			t.Errorf("multiple domains: %s got %v", d, rows)
		}
	}
	t.Logf("%d of Plausible's Events API cases", len(plausibleEventCases)+1)

}

// TestAllTimeFromFirstEvent: "all" starts at the site's first stored
// event when that is older than the site (history moved in, the demo's
// synthetic weeks), not on the day the site was added.
func TestAllTimeFromFirstEvent(t *testing.T) {
	srv, st, _ := newTestServer(t, apptest.Options{})
	st.AddSite(t, &site.Site{Domain: "conf.test", TimeZone: "Europe/Berlin"}) // added today
	analyticstest.Load(t, st.Events)                                          // events of March 2024
	token := st.AddToken(t, "conf.test")
	resp, b := do(t, "POST", srv.URL+"/api/v2/query", `{"site_id":"conf.test","metrics":["visitors","pageviews"],"date_range":"all"}`,
		map[string]string{"Authorization": "Bearer " + token})
	var r struct {
		Results []struct{ Metrics []float64 }
		Query   struct {
			DateRange []string `json:"date_range"`
		}
	}
	if err := json.Unmarshal(b, &r); err != nil || resp.StatusCode != 200 || len(r.Results) != 1 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if got := r.Results[0].Metrics; got[0] != 5 || got[1] != 7 || !strings.HasPrefix(r.Query.DateRange[0], "2024-03-09T00:00:00") {
		t.Errorf("all time: %v from %v, want 5 visitors and 7 pageviews from 2024-03-09", got, r.Query.DateRange)
	}
}

// TestQueryEchoRoundTrips: the query an answer echoes can be posted back
// as it is and gives the same answer (Plausible's clients do).
func TestQueryEchoRoundTrips(t *testing.T) {
	srv, st, _ := newTestServer(t, apptest.Options{})
	st.AddSite(t, &site.Site{Domain: "conf.test", TimeZone: "Europe/Berlin"})
	analyticstest.Load(t, st.Events)
	hdr := map[string]string{"Authorization": "Bearer " + st.AddToken(t, "conf.test")}
	resp, b := do(t, "POST", srv.URL+"/api/v2/query", `{"site_id":"conf.test","metrics":["visitors"],"date_range":["2024-03-10","2024-03-11"],"dimensions":["visit:source"],"filters":[["is_not","visit:browser",["Safari"]]],"order_by":[["visitors","desc"]]}`, hdr)
	var first struct {
		Results json.RawMessage `json:"results"`
		Query   json.RawMessage `json:"query"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &first) != nil {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "POST", srv.URL+"/api/v2/query", string(first.Query), hdr)
	var again struct {
		Results json.RawMessage `json:"results"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &again) != nil || string(again.Results) != string(first.Results) {
		t.Errorf("echo posted back: %d %s\nfirst results %s", resp.StatusCode, b, first.Results)
	}
	// This site has no goals: a goal breakdown is empty, as in Plausible.
	resp, b = do(t, "POST", srv.URL+"/api/v2/query", `{"site_id":"conf.test","metrics":["visitors"],"date_range":"all","dimensions":["event:goal"]}`, hdr)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"results":[]`) {
		t.Errorf("goal breakdown without goals: %d %s", resp.StatusCode, b)
	}
	resp, b = do(t, "POST", srv.URL+"/api/v2/query", `{"site_id":"conf.test","metrics":["visitors"],"date_range":"day","time_zone":"Asia/Tokyo"}`, hdr)
	if resp.StatusCode != 400 || !strings.Contains(string(b), "Europe/Berlin") {
		t.Errorf("another time zone: %d %s", resp.StatusCode, b)
	}
}

// TestPlausibleQueryValidations: cases of Plausible's Stats API
// validation tests (query_validations_test.exs) with their exact error
// strings, in Plausible's {"error": "..."} shape.
func TestPlausibleQueryValidations(t *testing.T) {
	srv, st, _ := newTestServer(t, apptest.Options{})
	st.AddSite(t, &site.Site{Domain: "conf.test", TimeZone: "Europe/Berlin"})
	hdr := map[string]string{"Authorization": "Bearer " + st.AddToken(t, "conf.test")}
	for _, c := range []struct{ body, want string }{
		{`{"site_id":"conf.test","date_range":"all","metrics":["views_per_visit"],"filters":[["is","event:page",["/something"]]]}`,
			"Metric `views_per_visit` cannot be queried with a filter on `event:page`"},
		{`{"site_id":"conf.test","date_range":"all","metrics":["views_per_visit"],"dimensions":["event:name"]}`,
			"Metric `views_per_visit` cannot be queried with `dimensions`"},
		{`{"site_id":"conf.test","date_range":"all","metrics":["visitors","bounce_rate"],"dimensions":["event:name"]}`,
			"Session metric(s) `bounce_rate` cannot be queried along with event dimensions"},
		{`{"site_id":"conf.test","date_range":"all","metrics":["visitors","bounce_rate"],"dimensions":["event:props:url"]}`,
			"Session metric(s) `bounce_rate` cannot be queried along with event dimensions"},
		{`{"site_id":"conf.test","date_range":"all","metrics":["pageviews"],"filters":[["is","visit:country",["USA"]]]}`,
			"Invalid visit:country filter, visit:country needs to be a valid 2-letter country code"},
	} {
		resp, b := do(t, "POST", srv.URL+"/api/v2/query", c.body, hdr)
		var e struct{ Error string }
		if resp.StatusCode != 400 || json.Unmarshal(b, &e) != nil || e.Error != c.want {
			t.Errorf("%s: %d %s, want 400 %q", c.body, resp.StatusCode, b, c.want)
		}
	}
	// The dashboard still shows views per visit beside a page filter.
	if resp, _ := do(t, "POST", srv.URL+"/api/v2/query", `{"site_id":"conf.test","date_range":"all","metrics":["views_per_visit"]}`, hdr); resp.StatusCode != 200 {
		t.Errorf("views_per_visit alone: %d", resp.StatusCode)
	}
}

// TestRevenueThroughEventsAPI: revenue sent as Plausible's tracker sends
// it ("$") or as its Events API documents it ("revenue"), amounts as
// numbers or strings and currencies in any case, is summed for a revenue
// goal in its currency; revenue in another currency is not counted (no
// exchange rates), and malformed revenue is dropped with the event kept.
func TestRevenueThroughEventsAPI(t *testing.T) {
	srv, st, _ := newTestServer(t, apptest.Options{})
	st.AddSite(t, &site.Site{Domain: "shop.test", Goals: []site.Goal{{Event: "Purchase", Currency: "EUR"}, {Event: "Signup"}}})
	token := st.AddToken(t, "shop.test")
	for _, body := range []string{
		`{"n":"Purchase","u":"https://shop.test/checkout","d":"shop.test","$":{"amount":"12.50","currency":"eur"}}`,
		`{"name":"Purchase","url":"https://shop.test/checkout","domain":"shop.test","revenue":{"amount":7.5,"currency":"EUR"}}`,
		`{"n":"Purchase","u":"https://shop.test/checkout","d":"shop.test","$":{"amount":99,"currency":"USD"}}`,
		`{"n":"Purchase","u":"https://shop.test/checkout","d":"shop.test","$":{"amount":"lots","currency":"EUR"}}`,
		`{"n":"Signup","u":"https://shop.test/","d":"shop.test","$":{"amount":1,"currency":"EUR"}}`,
	} {
		if resp, b := do(t, "POST", srv.URL+"/api/event", body, map[string]string{"Content-Type": "text/plain"}); resp.StatusCode != 202 {
			t.Fatalf("%s: %d %s", body, resp.StatusCode, b)
		}
	}
	st.WaitStored(t, 5)
	hdr := map[string]string{"Authorization": "Bearer " + token}
	_, b := do(t, "POST", srv.URL+"/api/v2/query", `{"site_id":"shop.test","metrics":["events","total_revenue","average_revenue"],"date_range":"day","dimensions":["event:goal"]}`, hdr)
	want := `"results":[{"dimensions":["Purchase"],"metrics":[4,{"currency":"EUR","long":"€20.00","short":"€20.0","value":20},{"currency":"EUR","long":"€10.00","short":"€10.0","value":10}]},` +
		`{"dimensions":["Signup"],"metrics":[1,null,null]}]`
	if !strings.Contains(string(b), want) {
		t.Errorf("revenue by goal: %s\nwant %s", b, want)
	}
	_, b = do(t, "POST", srv.URL+"/api/v2/query", `{"site_id":"shop.test","metrics":["total_revenue"],"date_range":"day","filters":[["is","event:goal",["Purchase"]]]}`, hdr)
	if !strings.Contains(string(b), `"value":20}`) || strings.Contains(string(b), "metric_warnings") {
		t.Errorf("revenue of the Purchase goal: %s", b)
	}

	// The dashboard's goals show the revenue in the goal's currency; a
	// goal added in the settings with a currency is a revenue goal.
	br := newBrowser(t, srv.URL)
	br.login()
	if _, body := br.get("/dashboard/shop.test"); !strings.Contains(body, "€20.0") || !strings.Contains(body, "€10.0") || !strings.Contains(body, "Average revenue") {
		t.Errorf("goals panel lacks the revenue columns")
	}
	token2 := br.csrf("/dashboard/shop.test/settings")
	if resp, _ := br.post("/dashboard/shop.test/settings/goal-add", url.Values{"goal": {"Upgrade"}, "currency": {"usd"}, "csrf": {token2}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("add a revenue goal: %d", resp.StatusCode)
	}
	if _, body := br.get("/dashboard/shop.test/settings"); !strings.Contains(body, "Upgrade (revenue in USD)") {
		t.Errorf("settings do not list the new revenue goal")
	}
	if resp, body := br.post("/dashboard/shop.test/settings/goal-add", url.Values{"goal": {"/thanks"}, "currency": {"EUR"}, "csrf": {token2}}, nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "only event goals count revenue") {
		t.Errorf("a page goal with a currency: %d", resp.StatusCode)
	}
}

// TestNonInteractiveEvents: a custom event sent with interactive: false
// (or i: false, as Plausible's tracker sends it) counts as an event but
// does not keep its visit from being a bounce, as in Plausible.
func TestNonInteractiveEvents(t *testing.T) {
	srv, st, _ := newTestServer(t, apptest.Options{})
	st.AddSite(t, &site.Site{Domain: "ni.test"})
	token := st.AddToken(t, "ni.test")
	for i, body := range []string{
		`{"n":"pageview","u":"https://ni.test/a","d":"ni.test"}`,
		`{"n":"Video Played","u":"https://ni.test/a","d":"ni.test","i":false}`,
		`{"n":"pageview","u":"https://ni.test/b","d":"ni.test"}`,
		`{"name":"Scroll","url":"https://ni.test/b","domain":"ni.test","interactive":false}`,
		`{"n":"Signup","u":"https://ni.test/b","d":"ni.test","i":true}`,
	} {
		// Three visitors (the user agent is part of the visitor hash): the
		// first two events, the next two, the last.
		hdr := map[string]string{"Content-Type": "text/plain", "User-Agent": fmt.Sprintf("%s Visitor/%d", plausibleUA, i/2)}
		if resp, b := do(t, "POST", srv.URL+"/api/event", body, hdr); resp.StatusCode != 202 {
			t.Fatalf("%s: %d %s", body, resp.StatusCode, b)
		}
	}
	st.WaitStored(t, 5)
	_, b := do(t, "POST", srv.URL+"/api/v2/query", `{"site_id":"ni.test","metrics":["visits","events","bounce_rate"],"date_range":"day"}`,
		map[string]string{"Authorization": "Bearer " + token})
	// Visits: a+Video (bounce: the event is not interactive), b+Scroll
	// (bounce), Signup alone (bounce: one event).
	if !strings.Contains(string(b), `"metrics":[3,5,100]`) {
		t.Errorf("non-interactive events: %s, want 3 visits, 5 events, bounce rate 100", b)
	}
}
