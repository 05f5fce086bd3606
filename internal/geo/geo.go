// Package geo answers where an IP address is: country, region and city
// from MaxMind-format databases (MaxMind GeoIP2/GeoLite2, DB-IP Lite, and
// the ip-location-db packages), and the network (ASN) from an ASN database
// in MaxMind format or CSV ranges. It reloads databases whose files change,
// and holds the country, subdivision and world-outline tables the stats
// and the dashboard name places with.
package geo

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"

	"waymark.dev/waymark/internal/analytics"
)

// Location is everything the databases say of an address.
type Location struct {
	analytics.Place
	// Latitude and Longitude are the city's (or country's) coordinates;
	// HasCoords says whether the database gave any.
	Latitude, Longitude float64
	HasCoords           bool
	ASN                 uint32 // 0 when unknown
	ASOrg               string
}

// Precision is how much of a place analytics keeps.
type Precision int

// Precisions, coarsest first.
const (
	PrecisionCountry Precision = iota + 1
	PrecisionRegion
	PrecisionCity
)

// ParsePrecision reads "country", "region" or "city".
func ParsePrecision(s string) (Precision, error) {
	switch s {
	case "country":
		return PrecisionCountry, nil
	case "region":
		return PrecisionRegion, nil
	case "city", "":
		return PrecisionCity, nil
	}
	return 0, fmt.Errorf("geo precision must be country, region or city, not %q", s)
}

// String names the precision.
func (p Precision) String() string {
	switch p {
	case PrecisionCountry:
		return "country"
	case PrecisionRegion:
		return "region"
	}
	return "city"
}

// Cut keeps of a place what the precision allows.
func (p Precision) Cut(pl analytics.Place) analytics.Place {
	if p <= PrecisionRegion {
		pl.City, pl.CityName = 0, ""
	}
	if p <= PrecisionCountry {
		pl.Region, pl.RegionName = "", ""
	}
	return pl
}

// Kinds of database.
const (
	KindCity    = "city"
	KindCountry = "country"
	KindASN     = "asn"
)

// Layouts of records.
const (
	LayoutMaxMind      = "maxmind"        // GeoIP2/GeoLite2 and DB-IP: country.iso_code, subdivisions, city.geoname_id, ...
	LayoutIPLocationDB = "ip-location-db" // country_code, state1, state2, city, latitude, longitude
	LayoutMaxMindASN   = "maxmind-asn"    // autonomous_system_number, autonomous_system_organization
	LayoutCSVRanges    = "csv-ranges"     // first address, last address, ASN, organisation
)

// Info describes an open database.
type Info struct {
	Path        string    `json:"path"`
	Type        string    `json:"type"` // the database's own type, e.g. "GeoLite2-City"
	Kind        string    `json:"kind"` // city, country or asn
	Layout      string    `json:"layout"`
	IPVersion   int       `json:"ip_version"` // 4: IPv4 only; 6: both
	Built       time.Time `json:"built"`
	Attribution string    `json:"attribution,omitempty"` // text a page using its results must show
}

// DBIPAttribution is the credit DB-IP's licence (CC BY 4.0) requires on
// pages that show results of its free databases.
const DBIPAttribution = "IP Geolocation by DB-IP"

var ipLocationDBType = regexp.MustCompile(`^(city|country|asn) ipv[46]$`)

// database is one open MaxMind-format file.
type database struct {
	info    Info
	r       *maxminddb.Reader
	release func() // frees the memory r reads; strings decoded from it are copies
	mod     time.Time
	size    int64
}

// openMMDB opens a MaxMind-format file and recognises its layout from the
// metadata.
func openMMDB(path string) (*database, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	b, release, err := loadOffHeap(path)
	if err != nil {
		return nil, err
	}
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		release()
		return nil, fmt.Errorf("%s: not a MaxMind-format database: %w", path, err)
	}
	m := r.Metadata
	info := Info{Path: path, Type: m.DatabaseType, IPVersion: int(m.IPVersion), Built: m.BuildTime().UTC()}
	t := strings.ToLower(m.DatabaseType)
	switch {
	case ipLocationDBType.MatchString(t):
		info.Kind, _, _ = strings.Cut(t, " ")
		info.Layout = LayoutIPLocationDB
		if info.Kind == KindASN {
			info.Layout = LayoutMaxMindASN
		}
	case strings.Contains(t, "asn"):
		info.Kind, info.Layout = KindASN, LayoutMaxMindASN
	case strings.Contains(t, "city") || strings.Contains(t, "location") || strings.Contains(t, "enterprise"):
		info.Kind, info.Layout = KindCity, LayoutMaxMind
	case strings.Contains(t, "country"):
		info.Kind, info.Layout = KindCountry, LayoutMaxMind
	default:
		release()
		return nil, fmt.Errorf("%s: database type %q is not a city, country or ASN database this Waymark reads", path, m.DatabaseType)
	}
	if isDBIP(path, m.DatabaseType) {
		info.Attribution = DBIPAttribution
	}
	return &database{info: info, r: r, release: release, mod: st.ModTime(), size: st.Size()}, nil
}

// isDBIP tells a DB-IP database: by its type, its file name, or the
// licence file the ip-location-db packages put beside it.
func isDBIP(path, typ string) bool {
	if strings.HasPrefix(strings.ToUpper(typ), "DBIP") || strings.Contains(strings.ToLower(filepath.Base(path)), "dbip") {
		return true
	}
	_, err := os.Stat(filepath.Join(filepath.Dir(path), "DBIP-LICENSE"))
	return err == nil
}

type maxmindRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Subdivisions []struct {
		ISOCode string `maxminddb:"iso_code"`
		Names   struct {
			EN string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"subdivisions"`
	City struct {
		GeoNameID uint32 `maxminddb:"geoname_id"`
		Names     struct {
			EN string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"city"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

type ipLocationRecord struct {
	CountryCode string   `maxminddb:"country_code"`
	State1      string   `maxminddb:"state1"`
	City        string   `maxminddb:"city"`
	Latitude    *float64 `maxminddb:"latitude"`
	Longitude   *float64 `maxminddb:"longitude"`
}

type asnRecord struct {
	Number uint32 `maxminddb:"autonomous_system_number"`
	Org    string `maxminddb:"autonomous_system_organization"`
}

// errNotFound: the database has no record for the address.
var errNotFound = errors.New("geo: not found")

// decode reads the record at a lookup's result into a Location.
func (d *database) decode(res maxminddb.Result) (Location, error) {
	var loc Location
	switch d.info.Layout {
	case LayoutMaxMind:
		var r maxmindRecord
		if err := res.Decode(&r); err != nil {
			return loc, err
		}
		loc.Country = strings.ToUpper(r.Country.ISOCode)
		if len(r.Subdivisions) > 0 {
			s := r.Subdivisions[0]
			if s.ISOCode != "" && loc.Country != "" {
				loc.Region = loc.Country + "-" + strings.ToUpper(s.ISOCode)
			}
			loc.RegionName = s.Names.EN
		}
		loc.City, loc.CityName = r.City.GeoNameID, r.City.Names.EN
		if loc.City == 0 && loc.CityName != "" {
			loc.City = cityID(loc.Country, loc.RegionName, loc.CityName)
		}
		if r.Location.Latitude != nil && r.Location.Longitude != nil {
			loc.Latitude, loc.Longitude, loc.HasCoords = *r.Location.Latitude, *r.Location.Longitude, true
		}
	case LayoutIPLocationDB:
		var r ipLocationRecord
		if err := res.Decode(&r); err != nil {
			return loc, err
		}
		loc.Country = strings.ToUpper(r.CountryCode)
		loc.RegionName = r.State1
		loc.Region = RegionCode(loc.Country, r.State1)
		loc.CityName = cityName(r.City)
		if loc.CityName != "" {
			loc.City = cityID(loc.Country, loc.RegionName, loc.CityName)
		}
		if r.Latitude != nil && r.Longitude != nil {
			loc.Latitude, loc.Longitude, loc.HasCoords = *r.Latitude, *r.Longitude, true
		}
	case LayoutMaxMindASN:
		var r asnRecord
		if err := res.Decode(&r); err != nil {
			return loc, err
		}
		loc.ASN, loc.ASOrg = r.Number, r.Org
		return loc, nil
	}
	if loc.Country == "" {
		return Location{}, errNotFound
	}
	loc.CountryName = CountryName(loc.Country)
	if loc.Region != "" && loc.RegionName == "" {
		loc.RegionName = RegionName(loc.Region)
	}
	return loc, nil
}

// cityName drops the district DB-IP adds in parentheses ("Tallinn
// (Kristiine linnaosa)"): analytics counts the city.
func cityName(s string) string {
	if i := strings.Index(s, " ("); i > 0 && strings.HasSuffix(s, ")") {
		return s[:i]
	}
	return s
}

// CityIDBit marks a city id made from a database's names, for databases
// without GeoNames ids; GeoNames ids stay far below it.
const CityIDBit = 1 << 31

// cityID is a stable id of a named city: the same names give the same id
// in every database and every month's release.
func cityID(country, region, city string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(country + "\x00" + region + "\x00" + city))
	return h.Sum32() | CityIDBit
}

// lookup finds an address; errNotFound when the database has no record.
func (d *database) lookup(ip netip.Addr, c *cache) (Location, error) {
	if d.info.IPVersion == 4 && !ip.Is4() {
		return Location{}, errNotFound
	}
	res := d.r.Lookup(ip)
	if err := res.Err(); err != nil {
		return Location{}, err
	}
	if !res.Found() {
		return Location{}, errNotFound
	}
	key := cacheKey{d, res.Offset()}
	if v, ok := c.get(key); ok {
		if !v.found {
			return Location{}, errNotFound
		}
		return v.loc, nil
	}
	loc, err := d.decode(res)
	if err != nil && !errors.Is(err, errNotFound) {
		return Location{}, fmt.Errorf("%s: %w", d.info.Path, err)
	}
	c.put(key, loc, err == nil)
	return loc, err
}

// cache keeps decoded records by their place in a database: addresses of
// one network share a record, so most lookups decode nothing.
type cache struct {
	mu sync.RWMutex
	m  map[cacheKey]cached
}

type cacheKey struct {
	d   *database
	off uintptr
}

type cached struct {
	loc   Location
	found bool
}

const cacheMax = 1 << 16

func (c *cache) get(k cacheKey) (cached, bool) {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	return v, ok
}

func (c *cache) put(k cacheKey, loc Location, found bool) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= cacheMax {
		c.m = make(map[cacheKey]cached, 1024)
	}
	c.m[k] = cached{loc, found}
	c.mu.Unlock()
}
