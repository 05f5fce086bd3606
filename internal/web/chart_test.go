package web

import (
	"html/template"
	"strings"
	"testing"
	"time"
)

func TestLineChart(t *testing.T) {
	t.Parallel()
	svg := string(lineChart("Visitors per day", []string{"2024-03-10", "2024-03-11", "2024-03-12"}, []float64{3, 7, 0}, []float64{1, 2, 3}))
	for _, want := range []string{`role="img"`, `aria-label="Visitors per day"`, `class="current"`, `class="previous"`, `data-label="2024-03-11" data-value="7">2024-03-11: 7</title>`, `>10 Mar<`} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %s:\n%s", want, svg)
		}
	}
	if n := strings.Count(svg, `class="current-point"`); n != 3 {
		t.Errorf("%d points, want 3", n)
	}
	// Without a previous period there is one line; an empty range draws
	// the axes only; a label cannot inject markup.
	if svg := string(lineChart("x", []string{"a"}, []float64{1}, nil)); strings.Contains(svg, "previous") {
		t.Error("a previous-period line without a comparison")
	}
	if svg := string(lineChart("<b>", nil, nil, nil)); !strings.Contains(svg, "</svg>") || strings.Contains(svg, "<b>") {
		t.Errorf("empty chart: %s", svg)
	}
	for v, want := range map[float64]float64{0: 4, 3: 4, 7: 10, 11: 20, 180: 200, 420: 500, 1000: 1000} {
		if got := niceMax(v); got != want {
			t.Errorf("niceMax(%v) = %v, want %v", v, got, want)
		}
	}
	// Dates are <time> elements the page's script writes in the reader's
	// locale, with a plain fallback; anything else is escaped text.
	for _, c := range []struct {
		got  template.HTML
		want string
	}{
		{dayTag("2026-12-03"), `<time datetime="2026-12-03" data-fmt="day">3 Dec 2026</time>`},
		{dayTag("<b>"), `&lt;b&gt;`},
		{instantTag(time.Date(2026, 12, 3, 14, 5, 9, 0, time.FixedZone("x", 3600))), `<time datetime="2026-12-03T13:05:09Z" data-fmt="instant">3 Dec 2026, 13:05 UTC</time>`},
		{instantTag(time.Time{}), ``},
		{bucketTag("2026-12-03 14:00:00", "time:hour"), `<time datetime="2026-12-03T14:00" data-fmt="hour">14:00</time>`},
		{bucketTag("2026-11-01", "time:month"), `<time datetime="2026-11" data-fmt="month">Nov 2026</time>`},
		{bucketTag("2026-11-30", "time:week"), `<time datetime="2026-11-30" data-fmt="day">30 Nov 2026</time>`},
		{bucketTag("x", "time:hour"), `x`},
	} {
		if string(c.got) != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
	if got := string(bar(5, 20)); !strings.Contains(got, `width="25.0"`) {
		t.Errorf("bar(5, 20) = %s", got)
	}
}
