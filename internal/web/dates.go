package web

import (
	"html/template"
	"strings"
	"time"
)

// Dates on the dashboard's pages are written as <time> elements: the
// machine-readable value in datetime, a plain fallback as text ("3 Dec
// 2026", the same whatever the locale), and data-fmt saying what the value
// is (a day, a month, an hour of a day, an instant). The page's script
// rewrites them in the reader's locale, so every date on a page reads the
// same way: the chart's axis and points, its table, the range, settings.

// dayTag writes a local day ("2006-01-02").
func dayTag(day string) template.HTML {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return template.HTML(template.HTMLEscapeString(day))
	}
	return timeTag(day, "day", t.Format("2 Jan 2006"))
}

// instantTag writes a moment, which the reader sees in their own time zone.
func instantTag(t time.Time) template.HTML {
	if t.IsZero() {
		return ""
	}
	u := t.UTC()
	return timeTag(u.Format(time.RFC3339), "instant", u.Format("2 Jan 2006, 15:04 UTC"))
}

// bucketTag writes a chart bucket's label in the unit of its chart: days
// and weeks as days ("2006-01-02"), months as months, hours
// ("2006-01-02 15:00:00", local to the site) as the hour.
func bucketTag(label, unit string) template.HTML {
	switch strings.TrimPrefix(unit, "time:") {
	case "hour":
		t, err := time.Parse(time.DateTime, label)
		if err != nil {
			break
		}
		return timeTag(t.Format("2006-01-02T15:04"), "hour", t.Format("15:04"))
	case "month":
		t, err := time.Parse(time.DateOnly, label)
		if err != nil {
			break
		}
		return timeTag(t.Format("2006-01"), "month", t.Format("Jan 2006"))
	default:
		return dayTag(label)
	}
	return template.HTML(template.HTMLEscapeString(label))
}

func timeTag(datetime, kind, text string) template.HTML {
	return template.HTML(`<time datetime="` + template.HTMLEscapeString(datetime) + `" data-fmt="` + kind + `">` +
		template.HTMLEscapeString(text) + `</time>`)
}
