package duckdb

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

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
