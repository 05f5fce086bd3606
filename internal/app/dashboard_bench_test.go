package app

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"waymark.dev/waymark/internal/apptest"
)

// BenchmarkDashboardPage loads a running server's dashboard view in
// headless Chromium and reports when the page became interactive
// (domInteractive) and fully loaded. Point it at a server with data, e.g.
// one serving a `waymark bench query --dir` folder:
//
//	WAYMARK_BENCH_URL=http://127.0.0.1:8080/dashboard/bench.example \
//	WAYMARK_BENCH_PASSWORD=... go test ./internal/app -run xxx -bench DashboardPage -benchtime 10x
func BenchmarkDashboardPage(b *testing.B) {
	target, password := os.Getenv("WAYMARK_BENCH_URL"), os.Getenv("WAYMARK_BENCH_PASSWORD")
	if target == "" || password == "" {
		b.Skip("set WAYMARK_BENCH_URL (a dashboard view) and WAYMARK_BENCH_PASSWORD")
	}
	ctx := apptest.Browser(b)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(target), chromedp.WaitVisible("#password"),
		chromedp.SendKeys("#password", password), chromedp.Submit("#password"), chromedp.WaitVisible(".headline")); err != nil {
		b.Fatal(err)
	}
	var interactive, loaded float64
	for b.Loop() {
		if err := chromedp.Do(ctx, chromedp.Navigate(target), chromedp.WaitVisible("#panel-goals")); err != nil {
			b.Fatal(err)
		}
		t, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => { const n = performance.getEntriesByType('navigation')[0]; return [n.domInteractive, n.loadEventEnd || n.domComplete]; })()`))
		if err != nil {
			b.Fatal(err)
		}
		interactive += t[0]
		loaded += t[1]
	}
	b.ReportMetric(interactive/float64(b.N), "ms-interactive")
	b.ReportMetric(loaded/float64(b.N), "ms-loaded")
}
