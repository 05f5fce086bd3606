package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"waymark.dev/waymark/internal/apptest"
	"waymark.dev/waymark/internal/config"
	"waymark.dev/waymark/internal/geo/geotest"
)

// startGeo boots the real program with the DB-IP Lite city database and
// the ASN ranges the tests fetch, behind a trusted proxy on loopback.
func startGeo(t *testing.T) (addr, token string, stop func()) {
	t.Helper()
	addr, data, stop := startWith(t, t.TempDir(), func(c *config.Serve) {
		c.GeoIP = geotest.DBIPCity(t)
		c.ASNDB = geotest.ASNCSV(t)
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	return addr, addToken(t, data), stop
}

func postRaw(t *testing.T, url, token, body string, hdr map[string]string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestGeolocation: a hit forwarded by a trusted proxy for a visitor in
// Tallinn lands in Estonia, Harjumaa and Tallinn in the Stats API, and
// on the dashboard's map and Locations tabs (screenshots in the test
// artifacts); the address itself is stored nowhere.
func TestGeolocation(t *testing.T) {
	addr, token, stop := startGeo(t)
	defer stop()
	base := "http://" + addr
	const ua = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	for _, ip := range []string{"90.190.0.1", "81.2.69.142"} { // Tallinn, London
		code, b := postRaw(t, base+"/api/event", "", `{"n":"pageview","u":"https://`+DemoDomain+`/demo/geo-test","d":"`+DemoDomain+`"}`,
			map[string]string{"X-Forwarded-For": ip, "User-Agent": ua})
		if code != http.StatusAccepted && code != http.StatusOK {
			t.Fatalf("event from %s: %d %s", ip, code, b)
		}
	}
	q := `{"site_id":"` + DemoDomain + `","metrics":["visitors"],"date_range":"day","dimensions":["visit:country","visit:region","visit:city","visit:country_name","visit:region_name","visit:city_name"],"filters":[["is","event:page",["/demo/geo-test"]]],"order_by":[["visit:country","asc"]]}`
	var res struct {
		Results []struct {
			Dimensions []any     `json:"dimensions"`
			Metrics    []float64 `json:"metrics"`
		} `json:"results"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := json.Unmarshal([]byte(postQuery(t, addr, token, q)), &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Results) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(res.Results) != 2 {
		t.Fatalf("results %+v, want Estonia and the United Kingdom", res.Results)
	}
	ee, gb := res.Results[0].Dimensions, res.Results[1].Dimensions
	if ee[0] != "EE" || ee[1] != "EE-37" || ee[3] != "Estonia" || ee[4] != "Harjumaa" || ee[5] != "Tallinn" {
		t.Errorf("Tallinn's hit: %v", ee)
	}
	if gb[0] != "GB" || gb[1] != "GB-ENG" || gb[3] != "United Kingdom" || gb[5] != "London" {
		t.Errorf("London's hit: %v", gb)
	}
	if id, ok := ee[2].(float64); !ok || id == 0 {
		t.Errorf("visit:city is %#v, want a number as Plausible answers", ee[2])
	}
	// A city filter by its id, given as a number.
	cityQ := `{"site_id":"` + DemoDomain + `","metrics":["visitors"],"date_range":"day","filters":[["is","visit:city",[` + jsonNumber(ee[2]) + `]],["is","event:page",["/demo/geo-test"]]]}`
	if got := postQuery(t, addr, token, cityQ); !strings.Contains(got, `"metrics":[1]`) {
		t.Errorf("filter by city id: %s", got)
	}

	// The dashboard: the map shades Estonia and links to the filtered view.
	ctx := apptest.Browser(t)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	view := base + "/dashboard/" + DemoDomain + "?period=day&f=is~event%3Apage~%2Fdemo%2Fgeo-test"
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/dashboard"), chromedp.WaitVisible("#password"),
		chromedp.SendKeys("#password", testAdminPassword), chromedp.Submit("#password"), chromedp.WaitVisible("table.sites"),
		chromedp.Navigate(view), chromedp.WaitVisible("#panel-locations svg.worldmap")); err != nil {
		t.Fatal(err)
	}
	shaded, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#panel-locations .worldmap a path')].map(p => p.querySelector('title').textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(shaded, "|") != "Estonia: 1 visitor|United Kingdom: 1 visitor" {
		t.Errorf("shaded countries %q", shaded)
	}
	rows, _ := chromedp.Run(ctx, chromedp.Text("#panel-locations tbody"))
	credit, _ := chromedp.Run(ctx, chromedp.Text("#panel-locations .credit"))
	if !strings.Contains(rows, "Estonia") || !strings.Contains(rows, "United Kingdom") || !strings.Contains(credit, "DB-IP") {
		t.Errorf("Locations panel rows %q, credit %q", rows, credit)
	}
	if foot, _ := chromedp.Run(ctx, chromedp.Text(".footnote")); !strings.Contains(foot, "IP Geolocation by DB-IP") {
		t.Errorf("the page's footer lacks DB-IP's credit: %q", foot)
	}
	shots := artifactDir(t)
	for _, w := range []struct {
		name       string
		width, hgt int64
	}{{"desktop", 1280, 900}, {"phone", 390, 844}} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(w.width, w.hgt), chromedp.ScrollIntoView("#panel-locations")); err != nil {
			t.Fatal(err)
		}
		png, err := chromedp.Run(ctx, chromedp.Screenshot("#panel-locations"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, "locations-"+w.name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		overflow, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
		if overflow {
			t.Errorf("%s: the page scrolls sideways", w.name)
		}
	}
	// Dark mode: countries without visitors take the dark theme's line
	// colour, not a light grey on a dark card.
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), chromedp.ScrollIntoView("#panel-locations")); err != nil {
		t.Fatal(err)
	}
	if fill, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('#panel-locations .worldmap .m0')).fill`)); fill != "rgb(52, 57, 65)" {
		t.Errorf("dark mode: empty countries filled %s", fill)
	}
	if png, err := chromedp.Run(ctx, chromedp.Screenshot("#panel-locations")); err == nil {
		os.WriteFile(filepath.Join(shots, "locations-dark.png"), png, 0o644)
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
		t.Fatal(err)
	}
	// Clicking Estonia on the map filters the view by it.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900),
		chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#panel-locations .worldmap a')].find(a => a.textContent.startsWith('Estonia')).dispatchEvent(new MouseEvent('click', {bubbles: true}))`),
		chromedp.WaitVisible(".chip")); err != nil {
		t.Fatal(err)
	}
	if l, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(l, "visit%3Acountry~EE") {
		t.Errorf("after clicking Estonia the browser is at %s", l)
	}
	for tab, want := range map[string]string{"regions": "Harjumaa", "cities": "Tallinn"} {
		if err := chromedp.Do(ctx, chromedp.Click(`#panel-locations .tabs a[href*="loc=`+tab+`"]`),
			chromedp.WaitVisible(`#panel-locations .tabs a[aria-current="page"][href*="loc=`+tab+`"]`)); err != nil {
			t.Fatal(err)
		}
		got, _ := chromedp.Run(ctx, chromedp.Text("#panel-locations tbody"))
		if !strings.Contains(got, want) || strings.Contains(got, "London") {
			t.Errorf("%s tab: %q, want %s only", tab, got, want)
		}
	}
}

func jsonNumber(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestLoginLocation: account security with the real databases. A login
// from Sydney minutes after one from Tallinn is impossible travel from a
// new country; with an ASN database, another /24 of the same AS is not a
// new network and another AS is; the device list says where a device was.
func TestLoginLocation(t *testing.T) {
	addr, token, stop := startGeo(t)
	defer stop()
	login := func(account, outcome, ip string) (d struct {
		Decision string   `json:"decision"`
		Reasons  []string `json:"reasons"`
		Messages []string `json:"messages"`
		Location struct {
			Country, City string
			ASN           uint32 `json:"asn"`
		} `json:"location"`
		Travel *struct {
			From       string
			Km, Kmh    float64
			Impossible bool
		} `json:"travel"`
	}) {
		t.Helper()
		code, b := postRaw(t, "http://"+addr+"/api/v1/risk/login", token,
			`{"account":"`+account+`","outcome":"`+outcome+`","ip":"`+ip+`","user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}`, nil)
		if code != 200 {
			t.Fatalf("login %s from %s: %d %s", account, ip, code, b)
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	has := func(rs []string, r string) bool {
		for _, x := range rs {
			if x == r {
				return true
			}
		}
		return false
	}
	if d := login("alice", "success", "90.190.0.1"); d.Location.Country != "EE" || d.Location.City != "Tallinn" {
		t.Fatalf("Tallinn login: %+v", d)
	}
	d := login("alice", "attempt", "1.1.1.1") // Sydney
	if !has(d.Reasons, "impossible_travel") || !has(d.Reasons, "new_country") || d.Decision == "allow" {
		t.Errorf("Sydney after Tallinn: %+v", d)
	}
	if d.Travel == nil || d.Travel.From != "Tallinn, EE" || d.Travel.Km < 15000 || !d.Travel.Impossible {
		t.Errorf("travel: %+v", d.Travel)
	}
	if msg := strings.Join(d.Messages, " "); !strings.Contains(msg, "Tallinn, EE") || !strings.Contains(msg, "km") || !strings.Contains(msg, "(Sydney, AU)") {
		t.Errorf("messages: %q", d.Messages)
	}

	if d := login("bob", "success", "8.8.8.8"); d.Location.ASN != 15169 {
		t.Fatalf("bob's first login: %+v", d)
	}
	if d := login("bob", "attempt", "8.8.4.4"); has(d.Reasons, "new_network") { // another /24 of AS15169
		t.Errorf("same AS, another prefix: %+v", d)
	}
	if d := login("bob", "attempt", "1.0.0.1"); !has(d.Reasons, "new_network") || d.Location.ASN != 13335 {
		t.Errorf("another AS: %+v", d)
	}

	code, b := postRaw(t, "http://"+addr+"/api/v1/devices/trust", token,
		`{"account":"carol","name":"laptop","ip":"90.190.0.1","user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}`, nil)
	if code != 200 {
		t.Fatalf("trust: %d %s", code, b)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/accounts/carol/devices", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ = io.ReadAll(resp.Body)
	if !bytes.Contains(b, []byte(`"place":"Tallinn, EE"`)) {
		t.Errorf("device list: %s", b)
	}
}

// TestGeoLookupCommand: waymark geo lookup prints what the databases say,
// with the credit DB-IP requires, and refuses bad input with a message
// and exit code 2.
func TestGeoLookupCommand(t *testing.T) {
	t.Parallel()
	files := strings.Join(geotest.DBIPCity(t), ",")
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Run(context.Background(), append([]string{"geo", "lookup"}, args...), func(string) string { return "" }, &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, _ := run("--geoip", files, "--asn-db", strings.Join(geotest.ASNCSV(t), ","), "90.190.0.1", "10.1.2.3", "2a02:29b8::1")
	for _, want := range []string{"Estonia (EE)", "Harjumaa (EE-37)", "Tallinn", "AS3249", "10.1.2.3         not in any database", "Switzerland (CH)", "attribution required: IP Geolocation by DB-IP"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	code, out, _ = run("--geoip", files, "--json", "81.2.69.142")
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil || v["country"] != "GB" || v["city_name"] != "London" || code != 0 {
		t.Errorf("--json: %d %s", code, out)
	}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--geoip", files, "not-an-ip"}, 2, `"not-an-ip" is not an IP address`},
		{[]string{"--geoip", files}, 2, "name at least one IP address"},
		{[]string{"--data", t.TempDir(), "1.2.3.4"}, 2, "no databases"},
		{[]string{"--geoip", "/nonexistent.mmdb", "1.2.3.4"}, 1, "nonexistent.mmdb"},
	} {
		code, _, errs := run(c.args...)
		if code != c.code || !strings.Contains(errs, c.msg) {
			t.Errorf("%v: exit %d, %q; want %d and %q", c.args, code, errs, c.code, c.msg)
		}
	}
}
