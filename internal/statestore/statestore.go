// Package statestore opens the state store a command names: the data
// folder's SQLite file, or a shared PostgreSQL database, behind the one
// interface the commands and the server use.
package statestore

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"waymark.dev/waymark/internal/admin"
	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/cli"
	"waymark.dev/waymark/internal/consent"
	"waymark.dev/waymark/internal/identity"
	"waymark.dev/waymark/internal/postgres"
	"waymark.dev/waymark/internal/proxytoken"
	"waymark.dev/waymark/internal/risk"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/sqlite"
)

// File is the embedded state store's file in the data folder.
const File = "state.db"

// RiskJournalFile is the login decisions' write journal in the data
// folder (the embedded store's, see sqlite.EnableRiskJournal).
const RiskJournalFile = "state.db-riskjournal"

// Store is what the commands need of a state store: the embedded SQLite
// file or a shared PostgreSQL database.
type Store interface {
	site.Store
	analytics.SaltStore
	admin.Store
	identity.KeyStore
	identity.RememberStore
	consent.Store
	proxytoken.TokenStore
	risk.Store
	ImportRisk(ctx context.Context, devices []*risk.Device, events []risk.Event) error
	Close() error
}

var (
	_ Store = (*sqlite.DB)(nil)
	_ Store = (*postgres.DB)(nil)
)

// RiskJournaled is the embedded store's fast path for login decisions
// (a write journal and in-memory velocity counts); the shared store
// writes and counts in PostgreSQL, where every node sees them.
type RiskJournaled interface {
	EnableRiskJournal(ctx context.Context, path string, log *slog.Logger) error
	LoadRecentLogins(ctx context.Context) error
}

// Flag adds --state (also WAYMARK_STATE) to a command.
func Flag(fs *flag.FlagSet) *string {
	return fs.String("state", "", "state store: empty for state.db in the data folder, or postgres://user:password@host:5432/database")
}

// Open opens the data folder's SQLite file (making the folder), or the
// PostgreSQL database that url names.
func Open(ctx context.Context, data, url string) (Store, error) {
	if url != "" {
		if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
			return nil, cli.Usagef("--state must be a postgres:// URL, or empty for the embedded store")
		}
		return postgres.Open(ctx, url)
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, fmt.Errorf("data folder %s: %w", data, err)
	}
	return sqlite.Open(ctx, filepath.Join(data, File))
}
