package statestore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"waymark.dev/waymark/internal/cli"
)

func TestOpen(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "new", "folder")
	db, err := Open(context.Background(), dir, "")
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := os.Stat(filepath.Join(dir, File)); err != nil {
		t.Errorf("no %s in the new data folder: %v", File, err)
	}
	var ue *cli.UsageError
	if _, err := Open(context.Background(), dir, "mysql://x"); !errors.As(err, &ue) {
		t.Errorf("a URL that is not postgres://: %v, want a UsageError", err)
	}
}
