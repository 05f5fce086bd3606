package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/clickhouse"
	"waymark.dev/waymark/internal/config"
	"waymark.dev/waymark/internal/duckdb"
	"waymark.dev/waymark/internal/stats"
)

// eventStore is what serve needs of an event store.
type eventStore interface {
	analytics.EventWriter
	stats.StatsReader
	Close() error
}

// nodeIDFile names this data folder's collector in shared stores: its
// spool checkpoint and the marks on its rows in ClickHouse.
const nodeIDFile = "node-id"

// openEvents opens the embedded DuckDB file, or the ClickHouse server that
// --events names.
func openEvents(ctx context.Context, c config.Serve, log *slog.Logger) (eventStore, error) {
	if c.Events == "" {
		s, err := duckdb.Open(ctx, filepath.Join(c.Data, "events.duckdb"), duckdb.Options{MemoryLimit: c.DuckDBMemory})
		if err != nil {
			return nil, fmt.Errorf("%w (is another waymark serve using %s?)", err, c.Data)
		}
		return s, nil
	}
	node, err := nodeID(c.Data)
	if err != nil {
		return nil, err
	}
	return clickhouse.Open(ctx, c.Events, clickhouse.Options{Node: node, Log: log})
}

// nodeID reads the data folder's node id, creating it on first use. A new
// data folder (a wiped one too) is a new node, so spool positions never
// meet an old checkpoint.
func nodeID(dir string) (string, error) {
	path := filepath.Join(dir, nodeIDFile)
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if id == "" {
			return "", fmt.Errorf("%s is empty: delete it to get a new node id", path)
		}
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	var r [12]byte
	rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nodeID(dir)
	}
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(id + "\n"); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	return id, f.Close()
}
