package collect

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/geo"
	"waymark.dev/waymark/internal/geo/geotest"
	"waymark.dev/waymark/internal/site"
)

func testEnricher(t testing.TB, places Locator) *Enricher {
	t.Helper()
	bots, err := NewBotMatcher()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	v, err := NewVisitors(context.Background(), &memSalts{m: map[string]analytics.Salt{}}, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return &Enricher{Agents: NewAgentParser(bots, 1000), Bots: bots, Visitors: v, Places: places, Now: func() time.Time { return now }}
}

const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"

// TestEnrichPlace: the hit gets the place of the sender's address at the
// configured precision, and nothing of the address itself.
func TestEnrichPlace(t *testing.T) {
	t.Parallel()
	db := geotest.WriteMaxMindCity(t, t.TempDir(), "GeoLite2-City", []geotest.City{
		{Network: "81.2.69.0/24", Country: "GB", Region: "ENG", RegName: "England", GeoNameID: 2643743, City: "London"}})
	s := &site.Site{Domain: "e.com", TimeZone: "UTC"}
	b, err := ParseEvent([]byte(`{"n":"pageview","u":"https://e.com/","d":"e.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		precision geo.Precision
		city      uint32
		region    string
	}{{geo.PrecisionCity, 2643743, "GB-ENG"}, {geo.PrecisionRegion, 0, "GB-ENG"}, {geo.PrecisionCountry, 0, ""}} {
		r, err := geo.New(geo.Config{Files: []string{db}, Precision: c.precision})
		if err != nil {
			t.Fatal(err)
		}
		h, drop := testEnricher(t, r).Enrich(b, s, Request{IP: netip.MustParseAddr("81.2.69.142"), UserAgent: firefox})
		if drop != "" || h.Country != "GB" || h.CountryName != "United Kingdom" || h.City != c.city || h.Region != c.region {
			t.Errorf("%v: %q %+v", c.precision, drop, h.Place)
		}
		enc := string(h.AppendBinary(nil))
		for _, leak := range []string{"81.2.69", "\x51\x02\x45\x8e"} {
			if strings.Contains(enc, leak) {
				t.Errorf("the stored record holds the address (%q)", leak)
			}
		}
	}
	h, _ := testEnricher(t, nil).Enrich(b, s, Request{IP: netip.MustParseAddr("81.2.69.142"), UserAgent: firefox})
	if h.Country != "" || h.City != 0 {
		t.Errorf("without a database: %+v", h.Place)
	}
}

// BenchmarkEnrich is a beacon's enrichment without and with the DB-IP
// city database, senders spread over the IPv4 space.
func BenchmarkEnrich(b *testing.B) {
	beacon, err := ParseEvent([]byte(`{"n":"pageview","u":"https://e.com/p/1?utm_source=news","d":"e.com","r":"https://www.google.com/","sw":1920,"sh":1080}`))
	if err != nil {
		b.Fatal(err)
	}
	s := &site.Site{Domain: "e.com", TimeZone: "UTC"}
	ips := make([]netip.Addr, 4096)
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{byte(i*37 + 1), byte(i * 11), byte(i >> 3), 9})
	}
	// "dbip-city-spread" draws each address anew from all of IPv4, so most
	// lookups miss the record cache and decode.
	for _, name := range []string{"none", "dbip-city", "dbip-city-spread"} {
		b.Run(name, func(b *testing.B) {
			var places Locator
			if name != "none" {
				r, err := geo.New(geo.Config{Files: geotest.DBIPCity(b)})
				if err != nil {
					b.Fatal(err)
				}
				places = r
			}
			e := testEnricher(b, places)
			b.ReportAllocs()
			i := 0
			rng := rand.New(rand.NewPCG(1, 2))
			for b.Loop() {
				ip := ips[i%len(ips)]
				if name == "dbip-city-spread" {
					ip = netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.IntN(256)), byte(rng.IntN(256)), 9})
				}
				e.Enrich(beacon, s, Request{IP: ip, UserAgent: firefox})
				i++
			}
		})
	}
}
