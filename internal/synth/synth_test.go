package synth

import (
	"testing"
	"time"

	"waymark.dev/waymark/internal/analytics"
)

// TestGenerator: the same seed gives the same traffic; hits fall in the
// span (none at or after its end, however long a visit), belong to the site and use the given paths; pageviews make up
// most of it, with engagement and custom events beside them.
func TestGenerator(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	run := func() []analytics.Hit {
		g := New("shop.example", 7)
		g.Paths, g.Entry = []string{"/", "/products", "/cart"}, "/"
		var hits []analytics.Hit
		g.Visits(from, 24*time.Hour, 500, func(h *analytics.Hit) { hits = append(hits, *h) })
		return hits
	}
	a, b := run(), run()
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("%d and %d hits from the same seed", len(a), len(b))
	}
	names := map[string]int{}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Path != b[i].Path || !a[i].Time.Equal(b[i].Time) || a[i].VisitorID != b[i].VisitorID {
			t.Fatalf("hit %d differs between runs: %+v / %+v", i, a[i], b[i])
		}
		h := a[i]
		if h.Site != "shop.example" || h.Time.Before(from) || !h.Time.Before(from.Add(24*time.Hour)) {
			t.Fatalf("hit %d out of place: %+v", i, h)
		}
		if h.Name == analytics.EventPageview && h.Path != "/" && h.Path != "/products" && h.Path != "/cart" {
			t.Fatalf("pageview of a path not given: %q", h.Path)
		}
		names[h.Name]++
	}
	if names[analytics.EventPageview] < len(a)/3 || names[analytics.EventEngagement] == 0 || len(names) < 3 {
		t.Errorf("mix of hits %v: want mostly pageviews, with engagement and custom events", names)
	}
}

// TestVisitsEndWithTheSpan: when the span ends before n hits, the visits
// that started near its end are cut short, not carried past it.
func TestVisitsEndWithTheSpan(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	end := from.Add(time.Hour)
	n, last := 0, from
	New("shop.example", 3).Visits(from, time.Hour, 1_000_000, func(h *analytics.Hit) {
		n++
		if h.Time.After(last) {
			last = h.Time
		}
	})
	if n == 0 || !last.Before(end) {
		t.Errorf("%d hits, the last at %v: want none at or after %v", n, last, end)
	}
}
