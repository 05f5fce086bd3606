package app

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"waymark.dev/waymark/internal/duckdb"
	"waymark.dev/waymark/internal/stats"
)

// TestDemoTrafficConsistent: a synthetic visitor keeps one browser,
// system, device and place, so each breakdown's shares add up to 100%
// (they reached 118% when every visit drew its own).
func TestDemoTrafficConsistent(t *testing.T) {
	ctx := context.Background()
	st, err := duckdb.Open(ctx, filepath.Join(t.TempDir(), "events.duckdb"), duckdb.Options{MemoryLimit: "256MB"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	if _, err := demoTraffic(ctx, st, now, 7, 20000, 3); err != nil {
		t.Fatal(err)
	}
	s := demoSite()
	for _, dim := range []string{"visit:browser", "visit:os", "visit:device", "visit:country", "visit:screen", "visit:language"} {
		for _, days := range []int{1, 7} {
			q := &stats.Query{Site: s, Metrics: []string{"visitors", "percentage"}, Dimensions: []string{dim},
				From: now.AddDate(0, 0, -days), To: now, Location: time.UTC, Limit: 1000}
			res, err := st.Query(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			sum := 0.0
			for _, r := range res.Rows {
				sum += r.Metrics[1]
			}
			// Shares are rounded to 0.1 each.
			if sum > 100+0.05*float64(len(res.Rows)) || sum < 99 {
				t.Errorf("%s over %d days: shares add up to %.1f%%", dim, days, sum)
			}
		}
	}
}
