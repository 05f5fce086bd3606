// Package apptest holds shared test helpers: a complete collection stack
// on temporary real stores, and a headless Chromium launcher.
package apptest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"waymark.dev/waymark/internal/collect"
	"waymark.dev/waymark/internal/duckdb"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/spool"
	"waymark.dev/waymark/internal/sqlite"
)

// Stack is the collection pipeline on real SQLite and DuckDB files in a
// temporary folder, with the ingester running.
type Stack struct {
	State     *sqlite.DB
	Events    *duckdb.Store
	Sites     *site.Registry
	Spool     *spool.Spool
	Collector *collect.Collector
	Ingester  *collect.Ingester
}

// Options adjust a Stack.
type Options struct {
	SpoolMaxBytes int64
	Now           func() time.Time
}

// NewStack builds a Stack and stops it when the test ends.
func NewStack(t testing.TB, o Options) *Stack {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if o.SpoolMaxBytes == 0 {
		o.SpoolMaxBytes = 1 << 26
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	state, err := sqlite.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	events, err := duckdb.Open(ctx, filepath.Join(dir, "events.duckdb"), duckdb.Options{MemoryLimit: "256MB"})
	if err != nil {
		t.Fatal(err)
	}
	sites, err := site.NewRegistry(ctx, state, log)
	if err != nil {
		t.Fatal(err)
	}
	visitors, err := collect.NewVisitors(ctx, state, o.Now, log)
	if err != nil {
		t.Fatal(err)
	}
	bots, err := collect.NewBotMatcher()
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spool.Open(filepath.Join(dir, "spool"), 1<<20, o.SpoolMaxBytes, log)
	if err != nil {
		t.Fatal(err)
	}
	s := &Stack{State: state, Events: events, Sites: sites, Spool: sp,
		Collector: &collect.Collector{Sites: sites, Spool: sp,
			Enricher: &collect.Enricher{Agents: collect.NewAgentParser(bots, 1000), Bots: bots, Visitors: visitors, Now: o.Now}},
		Ingester: &collect.Ingester{Spool: sp, Store: events, Log: log, BatchSize: 1000, FlushInterval: 10 * time.Millisecond},
	}
	ictx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Ingester.Run(ictx, 5*time.Second); close(done) }()
	t.Cleanup(func() {
		sp.Close()
		cancel()
		<-done
		events.Close()
		state.Close()
	})
	return s
}

// AddSite registers a site and refreshes the registry.
func (s *Stack) AddSite(t testing.TB, st *site.Site) {
	t.Helper()
	if err := s.State.AddSite(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	if err := s.Sites.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// AddToken creates an API token and returns its secret.
func (s *Stack) AddToken(t testing.TB, siteDomain string) string {
	t.Helper()
	secret, hash := site.NewTokenSecret()
	if _, err := s.State.AddToken(context.Background(), &site.Token{Name: "test", Site: siteDomain, Hash: hash}); err != nil {
		t.Fatal(err)
	}
	return secret
}

// WaitStored waits until at least n events are stored.
func (s *Stack) WaitStored(t testing.TB, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Ingester.Stats.Events.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d events stored after 10 s", s.Ingester.Stats.Events.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
