// Package postgres is the shared state store for deployments with many
// nodes: sites and tokens, salts, admin sessions, identity keys and
// remembered details, consent receipts, proxy tokens, devices and login
// events in one PostgreSQL database (pgx), with embedded numbered
// migrations. It passes the same conformance suite (statetest) as the
// embedded SQLite store.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"waymark.dev/waymark/internal/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is an open state store.
type DB struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// Open connects to the database named by a postgres:// URL (any libpq
// connection string works) and applies the migrations.
func Open(ctx context.Context, url string) (*DB, error) {
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		return nil, errors.New("postgres: the state store URL must start with postgres://")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, failed("postgres: bad URL: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// Short, so that identity and risk requests fail closed quickly
		// (503) while the database is away.
		cfg.ConnConfig.ConnectTimeout = 3 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, failed("postgres: %w", err)
	}
	db := &DB{pool: pool, now: time.Now}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the connections.
func (s *DB) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (s *DB) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// migrationLock is the advisory lock that serialises migrations when
// several nodes start at once.
const migrationLock = 7_001_225_613

func (s *DB) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return failed("postgres: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return failed("postgres: migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return failed("postgres: migrations table: %w", err)
	}
	files, err := migrate.List(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	for _, f := range files {
		v, base := f.Version, f.Name
		var done bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, v).Scan(&done); err != nil {
			return failed("postgres: migration %s: %w", base, err)
		}
		if done {
			continue
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, f.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, v)
			return err
		})
		if err != nil {
			return failed("postgres: migration %s: %w", base, err)
		}
	}
	return nil
}

// isUnique reports a unique-constraint violation.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// UnavailableError is an error of a database that could not be reached
// or went away (a refused or broken connection, a shutdown, a timeout),
// as opposed to one that answered with an error. Callers fail closed with
// "unavailable" (the web layer answers 503).
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// Unavailable marks the error for callers that test for the behaviour.
func (e *UnavailableError) Unavailable() bool { return true }

// failed formats an error like fmt.Errorf and marks it unavailable when
// the database was not reachable.
func failed(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &pe):
		// Class 08: connection exception; 57P: the server is shutting
		// down or starting.
		if strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P") {
			return &UnavailableError{err}
		}
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.Timeout(err), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &UnavailableError{err}
	}
	return err
}
