package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// startProcess runs `waymark serve` on a data folder (with extra flags)
// and returns its address once it prints it.
func startProcess(t *testing.T, bin, data string, extra ...string) (*exec.Cmd, string) {
	t.Helper()
	n := startNode(t, bin, []string{"Waymark is running: http://"},
		append([]string{"--data", data, "--addr", "127.0.0.1:0", "--proxy-addr", "127.0.0.1:0", "--flush-interval", "20ms"}, extra...)...)
	return n.cmd, strings.TrimSuffix(n.lines["Waymark is running: http://"], "/")
}

// crashIterations is how many times TestCrashLoop kills the server
// (WAYMARK_CRASH_ITERATIONS raises it for longer hunts).
func crashIterations() int {
	if n, err := strconv.Atoi(os.Getenv("WAYMARK_CRASH_ITERATIONS")); err == nil && n > 0 {
		return n
	}
	return 20
}

// TestCrashLoop kills the server with SIGKILL at a random moment of steady
// load (beacons and consent decisions), again and again. After each kill
// it restarts the server, stops it cleanly, opens the DuckDB and SQLite
// files itself and checks that every acknowledged hit is stored exactly
// once and every acknowledged receipt is stored.
func TestCrashLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the server 20 times; skipped with -short")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	if out, err := exec.Command(bin, "site", "add", "--data", data, "--domain", "load.example").CombinedOutput(); err != nil {
		t.Fatalf("site add: %v %s", err, out)
	}
	var (
		mu       sync.Mutex
		acked    = map[string]bool{} // page paths of acknowledged hits
		receipts = map[string]bool{} // acknowledged receipt ids
		sent     atomic.Int64
	)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	iterations := crashIterations()
	for it := range iterations {
		cmd, addr := startProcess(t, bin, data)
		ctx, cancel := context.WithCancel(context.Background())
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
		var wg sync.WaitGroup
		for g := range 12 {
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					path := fmt.Sprintf("/k/%d-%d-%d", it, g, i)
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
		for range 4 {
			wg.Go(func() {
				for ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/api/v1/consent",
						strings.NewReader(`{"purposes":{"analytics":true},"source":"banner","site":"load.example"}`))
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil {
						continue
					}
					var a struct {
						ReceiptID string `json:"receipt_id"`
					}
					json.NewDecoder(resp.Body).Decode(&a)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK && a.ReceiptID != "" {
						mu.Lock()
						receipts[a.ReceiptID] = true
						mu.Unlock()
					}
				}
			})
		}
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		time.Sleep(100 * time.Millisecond) // requests in flight fail
		cancel()
		wg.Wait()

		// Restart: the spool replays and the risk journal and receipts
		// are as they were; then stop cleanly so the files are free.
		cmd, _ = startProcess(t, bin, data)
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("iteration %d: graceful stop after the restart: %v", it, err)
		}
		mu.Lock()
		checkStored(t, it, data, acked, receipts)
		mu.Unlock()
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 20*iterations || len(receipts) < iterations {
		t.Fatalf("only %d hits and %d receipts acknowledged over %d kills; the test needs load", len(acked), len(receipts), iterations)
	}
	t.Logf("%d kills: %d hits sent, %d acknowledged and stored exactly once; %d receipts acknowledged and stored", iterations, sent.Load(), len(acked), len(receipts))
}

// checkStored opens the stopped server's files and compares them with
// what was acknowledged.
func checkStored(t *testing.T, it int, data string, acked, receipts map[string]bool) {
	t.Helper()
	db, err := sql.Open("duckdb", filepath.Join(data, "events.duckdb"))
	if err != nil {
		t.Fatalf("iteration %d: DuckDB file: %v", it, err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT pathname, count(*) FROM events GROUP BY pathname`)
	if err != nil {
		t.Fatalf("iteration %d: DuckDB file does not open cleanly: %v", it, err)
	}
	stored := map[string]int{}
	for rows.Next() {
		var p string
		var c int
		rows.Scan(&p, &c)
		stored[p] = c
	}
	rows.Close()
	for p, c := range stored {
		if c != 1 {
			t.Errorf("iteration %d: %s stored %d times", it, p, c)
		}
	}
	missing := 0
	for p := range acked {
		if stored[p] == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("iteration %d: %d of %d acknowledged hits are missing", it, missing, len(acked))
	}
	st, err := sql.Open("sqlite3", "file:"+filepath.Join(data, "state.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var check string
	if err := st.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("iteration %d: state.db integrity: %q %v", it, check, err)
	}
	have := map[string]bool{}
	rs, err := st.Query(`SELECT id FROM consent_receipts`)
	if err != nil {
		t.Fatalf("iteration %d: receipts: %v", it, err)
	}
	for rs.Next() {
		var id string
		rs.Scan(&id)
		have[id] = true
	}
	rs.Close()
	for id := range receipts {
		if !have[id] {
			t.Fatalf("iteration %d: acknowledged receipt %s is missing", it, id)
		}
	}
}
