package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/html"
	"waymark.dev/waymark/internal/admin"
	"waymark.dev/waymark/internal/analytics/analyticstest"
	"waymark.dev/waymark/internal/apptest"
)

// TestDashboardGolden renders the dashboard's pages for the conformance
// fixture at its fixed "now" and compares their structure (landmarks,
// headings, tables, form controls and labels, figures) with
// testdata/*.outline. Run with -update after an intended change.
func TestDashboardGolden(t *testing.T) {
	st := apptest.NewStack(t, apptest.Options{Now: func() time.Time { return analyticstest.Now }})
	site := analyticstest.Site()
	st.AddSite(t, site)
	analyticstest.Load(t, st.Events)
	if _, err := admin.Setup(context.Background(), st.State, testPassword); err != nil {
		t.Fatal(err)
	}
	h := New(Deps{Log: slog.Default(), Sites: st.Sites, SiteStore: st.State, Collector: st.Collector, Stats: st.Events, Imports: st.Events,
		Now: func() time.Time { return analyticstest.Now }, Registry: prometheus.NewRegistry(),
		Admin: &admin.Auth{Store: st.State, Now: time.Now}, Throttle: &admin.Throttle{Now: time.Now}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	b := newBrowser(t, srv.URL)
	pages := map[string]string{"login": "/login"}
	b.login()
	view := url.Values{"from": {"2024-03-10"}, "to": {"2024-03-11"}}.Encode()
	pages["sites"] = "/dashboard"
	pages["site"] = "/dashboard/conf.test?" + view
	pages["site-filtered"] = "/dashboard/conf.test?" + view + "&f=" + url.QueryEscape("is~visit:browser~Chrome")
	pages["site-event"] = "/dashboard/conf.test?" + view + "&f=" + url.QueryEscape("is~event:name~Signup")
	pages["details"] = "/dashboard/conf.test/details?dim=event:page&" + view
	// Places list their names beside their codes; search finds names.
	pages["details-cities"] = "/dashboard/conf.test/details?dim=visit:city&" + view
	pages["details-countries-search"] = "/dashboard/conf.test/details?dim=visit:country&search=Eston&" + view
	pages["site-regions"] = "/dashboard/conf.test?loc=regions&" + view
	pages["settings"] = "/dashboard/conf.test/settings"
	for name, path := range pages {
		t.Run(name, func(t *testing.T) {
			c := b
			if name == "login" {
				c = newBrowser(t, srv.URL)
			}
			resp, body := c.get(path)
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s: %d", path, resp.StatusCode)
			}
			// This server has no geolocation database: the Locations panel
			// says how to add one, and still shows the places stored.
			if name == "site" && (!strings.Contains(body, "No geolocation database yet") || !strings.Contains(body, "--geoip FILE")) {
				t.Error("the Locations panel does not say how to add a geolocation database")
			}
			got := outline(t, body)
			file := filepath.Join("testdata", name+".outline")
			if *update {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("structure of %s changed (run with -update if intended):\n%s", path, lineDiff(string(want), got))
			}
		})
	}
}

var volatile = regexp.MustCompile(`Server time \d+ ms|wmk_[A-Za-z0-9_-]+|[A-Za-z0-9_-]{24}`)

// outline lists what a person or a screen reader meets on a page, one
// line per landmark, heading, table header or caption, control, figure
// and link text, indented by nesting.
func outline(t *testing.T, page string) string {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	text := func(n *html.Node) string {
		var sb strings.Builder
		var walk func(*html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.TextNode {
				sb.WriteString(n.Data)
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(n)
		return strings.Join(strings.Fields(sb.String()), " ")
	}
	attr := func(n *html.Node, k string) string {
		for _, a := range n.Attr {
			if a.Key == k {
				return a.Val
			}
		}
		return ""
	}
	var walk func(n *html.Node, depth int)
	walk = func(n *html.Node, depth int) {
		line := ""
		if n.Type == html.ElementNode {
			switch n.Data {
			case "header", "nav", "main", "section", "form", "table", "dl", "ol", "ul", "details":
				line = n.Data
				for _, k := range []string{"aria-label", "id", "action", "method"} {
					if v := attr(n, k); v != "" {
						line += fmt.Sprintf(" %s=%q", k, v)
					}
				}
			case "h1", "h2", "h3", "caption", "th", "label", "dt", "dd", "summary", "button":
				line = n.Data + ": " + text(n)
			case "td":
				if attr(n, "class") == "label" {
					line = "row: " + text(n)
				}
			case "span":
				if attr(n, "class") == "chip" {
					line = "chip: " + text(n)
				}
			case "input", "select", "textarea":
				if attr(n, "type") != "hidden" {
					line = fmt.Sprintf("%s id=%q name=%q", n.Data, attr(n, "id"), attr(n, "name"))
				}
			case "svg":
				if r := attr(n, "role"); r != "" {
					line = fmt.Sprintf("svg role=%q aria-label=%q", r, attr(n, "aria-label"))
				}
			}
		}
		if line != "" {
			b.WriteString(strings.Repeat("  ", depth) + volatile.ReplaceAllString(line, "…") + "\n")
			depth++
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, depth)
		}
	}
	walk(doc, 0)
	return b.String()
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for i := 0; i < max(len(w), len(g)) && len(out) < 20; i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			out = append(out, fmt.Sprintf("line %d:\n  want %s\n  got  %s", i+1, a, c))
		}
	}
	return strings.Join(out, "\n")
}
