package app

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"path/filepath"
	"strings"

	"waymark.dev/waymark/internal/admin"
	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/consent"
	"waymark.dev/waymark/internal/identity"
	"waymark.dev/waymark/internal/postgres"
	"waymark.dev/waymark/internal/proxytoken"
	"waymark.dev/waymark/internal/risk"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/sqlite"
)

// stateStore is what the commands need of a state store: the embedded
// SQLite file or a shared PostgreSQL database.
type stateStore interface {
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
	_ stateStore = (*sqlite.DB)(nil)
	_ stateStore = (*postgres.DB)(nil)
)

// riskJournaled is the embedded store's fast path for login decisions
// (a write journal and in-memory velocity counts); the shared store
// writes and counts in PostgreSQL, where every node sees them.
type riskJournaled interface {
	EnableRiskJournal(ctx context.Context, path string, log *slog.Logger) error
	LoadRecentLogins(ctx context.Context) error
}

// stateFlag adds --state (also WAYMARK_STATE) to a command.
func stateFlag(fs *flag.FlagSet) *string {
	return fs.String("state", "", "state store: empty for state.db in the data folder, or postgres://user:password@host:5432/database")
}

// openState opens the data folder's SQLite file, or the PostgreSQL
// database that url names.
func openState(ctx context.Context, data, url string) (stateStore, error) {
	if url != "" {
		if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
			return nil, usagef("--state must be a postgres:// URL, or empty for the embedded store")
		}
		return postgres.Open(ctx, url)
	}
	if err := ensureDir(data); err != nil {
		return nil, err
	}
	return sqlite.Open(ctx, filepath.Join(data, stateFile))
}

// errProxyTokenNotFound reports whether err is a store's unknown proxy
// token.
func errProxyTokenNotFound(err error) bool {
	return errors.Is(err, proxytoken.ErrNotFound)
}
