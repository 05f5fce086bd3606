package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"

	"waymark.dev/waymark/internal/cli"
	"waymark.dev/waymark/internal/config"
	"waymark.dev/waymark/internal/geo"
	"waymark.dev/waymark/internal/risk"
)

// openGeo opens the geolocation and ASN databases serve was given, and
// those in DATA/geo. Without any, lookups answer nothing and everything
// else works as before; files dropped into DATA/geo later are picked up
// by the Watch loop.
func openGeo(c config.Serve, log *slog.Logger) (*geo.Resolver, error) {
	p, err := geo.ParsePrecision(c.GeoPrecision)
	if err != nil {
		return nil, cli.Usagef("%v", err)
	}
	r, err := geo.New(geo.Config{Files: c.GeoIP, ASNFiles: c.ASNDB, Dir: filepath.Join(c.Data, "geo"), Precision: p, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("geolocation: %w", err)
	}
	return r, nil
}

// riskPlaces lets account security ask the geolocation databases.
type riskPlaces struct{ r *geo.Resolver }

func (p riskPlaces) Locate(ip netip.Addr) risk.Where {
	l := p.r.Lookup(ip)
	return risk.Where{Country: l.Country, City: l.CityName, Latitude: l.Latitude, Longitude: l.Longitude, HasCoords: l.HasCoords,
		ASN: l.ASN, ASOrg: l.ASOrg}
}

func (p riskPlaces) HasASN() bool { return p.r.HasASN() }

// geoCmd: waymark geo lookup IP... prints what the databases say.
func geoCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "lookup" {
		return cli.Usagef("usage: waymark geo lookup [--data DIR] [--geoip FILE,...] [--asn-db FILE,...] [--json] IP...")
	}
	c := config.Defaults()
	fs := cli.NewFlagSet("geo lookup", stderr)
	fs.StringVar(&c.Data, "data", c.Data, "data folder whose geo/ folder holds databases")
	fs.Func("geoip", "geolocation databases, comma-separated", func(s string) error {
		c.GeoIP = append(c.GeoIP, strings.Split(s, ",")...)
		return nil
	})
	fs.Func("asn-db", "ASN databases, comma-separated", func(s string) error {
		c.ASNDB = append(c.ASNDB, strings.Split(s, ",")...)
		return nil
	})
	asJSON := fs.Bool("json", false, "print JSON, one object per address")
	if err := cli.ApplyEnv(fs, getenv); err != nil {
		return cli.Usagef("%v", err)
	}
	// Addresses and flags in any order.
	var addrs []string
	for rest := args[1:]; len(rest) > 0; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return cli.Usagef("%v", err)
		}
		rest = fs.Args()
		if len(rest) > 0 {
			addrs, rest = append(addrs, rest[0]), rest[1:]
		}
	}
	if len(addrs) == 0 {
		return cli.Usagef("geo lookup: name at least one IP address")
	}
	var ips []netip.Addr
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return cli.Usagef("geo lookup: %q is not an IP address", a)
		}
		ips = append(ips, ip)
	}
	r, err := openGeo(c, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	dbs := r.Databases()
	if len(dbs) == 0 {
		return cli.Usagef("geo lookup: no databases: give --geoip FILE or put .mmdb files in %s (docs/DEPLOYMENT.md says where to get them)", filepath.Join(c.Data, "geo"))
	}
	if !*asJSON {
		for _, d := range dbs {
			fmt.Fprintf(stdout, "database  %s  (%s, %s layout, built %s)\n", d.Path, d.Type, d.Layout, d.Built.Format("2006-01-02"))
		}
	}
	enc := json.NewEncoder(stdout)
	for _, ip := range ips {
		l := r.Lookup(ip)
		if *asJSON {
			enc.Encode(map[string]any{"ip": ip.String(), "country": l.Country, "country_name": l.CountryName, "region": l.Region,
				"region_name": l.RegionName, "city": l.City, "city_name": l.CityName, "latitude": l.Latitude, "longitude": l.Longitude,
				"asn": l.ASN, "as_org": l.ASOrg})
			continue
		}
		if l == (geo.Location{}) {
			fmt.Fprintf(stdout, "%-16s not in any database\n", ip)
			continue
		}
		var parts []string
		if l.Country != "" {
			parts = append(parts, fmt.Sprintf("%s (%s)", l.CountryName, l.Country))
		}
		if l.RegionName != "" || l.Region != "" {
			parts = append(parts, fmt.Sprintf("%s (%s)", l.RegionName, orDash(l.Region)))
		}
		if l.CityName != "" {
			parts = append(parts, fmt.Sprintf("%s (city %d)", l.CityName, l.City))
		}
		if l.HasCoords {
			parts = append(parts, fmt.Sprintf("%.4f,%.4f", l.Latitude, l.Longitude))
		}
		if l.ASN != 0 {
			parts = append(parts, fmt.Sprintf("AS%d %s", l.ASN, l.ASOrg))
		}
		fmt.Fprintf(stdout, "%-16s %s\n", ip, strings.Join(parts, "  "))
	}
	if a := r.Attribution(); len(a) > 0 && !*asJSON {
		fmt.Fprintf(stdout, "attribution required: %s\n", strings.Join(a, "; "))
	}
	return nil
}

// printGeo says which geolocation databases serve uses, or how to add one.
func printGeo(w io.Writer, r *geo.Resolver, data string) {
	dbs := r.Databases()
	if len(dbs) == 0 {
		fmt.Fprintf(w, "Geolocation:        none (--geoip FILE, or .mmdb files in %s; see docs/DEPLOYMENT.md)\n", filepath.Join(data, "geo"))
		return
	}
	var names []string
	for _, d := range dbs {
		names = append(names, filepath.Base(d.Path))
	}
	fmt.Fprintf(w, "Geolocation:        %s (analytics keeps the %s)\n", strings.Join(names, ", "), r.Precision())
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
