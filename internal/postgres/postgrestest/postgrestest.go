// Package postgrestest gives tests a fresh PostgreSQL database on the
// server that scripts/test starts (WAYMARK_TEST_POSTGRES), or a private
// cluster that a test may stop and start (outage tests). Without a server
// the tests skip, except under WAYMARK_REQUIRE_SERVICES (CI), where they
// fail.
package postgrestest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var seq atomic.Int64

// Database creates a new database and returns its URL; it is dropped when
// the test ends.
func Database(t testing.TB) string {
	t.Helper()
	base := os.Getenv("WAYMARK_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("WAYMARK_REQUIRE_SERVICES") != "" {
			t.Fatal("WAYMARK_TEST_POSTGRES is not set: no PostgreSQL server for this test")
		}
		t.Skip("no PostgreSQL server: run scripts/test, or set WAYMARK_TEST_POSTGRES=postgres://postgres@127.0.0.1:PORT/postgres")
	}
	name := fmt.Sprintf("wmtest_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, seq.Add(1))
	if err := execSQL(base, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() { execSQL(base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func execSQL(base, stmt string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, stmt)
	return err
}

// Server is a private PostgreSQL cluster that a test may stop and start
// (outage tests).
type Server struct {
	dir, bin string
	port     int
	asUser   []string // runuser prefix when running as root
}

// Start creates and starts a private cluster on a free loopback port,
// stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		if os.Getenv("WAYMARK_REQUIRE_SERVICES") != "" {
			t.Fatal("PostgreSQL server binaries are not installed")
		}
		t.Skip("PostgreSQL server binaries are not installed (scripts/test installs them)")
	}
	sort.Strings(bins)
	s := &Server{bin: filepath.Dir(bins[len(bins)-1])}
	dir, err := os.MkdirTemp("", "waymark-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s.dir = dir
	if os.Getuid() == 0 {
		// The server refuses to run as root.
		if err := exec.Command("chown", "postgres", dir).Run(); err != nil {
			t.Fatalf("chown postgres %s: %v", dir, err)
		}
		os.Chmod(dir, 0o755)
		s.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	if out, err := s.command("initdb", "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "postgres").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	t.Cleanup(s.Stop)
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	full := append(append([]string{}, s.asUser...), append([]string{filepath.Join(s.bin, name)}, args...)...)
	return exec.Command(full[0], full[1:]...)
}

// URL is the cluster's postgres database.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Resume starts the cluster (again) and waits until it accepts connections.
func (s *Server) Resume() error {
	out, err := s.command("pg_ctl", "-D", filepath.Join(s.dir, "data"), "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", s.port, s.dir),
		"-l", filepath.Join(s.dir, "log"), "-w", "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s", err, out)
	}
	return nil
}

// Stop stops the cluster (fast shutdown) and waits for it.
func (s *Server) Stop() {
	s.command("pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "fast", "-w", "stop").Run()
}
