package duckdb

import (
	"context"
	"path/filepath"
	"testing"

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
