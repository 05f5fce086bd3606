package web

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// lineChart draws a time series as an SVG line chart: the current period
// as a solid line with points, the previous period (when given) as a faint
// dashed one. Colours come from the stylesheet (classes), so the chart
// follows the light or dark theme; the page shows the same figures in a
// table for screen readers and keyboards.
func lineChart(title string, labels []string, cur, prev []float64) template.HTML {
	const w, h, left, right, top, bottom = 720.0, 220.0, 48.0, 12.0, 12.0, 28.0
	maxV := 0.0
	for _, v := range append(append([]float64{}, cur...), prev...) {
		maxV = math.Max(maxV, v)
	}
	scale := niceMax(maxV)
	n := len(labels)
	x := func(i int) float64 {
		if n <= 1 {
			return left + (w-left-right)/2
		}
		return left + float64(i)*(w-left-right)/float64(n-1)
	}
	y := func(v float64) float64 { return top + (h-top-bottom)*(1-v/scale) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s" preserveAspectRatio="none">`, w, h, template.HTMLEscapeString(title))
	for i := 0; i <= 4; i++ {
		v := scale * float64(i) / 4
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, left, w-right, y(v), y(v))
		// Above its grid line at the left edge: at a phone's width the
		// margin is narrower than "1,000".
		fmt.Fprintf(&b, `<text class="axis" x="2" y="%.1f" text-anchor="start">%s</text>`, y(v)-3, formatCount(v))
	}
	step := max(1, n/8)
	for i := 0; i < n; i += step {
		// The full label rides along: the page's script writes it in
		// the reader's locale ("4 Nov", "Nov 4").
		fmt.Fprintf(&b, `<text class="axis x" data-label="%s" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`,
			template.HTMLEscapeString(labels[i]), x(i), h-8, template.HTMLEscapeString(shortLabel(labels[i])))
	}
	line := func(vals []float64, class string, points bool) {
		if len(vals) == 0 {
			return
		}
		var pts []string
		for i, v := range vals {
			if i < n {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
			}
		}
		fmt.Fprintf(&b, `<polyline class="%s" points="%s"/>`, class, strings.Join(pts, " "))
		if points && len(vals) <= 60 {
			for i, v := range vals {
				if i < n {
					fmt.Fprintf(&b, `<circle class="%s-point" cx="%.1f" cy="%.1f" r="3"><title data-label="%[4]s" data-value="%[5]s">%[4]s: %[5]s</title></circle>`,
						class, x(i), y(v), template.HTMLEscapeString(labels[i]), formatCount(v))
				}
			}
		}
	}
	line(prev, "previous", false)
	line(cur, "current", true)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten, so the
// axis has round steps; at least 4.
func niceMax(v float64) float64 {
	if v <= 4 {
		return 4
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// shortLabel writes a bucket label for the axis, readably without the
// page's script (which writes it in the reader's locale): "2024-03-10" ->
// "10 Mar", "2024-03-10 14:00:00" -> "14:00".
func shortLabel(l string) string {
	if len(l) == len("2006-01-02 15:04:05") {
		return l[11:16]
	}
	if t, err := time.Parse(time.DateOnly, l); err == nil {
		return t.Format("2 Jan")
	}
	return l
}

// bar draws a row's proportional bar (share of the panel's largest value)
// as a small SVG, which a strict CSP allows where a style attribute would
// not be.
func bar(v, maxV float64) template.HTML {
	pct := 0.0
	if maxV > 0 {
		pct = math.Max(0, math.Min(100, v/maxV*100))
	}
	return template.HTML(fmt.Sprintf(`<svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true"><rect width="%.1f" height="10"/></svg>`, pct))
}
