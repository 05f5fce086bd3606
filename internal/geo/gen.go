//go:build ignore

// gen.go writes the tables this package embeds, from npm packages unpacked
// in a folder (npm pack, then tar xzf):
//
//	go run gen.go -countries DIR/i18n-iso-countries -regions DIR/iso3166-2-db -atlas DIR/world-atlas
//
// countries.tsv: ISO 3166-1 alpha-2, numeric code, English name.
// regions.tsv:   ISO 3166-2 code, then the subdivision's names (English and
//
//	GeoNames spellings), tab-separated.
//
// world.tsv:     ISO 3166-1 alpha-2, SVG path of the country's outline in
//
//	an equirectangular map of 1000 x 420 units (84N to 58S).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

func main() {
	countries := flag.String("countries", "", "unpacked i18n-iso-countries package")
	regions := flag.String("regions", "", "unpacked iso3166-2-db package")
	atlas := flag.String("atlas", "", "unpacked world-atlas package")
	flag.Parse()
	numeric := writeCountries(*countries)
	writeRegions(*regions)
	writeWorld(*atlas, numeric)
}

func readJSON(path string, v any) {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		log.Fatalf("%s: %v", path, err)
	}
}

// Names the stats show where the package's first name is a formal one.
var shortNames = map[string]string{"US": "United States", "TW": "Taiwan", "GB": "United Kingdom"}

func writeCountries(dir string) map[string]string {
	var codes [][]string
	readJSON(filepath.Join(dir, "codes.json"), &codes)
	var en struct {
		Countries map[string]json.RawMessage `json:"countries"`
	}
	readJSON(filepath.Join(dir, "langs", "en.json"), &en)
	numeric := map[string]string{}
	var b strings.Builder
	for _, c := range codes {
		a2, num := c[0], c[2]
		name := shortNames[a2]
		if name == "" {
			raw := en.Countries[a2]
			var one string
			var many []string
			if json.Unmarshal(raw, &one) == nil {
				name = one
			} else if json.Unmarshal(raw, &many) == nil && len(many) > 0 {
				name = many[0]
			}
		}
		if name == "" {
			log.Fatalf("no English name for %s", a2)
		}
		numeric[num] = a2
		fmt.Fprintf(&b, "%s\t%s\t%s\n", a2, num, name)
	}
	if _, ok := en.Countries["XK"]; ok && !strings.Contains(b.String(), "XK\t") {
		fmt.Fprintf(&b, "XK\t\tKosovo\n") // user-assigned code, used by MaxMind and DB-IP
	}
	write("countries.tsv", b.String())
	return numeric
}

func writeRegions(dir string) {
	ents, err := os.ReadDir(filepath.Join(dir, "regions"))
	if err != nil {
		log.Fatal(err)
	}
	type sub struct {
		Name string `json:"name"`
		ISO  string `json:"iso"`
	}
	var lines []string
	for _, e := range ents {
		cc := e.Name()
		names := map[string][]string{}
		for _, f := range []string{"en.json", "geonames.json"} {
			var subs []sub
			p := filepath.Join(dir, "regions", cc, f)
			if _, err := os.Stat(p); err != nil {
				continue
			}
			readJSON(p, &subs)
			for _, s := range subs {
				if s.ISO == "" || s.Name == "" {
					continue
				}
				code := cc + "-" + s.ISO
				if !slices.Contains(names[code], s.Name) {
					names[code] = append(names[code], s.Name)
				}
			}
		}
		for code, ns := range names {
			lines = append(lines, code+"\t"+strings.Join(ns, "\t"))
		}
	}
	slices.Sort(lines)
	write("regions.tsv", strings.Join(lines, "\n")+"\n")
}

