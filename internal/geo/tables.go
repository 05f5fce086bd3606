package geo

import (
	_ "embed"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// The tables are written by gen.go from public npm packages: country
// codes and English names (i18n-iso-countries, MIT), subdivision codes and
// names (iso3166-2-db, MIT) and country outlines (world-atlas, ISC, drawn
// from Natural Earth, public domain). See docs/DEPENDENCIES.md.
//
//go:generate go run gen.go -countries $NPM/i18n-iso-countries -regions $NPM/iso3166-2-db -atlas $NPM/world-atlas

var (
	//go:embed countries.tsv
	countriesTSV string
	//go:embed regions.tsv
	regionsTSV string
	//go:embed world.tsv
	worldTSV string
)

type tables struct {
	countryName map[string]string // alpha-2 -> English name
	regionName  map[string]string // ISO 3166-2 code -> English name
	// regionByName: country alpha-2 + "\x00" + folded name -> code.
	regionByName map[string]string
	outlines     []Outline
}

var loadTables = sync.OnceValue(func() *tables {
	t := &tables{countryName: map[string]string{}, regionName: map[string]string{}, regionByName: map[string]string{}}
	for line := range strings.Lines(countriesTSV) {
		f := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
		if len(f) == 3 {
			t.countryName[f[0]] = f[2]
		}
	}
	for line := range strings.Lines(regionsTSV) {
		f := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
		if len(f) < 2 {
			continue
		}
		code := f[0]
		cc, _, _ := strings.Cut(code, "-")
		t.regionName[code] = f[1]
		for _, n := range f[1:] {
			k := cc + "\x00" + foldRegion(n)
			if _, dup := t.regionByName[k]; !dup {
				t.regionByName[k] = code
			}
		}
	}
	for line := range strings.Lines(worldTSV) {
		code, d, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
		if ok {
			t.outlines = append(t.outlines, Outline{Country: code, Name: t.countryName[code], Path: d})
		}
	}
	return t
})

// CountryName returns the English short name of an ISO 3166-1 alpha-2
// code, or "" for a code it does not know.
func CountryName(code string) string { return loadTables().countryName[code] }

// CountryNames returns every known code with its name.
func CountryNames() map[string]string { return loadTables().countryName }

// RegionName returns the English name of an ISO 3166-2 code, or "".
func RegionName(code string) string { return loadTables().regionName[code] }

// RegionCode finds the ISO 3166-2 code of a subdivision given by name, as
// databases without codes name them ("Harjumaa", "Plzensky kraj",
// "Île-de-France"); "" when no subdivision of the country has that name.
func RegionCode(country, name string) string {
	if country == "" || name == "" {
		return ""
	}
	key := country + "\x00" + name
	if c, ok := regionMemo.Load(key); ok {
		return c.(string)
	}
	c := loadTables().regionByName[country+"\x00"+foldRegion(name)]
	regionMemo.Store(key, c) // bounded by the subdivision names a database has
	return c
}

// regionMemo keeps RegionCode's answers: folding a name costs a
// microsecond, and a database names each subdivision the same way.
var regionMemo sync.Map

// Words that name the kind of a subdivision rather than which one it is.
var regionWords = map[string]bool{"county": true, "region": true, "kraj": true, "province": true, "provincia": true,
	"state": true, "oblast": true, "voivodeship": true, "district": true, "prefecture": true, "governorate": true,
	"department": true, "municipality": true, "of": true, "the": true, "autonomous": true, "okrug": true, "krai": true,
	"republic": true, "canton": true, "land": true, "parish": true, "island": true, "islands": true, "city": true}

// foldRegion reduces a subdivision name to its distinguishing words:
// without diacritics and kind words, lower case, letters only.
func foldRegion(name string) string {
	// A chain keeps state: one per call.
	s, _, err := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), name)
	if err != nil {
		s = name
	}
	s = strings.ToLower(s)
	var b strings.Builder
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if !regionWords[w] {
			b.WriteString(w)
		}
	}
	if b.Len() == 0 {
		return s
	}
	return b.String()
}

// Outline is a country's shape on the dashboard's world map.
type Outline struct {
	Country string // ISO 3166-1 alpha-2
	Name    string
	Path    string // SVG path data in a 1000 x 395 equirectangular frame
}

// MapWidth and MapHeight are the frame of the outlines' paths.
const (
	MapWidth  = 1000
	MapHeight = 395
)

// World returns the outlines of the world's countries, Antarctica left out.
func World() []Outline { return loadTables().outlines }
