package duckdb

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/analytics/analyticstest"
)

func TestConformance(t *testing.T) {
	analyticstest.Run(t, func(t *testing.T) analyticstest.Store {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "events.duckdb"), Options{MemoryLimit: "256MB"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// FuzzQuote checks that any string survives quoting as a literal: the
// stats planner builds SQL with Quote, so this is the injection guard.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "it's", `\'; DROP TABLE events; --`, "tab\tnew\nline", "ünï"} {
		f.Add(s)
	}
	s, err := Open(context.Background(), "", Options{MemoryLimit: "128MB"})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Fuzz(func(t *testing.T, in string) {
		if !utf8.ValidString(in) {
			return
		}
		var got string
		if err := s.DB().QueryRow("SELECT " + (Dialect{}).Quote(in)).Scan(&got); err != nil {
			t.Fatalf("quoted %q: %v", in, err)
		}
		if want := strings.ReplaceAll(in, "\x00", ""); got != want {
			t.Fatalf("quoted %q read back as %q", in, got)
		}
	})
}

// BenchmarkWriteBatch measures the ingester's store write per event, in
// batches of 5,000 synthetic events with their session rows.
func BenchmarkWriteBatch(b *testing.B) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "events.duckdb"), Options{MemoryLimit: "512MB"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	z := analytics.NewSessionizer(nil)
	var evs []analytics.Event
	var off int64
	analytics.NewSynth("bench.example", 1).Visits(time.Now().Add(-time.Hour), time.Hour, 5000, func(h *analytics.Hit) {
		off++
		evs = append(evs, z.Add(h, analytics.Pos{Seg: 1, Off: off}))
	})
	batch := &analytics.Batch{Events: evs, Sessions: z.Flush(), Checkpoint: analytics.Pos{Seg: 1, Off: off}}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.WriteBatch(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}