type topology struct {
	Transform struct {
		Scale     [2]float64 `json:"scale"`
		Translate [2]float64 `json:"translate"`
	} `json:"transform"`
	Arcs    [][][2]float64 `json:"arcs"`
	Objects struct {
		Countries struct {
			Geometries []struct {
				Type       string          `json:"type"`
				ID         string          `json:"id"`
				Arcs       json.RawMessage `json:"arcs"`
				Properties struct {
					Name string `json:"name"`
				} `json:"properties"`
			} `json:"geometries"`
		} `json:"countries"`
	} `json:"objects"`
}

// Map frame: longitude -180..180 to x 0..1000, latitude 84..-58 to y.
const (
	mapW   = 1000.0
	north  = 84.0
	south  = -58.0
	perDeg = mapW / 360
)

func writeWorld(dir string, numeric map[string]string) {
	var t topology
	readJSON(filepath.Join(dir, "countries-110m.json"), &t)
	// Decode the delta-encoded, quantised arcs to degrees.
	arcs := make([][][2]float64, len(t.Arcs))
	for i, a := range t.Arcs {
		var x, y float64
		for _, p := range a {
			x, y = x+p[0], y+p[1]
			arcs[i] = append(arcs[i], [2]float64{x*t.Transform.Scale[0] + t.Transform.Translate[0], y*t.Transform.Scale[1] + t.Transform.Translate[1]})
		}
	}
	ring := func(idx []int) string {
		var pts [][2]float64
		for _, i := range idx {
			var a [][2]float64
			if i < 0 {
				a = slices.Clone(arcs[^i])
				slices.Reverse(a)
			} else {
				a = arcs[i]
			}
			if len(pts) > 0 {
				a = a[1:]
			}
			pts = append(pts, a...)
		}
		var b strings.Builder
		lx, ly := math.MinInt, math.MinInt
		n := 0
		for _, p := range pts {
			x := int(math.Round((p[0] + 180) * perDeg))
			y := int(math.Round((north - math.Max(p[1], south)) * perDeg))
			if x == lx && y == ly {
				continue
			}
			// A jump of more than half the map crosses the antimeridian
			// (Chukotka, Fiji): carry on past the map's edge instead of
			// drawing a line across the world; the frame clips the rest.
			for n > 0 && x-lx > mapW/2 {
				x -= mapW
			}
			for n > 0 && lx-x > mapW/2 {
				x += mapW
			}
			if n == 0 {
				b.WriteString("M" + strconv.Itoa(x) + " " + strconv.Itoa(y))
			} else {
				b.WriteString("l" + strconv.Itoa(x-lx) + " " + strconv.Itoa(y-ly))
			}
			lx, ly = x, y
			n++
		}
		if n < 3 {
			return ""
		}
		return b.String() + "z"
	}
	other := map[string]string{"Kosovo": "XK", "N. Cyprus": "CY", "Somaliland": "SO"}
	paths := map[string]string{}
	for _, g := range t.Objects.Countries.Geometries {
		a2 := numeric[g.ID]
		if a2 == "" {
			a2 = other[g.Properties.Name]
		}
		if a2 == "" || a2 == "AQ" {
			continue
		}
		var polys [][][]int
		switch g.Type {
		case "Polygon":
			var p [][]int
			if err := json.Unmarshal(g.Arcs, &p); err != nil {
				log.Fatal(err)
			}
			polys = [][][]int{p}
		case "MultiPolygon":
			if err := json.Unmarshal(g.Arcs, &polys); err != nil {
				log.Fatal(err)
			}
		default:
			continue
		}
		var d strings.Builder
		for _, p := range polys {
			for _, r := range p {
				d.WriteString(ring(r))
			}
		}
		paths[a2] += d.String()
	}
	var lines []string
	for a2, d := range paths {
		if d != "" {
			lines = append(lines, a2+"\t"+d)
		}
	}
	slices.Sort(lines)
	write("world.tsv", strings.Join(lines, "\n")+"\n")
}

func write(name, s string) {
	if err := os.WriteFile(name, []byte(s), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d bytes\n", name, len(s))
}
