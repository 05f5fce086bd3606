package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/cli"
	"waymark.dev/waymark/internal/duckdb"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/statestore"
	"waymark.dev/waymark/internal/synth"
)

// DemoDomain is the demo shop's site.
const DemoDomain = synth.DemoSite

// demoPaths are the demo shop's pages, most visited first.
var demoPaths = []string{"/demo/", "/demo/products", "/demo/products/lamp", "/demo/products/chair", "/demo/signup",
	"/demo/products/shelf", "/demo/about"}

// demoSite is the demo shop's site with its goals.
func demoSite() *site.Site {
	return &site.Site{Domain: DemoDomain, TimeZone: "UTC", Goals: []site.Goal{{Event: "Signup"}, {Page: "/demo/signup"}, {Event: "Purchase", Currency: "EUR"}}}
}

// demoTraffic writes days of synthetic visits to the demo shop, ending
// shortly before now, so a first look at the dashboard is not empty.
func demoTraffic(ctx context.Context, store analytics.EventWriter, now time.Time, days, events int, seed uint64) (int, error) {
	gen := synth.New(DemoDomain, seed)
	gen.Paths, gen.Entry, gen.Purchases = demoPaths, "/demo/", "EUR"
	end := now.Add(-10 * time.Minute) // the realtime panel shows only real visitors
	span := time.Duration(days) * 24 * time.Hour
	return gen.Fill(ctx, store, end.Add(-span), span, events)
}

// demoCmd runs `waymark demo traffic`.
func demoCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "traffic" {
		return cli.Usagef("usage: waymark demo traffic [--data DIR] [--days N] [--events N]")
	}
	fs := cli.NewFlagSet("demo traffic", stderr)
	data := fs.String("data", "waymark-data", "data folder of the (stopped) server")
	days := fs.Int("days", 7, "days of traffic, ending now")
	events := fs.Int("events", 20000, "events to write")
	if err := cli.Parse(fs, args[1:], getenv); err != nil {
		return err
	}
	if *days < 1 || *days > 400 || *events < 1 || *events > 50_000_000 {
		return cli.Usagef("--days must be 1 to 400 and --events 1 to 50000000")
	}
	state, err := statestore.Open(ctx, *data, "")
	if err != nil {
		return err
	}
	defer state.Close()
	if err := state.AddSite(ctx, demoSite()); err != nil && !errors.Is(err, site.ErrExists) {
		return err
	}
	store, err := duckdb.Open(ctx, filepath.Join(*data, "events.duckdb"), duckdb.Options{MemoryLimit: "1GB"})
	if err != nil {
		return fmt.Errorf("%w (stop the server using %s first: its event store allows one process)", err, *data)
	}
	defer store.Close()
	t0 := time.Now()
	n, err := demoTraffic(ctx, store, time.Now(), *days, *events, uint64(time.Now().UnixNano()))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d events of %d days to %s in %s\n", n, *days, DemoDomain, time.Since(t0).Round(time.Millisecond))
	return nil
}
