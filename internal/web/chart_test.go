package web

import (
	"strings"
	"testing"
)

func TestLineChart(t *testing.T) {
	t.Parallel()
	svg := string(lineChart("Visitors per day", []string{"2024-03-10", "2024-03-11", "2024-03-12"}, []float64{3, 7, 0}, []float64{1, 2, 3}))
	for _, want := range []string{`role="img"`, `aria-label="Visitors per day"`, `class="current"`, `class="previous"`, `<title>2024-03-11: 7</title>`, `>03-10<`} {
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
	if got := string(bar(5, 20)); !strings.Contains(got, `width="25.0"`) {
		t.Errorf("bar(5, 20) = %s", got)
	}
}
