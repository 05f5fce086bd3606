package duckdb

import (
	"context"
	"path/filepath"
	"testing"

	"waymark.dev/waymark/internal/analytics/analyticstest"
)

// TestRollups runs the shared rollup suite on the embedded store.
func TestRollups(t *testing.T) {
	analyticstest.RunRollups(t, func(t *testing.T) (analyticstest.RollupStore, analyticstest.RollupHooks) {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "events.duckdb"), Options{MemoryLimit: "256MB"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, analyticstest.RollupHooks{
			Unbuild: func(t *testing.T, site, day string) {
				if _, err := s.DB().Exec(`DELETE FROM rollup_days WHERE site = ? AND day = CAST(? AS DATE)`, site, day); err != nil {
					t.Fatal(err)
				}
			},
			DropRaw: func(t *testing.T) {
				if _, err := s.DB().Exec(`DELETE FROM events; DELETE FROM sessions`); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}
