package app

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// buildBinary compiles cmd/waymark once for the tests that run it as a
// separate process.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "waymark")
	cmd := exec.Command("go", "build", "-o", bin, "waymark.dev/waymark/cmd/waymark")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

// startProcess runs `waymark serve` (with extra flags) and returns its
// address once it prints it.
func startProcess(t *testing.T, bin, data string, extra ...string) (*exec.Cmd, string) {
	t.Helper()
	args := append([]string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--proxy-addr", "127.0.0.1:0", "--log-level", "warn", "--flush-interval", "20ms"}, extra...)
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "Waymark is running: http://"); ok {
				addr <- strings.TrimSuffix(a, "/")
			}
		}
	}()
	select {
	case a := <-addr:
		return cmd, a
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("server did not start")
	}
	return nil, ""
}

// TestKillDuringLoad kills the server with SIGKILL while hits pour in,
// restarts it, and checks that every acknowledged hit is stored exactly
// once.
func TestKillDuringLoad(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	if out, err := exec.Command(bin, "site", "add", "--data", data, "--domain", "load.example").CombinedOutput(); err != nil {
		t.Fatalf("site add: %v %s", err, out)
	}
	cmd, addr := startProcess(t, bin, data)

	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		sent  atomic.Int64
	)
	ctx, cancel := context.WithCancel(context.Background())
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				path := fmt.Sprintf("/k/%d-%d", g, i)
				body := fmt.Sprintf(`{"n":"pageview","u":"https://load.example%s","d":"load.example"}`, path)
				req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/api/event", strings.NewReader(body))
				req.Header.Set("User-Agent", fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0 load/%d", g))
				sent.Add(1)
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					mu.Lock()
					acked[path] = true
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	time.Sleep(200 * time.Millisecond) // requests in flight fail
	cancel()
	wg.Wait()
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n < 100 {
		t.Fatalf("only %d hits acknowledged before the kill; the test needs load", n)
	}
	t.Logf("%d hits sent, %d acknowledged before SIGKILL", sent.Load(), n)

	// Restart: the spool replays; then stop cleanly so DuckDB is free.
	cmd, _ = startProcess(t, bin, data)
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("graceful stop after restart: %v", err)
	}

	db, err := sql.Open("duckdb", filepath.Join(data, "events.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT pathname, count(*) FROM events GROUP BY pathname`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	stored := map[string]int{}
	for rows.Next() {
		var p string
		var c int
		rows.Scan(&p, &c)
		stored[p] = c
	}
	for p, c := range stored {
		if c != 1 {
			t.Errorf("%s stored %d times", p, c)
		}
	}
	missing := 0
	for p := range acked {
		if stored[p] == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged hits are missing after the crash", missing, n)
	}
	t.Logf("%d events stored (acknowledged %d; the rest were in flight at the kill)", len(stored), n)
	var visits int
	db.QueryRow(`SELECT sum(sign) FROM sessions`).Scan(&visits)
	if visits != 16 {
		t.Errorf("%d visits, want 16 (one per load goroutine)", visits)
	}
}
