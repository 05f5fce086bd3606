package web

import (
	"fmt"
	"html/template"
	"math"
	"strings"

	"waymark.dev/waymark/internal/geo"
	"waymark.dev/waymark/internal/stats"
)

// mapCountries is how many countries the Countries tab asks for: all of
// them, so the map shades every country with visitors.
const mapCountries = 300

// chipValue is how a filter chip shows its value: a country or region
// code with its name ("EE, Estonia").
func chipValue(f viewFilter) string {
	name := ""
	switch f.Dim {
	case "visit:country":
		name = geo.CountryName(f.Value)
	case "visit:region":
		name = geo.RegionName(f.Value)
	}
	if name == "" || f.Op != "is" && f.Op != "is_not" {
		return f.Value
	}
	return f.Value + ", " + name
}

// placeLabel is how the Locations panel shows a value: the country's,
// region's or city's name, the code where there is no name.
func placeLabel(code, name string) string {
	if name == "" || name == "(not set)" {
		return code
	}
	return name
}

// locationsPanel adds the tabs, the world map (Countries tab), the
// attribution its databases require, and, without any database, how to
// add one.
func (s *Server) locationsPanel(pv *panelView, p panelDef, v viewState, base string, res *stats.Result) {
	cur := p.tab(v)
	for _, t := range p.Tabs {
		tv := v
		tv.Loc = t.Loc
		pv.Tabs = append(pv.Tabs, periodLink{Label: t.Label, Href: tv.href(base) + "#panel-" + p.ID, Current: t.Loc == cur.Loc})
	}
	if !s.Geo.HasGeo() {
		pv.Note = "No geolocation database yet: new visits get no place. Start Waymark with --geoip FILE, or put .mmdb files in " +
			"the data folder's geo/ folder; docs/DEPLOYMENT.md says where to get free ones (DB-IP Lite, GeoLite2)."
		if len(pv.Rows) == 1 && pv.Rows[0].Label == "(not set)" {
			pv.Rows = nil // nothing but visits without a place
		}
		pv.Empty = "No places for this period."
	}
	if a := s.Geo.Attribution(); len(a) > 0 {
		var parts []string
		for _, c := range a {
			if c == geo.DBIPAttribution {
				parts = append(parts, `<a href="https://db-ip.com">`+template.HTMLEscapeString(c)+`</a>`)
			} else {
				parts = append(parts, template.HTMLEscapeString(c))
			}
		}
		pv.Credit = template.HTML(strings.Join(parts, " · "))
	}
	if cur.Loc == "" {
		pv.Map = worldMap(v, base, res)
	}
}

// worldMap draws the countries shaded by visitors: each country with
// visitors links to the view filtered by it and names its count on hover.
func worldMap(v viewState, base string, res *stats.Result) template.HTML {
	visitors := map[string]float64{}
	top := 0.0
	for _, r := range res.Rows {
		if len(r.Dimensions) > 0 && len(r.Metrics) > 0 {
			visitors[r.Dimensions[0]] = r.Metrics[0]
			top = max(top, r.Metrics[0])
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="worldmap" viewBox="0 0 %d %d" role="img" aria-label="Map of visitors by country">`, geo.MapWidth, geo.MapHeight)
	for _, o := range geo.World() {
		n := visitors[o.Country]
		if n == 0 {
			fmt.Fprintf(&b, `<path class="m0" d="%s"><title>%s: no visitors</title></path>`, o.Path, template.HTMLEscapeString(o.Name))
			continue
		}
		// Five shades on a square-root scale: one big country does not
		// leave the rest looking empty.
		level := 1 + int(math.Min(4, math.Floor(4*math.Sqrt(n/top))))
		href := v.withFilter(viewFilter{Dim: "visit:country", Op: "is", Value: o.Country}).href(base)
		unit := "visitors"
		if n == 1 {
			unit = "visitor"
		}
		fmt.Fprintf(&b, `<a href="%s"><path class="m%d" d="%s"><title>%s: %s %s</title></path></a>`,
			template.HTMLEscapeString(href), min(level, 5), o.Path, template.HTMLEscapeString(o.Name), formatCount(n), unit)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
