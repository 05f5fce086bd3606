// Package clickhousetest gives tests a ClickHouse database: a fresh one on
// the shared server that scripts/test starts (WAYMARK_TEST_CLICKHOUSE), or
// a private server process that a test may stop and start (outage tests).
// Without a server the tests skip, except under WAYMARK_REQUIRE_SERVICES
// (CI), where they fail.
package clickhousetest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("WAYMARK_REQUIRE_SERVICES") != "" {
		t.Fatal(what)
	}
	t.Skip(what + " (scripts/test provides it)")
}

var seq atomic.Int64

// Database returns the URL of a new database on the shared server, dropped
// when the test ends.
func Database(t testing.TB) string {
	t.Helper()
	base := os.Getenv("WAYMARK_TEST_CLICKHOUSE")
	if base == "" {
		missing(t, "WAYMARK_TEST_CLICKHOUSE is not set: no ClickHouse server for this test")
	}
	return newDatabase(t, base)
}

// ShardedDatabase returns the URL of a new database on the two servers
// that scripts/test starts as one cluster (WAYMARK_TEST_CLICKHOUSE_SHARDS),
// dropped on both when the test ends.
func ShardedDatabase(t testing.TB) string {
	t.Helper()
	base := os.Getenv("WAYMARK_TEST_CLICKHOUSE_SHARDS")
	if base == "" {
		missing(t, "WAYMARK_TEST_CLICKHOUSE_SHARDS is not set: no sharded ClickHouse for this test")
	}
	db := newDatabase(t, base)
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range u.Query()["shard"] {
		t.Cleanup(func() { Exec("clickhouse://"+sh, "DROP DATABASE IF EXISTS "+strings.Trim(u.Path, "/")) })
	}
	return db
}

func newDatabase(t testing.TB, base string) string {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("WAYMARK_TEST_CLICKHOUSE: %v", err)
	}
	name := fmt.Sprintf("wmtest_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, seq.Add(1))
	u.Path = "/" + name
	t.Cleanup(func() { Exec(u.String(), "DROP DATABASE IF EXISTS "+name) })
	return u.String()
}

// Exec runs one statement against the server of a clickhouse:// URL
// (without selecting its database) and returns the answer.
func Exec(rawURL, stmt string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	q := url.Values{}
	if u.User != nil {
		q.Set("user", u.User.Username())
		if p, ok := u.User.Password(); ok {
			q.Set("password", p)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+u.Host+"/?"+q.Encode(), strings.NewReader(stmt))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	return strings.TrimSpace(string(b)), nil
}

// Server is a private clickhouse-server process with its own folder and
// port, for tests that stop and restart it.
type Server struct {
	dir  string
	port int
	cmd  *exec.Cmd
}

// Start runs a private server and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartCluster(t, 1)[0]
}

// StartCluster runs n private servers that form the cluster "waymark"
// (one shard each, in every server's remote_servers) and stops them when
// the test ends. ClusterURL gives the sharded layout's URL.
func StartCluster(t testing.TB, n int) []*Server {
	t.Helper()
	if _, err := exec.LookPath("clickhouse-server"); err != nil {
		missing(t, "clickhouse-server is not installed")
	}
	users, err := os.ReadFile("/etc/clickhouse-server/users.xml")
	if err != nil {
		t.Fatalf("clickhouse users.xml: %v", err)
	}
	servers := make([]*Server, n)
	tcps := make([]int, n)
	var remote strings.Builder
	remote.WriteString("<remote_servers><waymark>")
	for i := range servers {
		servers[i] = &Server{dir: t.TempDir(), port: freePort(t)}
		tcps[i] = freePort(t)
		fmt.Fprintf(&remote, "<shard><replica><host>127.0.0.1</host><port>%d</port></replica></shard>", tcps[i])
	}
	remote.WriteString("</waymark></remote_servers>")
	for i, s := range servers {
		for _, d := range []string{"data", "tmp", "user_files", "format_schemas"} {
			os.MkdirAll(filepath.Join(s.dir, d), 0o755)
		}
		os.WriteFile(filepath.Join(s.dir, "users.xml"), users, 0o644)
		conf := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>%[1]s/server.log</log><errorlog>%[1]s/error.log</errorlog><console>0</console></logger>
  <http_port>%[2]d</http_port>
  <tcp_port>%[3]d</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>%[1]s/data/</path>
  <tmp_path>%[1]s/tmp/</tmp_path>
  <user_files_path>%[1]s/user_files/</user_files_path>
  <format_schema_path>%[1]s/format_schemas/</format_schema_path>
  <users_config>%[1]s/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  %[4]s
</yandex>
`, s.dir, s.port, tcps[i], remote.String())
		if err := os.WriteFile(filepath.Join(s.dir, "config.xml"), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		if err := s.Resume(); err != nil {
			t.Fatal(err)
		}
	}
	return servers
}

// ClusterURL is the sharded layout's URL for database db on servers
// started together by StartCluster.
func ClusterURL(servers []*Server, db string) string {
	u := servers[0].URL(db) + "?cluster=waymark"
	for _, s := range servers[1:] {
		u += fmt.Sprintf("&shard=127.0.0.1:%d", s.port)
	}
	return u
}

// freePort returns a loopback port nothing listened on a moment ago.
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// URL is the server's address as a clickhouse:// URL for database db.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("clickhouse://127.0.0.1:%d/%s", s.port, db)
}

// Resume starts the server (again) on the same folder and port and waits
// until it answers.
func (s *Server) Resume() error {
	cmd := exec.Command("clickhouse-server", "--config-file="+filepath.Join(s.dir, "config.xml"))
	log, _ := os.Create(filepath.Join(s.dir, "stdout"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("clickhouse-server: %w", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if out, err := Exec(s.URL("default"), "SELECT 1"); err == nil && out == "1" {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(s.dir, "error.log"))
	return fmt.Errorf("clickhouse-server did not answer within 60 s: %s", b)
}

// Stop stops the server (SIGTERM, then SIGKILL after 20 s) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}
