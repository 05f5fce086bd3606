// Package sqlite is the embedded state store: sites, API tokens and visitor
// salts in one SQLite file in WAL mode, with embedded numbered migrations.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"sync"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
	"waymark.dev/waymark/internal/migrate"
)

// driverName is the mattn driver with automatic WAL checkpoints turned
// off on every connection: a commit that crosses the checkpoint threshold
// would otherwise copy the WAL into the database (and sync it) while its
// request waits, which is what made the slowest 1% of login decisions
// take 10 ms and more. A background goroutine checkpoints instead.
const driverName = "sqlite3_waymark"

var registerOnce sync.Once

func register() {
	registerOnce.Do(func() {
		sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec(`PRAGMA wal_autocheckpoint=0`, nil)
			return err
		}})
	})
}

// checkpointEvery is how often the background checkpointer copies the WAL
// into the database file.
const checkpointEvery = 200 * time.Millisecond

//go:embed migrations/*.sql
var migrations embed.FS

// DB is an open state store.
type DB struct {
	db       *sql.DB
	now      func() time.Time
	receipts receiptWriter
	stop     chan struct{}
	stopped  chan struct{}

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt
	// writeMu queues this process's login-risk writers in Go: SQLite's
	// own wait for its write lock sleeps in steps of milliseconds, which
	// is what made the slowest decisions slow.
	writeMu sync.Mutex
	recent  recentLogins
	journal *riskJournal

	closeOnce sync.Once
}

// stmt returns a prepared statement for a query on a hot path (login
// decisions), prepared once: preparing the risk queries cost as much as
// running them.
func (s *DB) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("sqlite: prepare: %w", err)
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[query] = st
	return st, nil
}

// Open opens (creating if needed) the SQLite file at path and applies
// pending migrations. Several processes may open the same file: the CLI
// adds sites and tokens while the server runs.
func Open(ctx context.Context, path string) (*DB, error) {
	dsn := "file:" + path + "?_journal_mode=WAL&_busy_timeout=10000&_synchronous=NORMAL&_foreign_keys=on&_txlock=immediate"
	register()
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// A new connection parses the schema and re-prepares every cached
	// statement; database/sql's default of two idle connections made
	// concurrent logins open and close connections all the time.
	db.SetMaxIdleConns(maxIdleConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s := &DB{db: db, now: time.Now, stop: make(chan struct{}), stopped: make(chan struct{})}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	go s.checkpointer()
	return s, nil
}

// checkpointer copies the WAL into the database file in the background
// (PASSIVE: it never waits for, nor blocks, readers and writers), so that
// no request pays for a checkpoint. A passive checkpoint may fall behind
// a stream of large write transactions; when the WAL has grown past
// walLimitFrames it runs a TRUNCATE checkpoint, which waits its turn
// among the writers and resets the file, so the WAL stays bounded.
func (s *DB) checkpointer() {
	defer close(s.stopped)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.checkpoint()
		}
	}
}

// walLimitFrames is the WAL size (in pages) above which the checkpointer
// truncates it: 16384 pages of 4 KiB, 64 MiB.
const walLimitFrames = 16384

// walRestartFrames is the WAL size (in pages) from which the checkpointer
// makes room for SQLite to start the WAL over (8 MiB).
const walRestartFrames = 2048

// maxIdleConns is how many connections stay open between requests.
const maxIdleConns = 32

func (s *DB) checkpoint() {
	// Errors (a busy database) only mean the next tick tries again.
	var busy, frames, done int
	if err := s.db.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done); err != nil {
		return
	}
	switch {
	case frames >= walRestartFrames && done == frames:
		// SQLite starts the WAL over only when a write begins with every
		// frame already copied, which a steady stream of writes never
		// allows. Holding this process's writers back for one more
		// passive checkpoint (it copies what came in during the last one)
		// gives the next write that moment. Costs a few ms to some tens
		// of ms (the file system's sync) about once per 2048 frames.
		s.writeMu.Lock()
		s.db.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done)
		s.writeMu.Unlock()
	case frames > walLimitFrames:
		s.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	}
}

// Close closes the database; later calls do nothing.
func (s *DB) Close() error {
	first := false
	s.closeOnce.Do(func() { first = true })
	if !first {
		return nil
	}
	if s.journal != nil {
		s.journal.close()
	}
	close(s.stop)
	<-s.stopped
	s.stmtMu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmtMu.Unlock()
	if s.receipts.conn != nil {
		s.receipts.conn.Close()
	}
	return s.db.Close()
}

func (s *DB) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: migrations table: %w", err)
	}
	files, err := migrate.List(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	for _, f := range files {
		if err := s.apply(ctx, f.Version, f.SQL); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", f.Name, err)
		}
	}
	return nil
}

func (s *DB) apply(ctx context.Context, version int, body string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, s.now().Unix()); err != nil {
		return err
	}
	return tx.Commit()
}
