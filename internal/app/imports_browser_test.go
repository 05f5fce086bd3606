package app

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"waymark.dev/waymark/internal/apptest"
)

// writePlausibleExport writes an export archive of Plausible's with daily
// rows for January to March 2025: visitors, sources and pages, in the
// documented columns.
func writePlausibleExport(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	files := map[string]*strings.Builder{}
	add := func(table, head, line string) {
		b := files[table]
		if b == nil {
			b = &strings.Builder{}
			b.WriteString(head + "\n")
			files[table] = b
		}
		b.WriteString(line + "\n")
	}
	for d := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC); d.Month() <= time.March && d.Year() == 2025; d = d.AddDate(0, 0, 1) {
		day := d.Format(time.DateOnly)
		v := 100 + int(d.Month())*50 // January 150 a day, February 200, March 250
		add("imported_visitors", "date,visitors,pageviews,bounces,visits,visit_duration", fmt.Sprintf("%s,%d,%d,%d,%d,%d", day, v, 3*v, v/2, v+10, 60*v))
		add("imported_sources", "date,source,referrer,utm_source,utm_medium,utm_campaign,utm_content,utm_term,pageviews,visitors,visits,visit_duration,bounces",
			fmt.Sprintf("%s,Google,google.com,,,,,,%d,%d,%d,%d,%d", day, 3*v, v, v+10, 60*v, v/2))
		add("imported_pages", "date,hostname,page,visits,visitors,pageviews,total_scroll_depth,total_scroll_depth_visits,total_time_on_page,total_time_on_page_visits",
			fmt.Sprintf("%s,%s,/imported-history,%d,%d,%d,%d,%d,%d,%d", day, DemoDomain, v, v, 3*v, 50*v, v, 30*v, v))
	}
	for table, b := range files {
		w, err := zw.Create(table + "_20250101_20250331.csv")
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(b.String()))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestImportBrowser imports a Plausible export through the dashboard in
// headless Chromium and finds the imported months in the chart.
func TestImportBrowser(t *testing.T) {
	addr, _, stop := startDashboard(t)
	defer stop()
	base := "http://" + addr
	export := filepath.Join(t.TempDir(), "waymark_demo_20250331.zip")
	writePlausibleExport(t, export)
	ctx := apptest.Browser(t)
	ctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	run("log in", chromedp.EmulateViewport(1366, 900), chromedp.Navigate(base+"/dashboard"), chromedp.WaitVisible("#password"),
		chromedp.SendKeys("#password", testAdminPassword), chromedp.Submit("#password"), chromedp.WaitVisible("table.sites"))
	settings := base + "/dashboard/" + DemoDomain + "/settings"
	run("settings", chromedp.Navigate(settings), chromedp.WaitVisible("#import_files"))
	run("import", chromedp.SetUploadFiles("#import_files", []string{export}), chromedp.Click("form[data-import] button[type=submit]"),
		chromedp.WaitVisible(".notice"))
	notice, err := chromedp.Run(ctx, chromedp.Text(".notice"))
	// Dates read in the browser's locale.
	days, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[new Date(2025, 0, 1), new Date(2025, 2, 31)].map(d => d.toLocaleDateString(undefined, { dateStyle: 'medium' }))`))
	if len(days) != 2 {
		t.Fatalf("locale dates: %v", days)
	}
	period := days[0] + " to " + days[1]
	if err != nil || !strings.Contains(notice, "Imported 270 rows of Plausible data, "+period+".") {
		t.Fatalf("after the upload: %q (%v), want the period %q", notice, err, period)
	}
	listed, _ := chromedp.Run(ctx, chromedp.Text("ul.imports"))
	if !strings.Contains(listed, period) {
		t.Errorf("imports table: %q, want %q", listed, period)
	}
	shots := artifactDir(t)
	for _, vp := range []struct {
		name string
		w, h int64
	}{{"desktop", 1366, 900}, {"mobile", 390, 844}} {
		run("viewport", chromedp.EmulateViewport(vp.w, vp.h), chromedp.Navigate(settings+"#imports"), chromedp.WaitVisible("#imports"))
		if wide, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth + 1`)); wide {
			t.Errorf("%s: the settings page scrolls sideways", vp.name)
		}
		if png, err := chromedp.Run(ctx, chromedp.Screenshot("#imports")); err == nil {
			os.WriteFile(filepath.Join(shots, "imports-"+vp.name+".png"), png, 0o644)
		}
	}

	// All time now starts in January 2025, in months; the chart's table
	// has the imported visitors of each month.
	run("all time", chromedp.EmulateViewport(1366, 900), chromedp.Navigate(base+"/dashboard/"+DemoDomain+"?period=all"), chromedp.WaitVisible(".chartcard"))
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify([...document.querySelectorAll('.charttable tbody tr')].map(r => [(r.querySelector('th time') || {}).dateTime || r.querySelector('th').textContent, r.querySelector('td').textContent]))`))
	if err != nil {
		t.Fatal(err)
	}
	var rows [][2]string
	json.Unmarshal([]byte(raw), &rows)
	want := map[string]string{"2025-01": "4,650", "2025-02": "5,600", "2025-03": "7,750"} // 31×150, 28×200, 31×250
	found := 0
	for _, r := range rows {
		for month, v := range want {
			if r[0] == month {
				found++
				if r[1] != v {
					t.Errorf("chart row %s: %s visitors, want %s", r[0], r[1], v)
				}
			}
		}
	}
	if found != 3 {
		t.Errorf("the chart's table has %d of the 3 imported months: %v", found, rows)
	}
	note, _ := chromedp.Run(ctx, chromedp.Text(".imports-note"))
	if !strings.Contains(note, "Includes imported data: Plausible, "+period+".") {
		t.Errorf("imports note: %q", note)
	}
	if png, err := chromedp.Run(ctx, chromedp.Screenshot(".chartcard")); err == nil {
		os.WriteFile(filepath.Join(shots, "imports-chart.png"), png, 0o644)
	}
	// Hiding imported data takes the months away.
	run("hide", chromedp.Click(".imports-note a"), chromedp.WaitVisible(".chartcard"))
	note, _ = chromedp.Run(ctx, chromedp.Text(".imports-note"))
	if !strings.Contains(note, "is hidden") {
		t.Errorf("after Hide: %q", note)
	}
}
