package app

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"waymark.dev/waymark/internal/clickhouse/clickhousetest"
)

// TestClickHouseOutage runs a collector against private ClickHouse
// servers and stops one for 30 s under steady load: the collector keeps
// acknowledging hits into its spool (also after being restarted in the
// middle of the outage), drains it when the server is back, and the
// stored events equal the acknowledged hits exactly. It runs on one
// server, and on two shards with the second one stopped.
func TestClickHouseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("30-second outage; skipped with -short")
	}
	t.Run("one server", func(t *testing.T) {
		ch := clickhousetest.Start(t)
		clickHouseOutage(t, ch.URL("wm"), ch)
	})
	t.Run("two shards", func(t *testing.T) {
		servers := clickhousetest.StartCluster(t, 2)
		clickHouseOutage(t, clickhousetest.ClusterURL(servers, "wm"), servers[1])
	})
}

// clickHouseOutage is TestClickHouseOutage on the database at events,
// with ch as the server that stops.
func clickHouseOutage(t *testing.T, events string, ch *clickhousetest.Server) {
	bin := buildBinary(t)
	data := t.TempDir()
	if out, err := exec.Command(bin, "site", "add", "--data", data, "--domain", "outage.example").CombinedOutput(); err != nil {
		t.Fatalf("site add: %v %s", err, out)
	}
	flags := []string{"--events", events, "--parts", "web", "--shutdown-grace", "2s"}
	cmd, first := startProcess(t, bin, data, flags...)
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	var addr atomic.Value
	addr.Store(first)
	var restarting atomic.Bool

	var (
		mu       sync.Mutex
		acked    = map[string]bool{}
		refused  atomic.Int64
		duringUp atomic.Int64 // acknowledged while the server was down
		down     atomic.Bool
	)
	ctx, cancel := context.WithCancel(context.Background())
	client := &http.Client{Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			tick := time.NewTicker(4 * time.Millisecond) // ~250 hits/s per sender, ~2,000/s in all
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				path := fmt.Sprintf("/o/%d-%d", g, i)
				body := fmt.Sprintf(`{"n":"pageview","u":"https://outage.example%s","d":"outage.example"}`, path)
				req, _ := http.NewRequest("POST", "http://"+addr.Load().(string)+"/api/event", strings.NewReader(body))
				req.Header.Set("User-Agent", fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0 outage/%d", g))
				resp, err := client.Do(req)
				if err != nil {
					if !restarting.Load() {
						refused.Add(1)
					}
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					refused.Add(1)
					continue
				}
				mu.Lock()
				acked[path] = true
				mu.Unlock()
				if down.Load() {
					duringUp.Add(1)
				}
			}
		})
	}
	time.Sleep(3 * time.Second)
	down.Store(true)
	ch.Stop()
	t.Log("ClickHouse stopped")
	time.Sleep(10 * time.Second)
	// Restart the collector while the server is away: it must come up and
	// keep accepting.
	restarting.Store(true)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err == nil {
		t.Log("collector stopped")
	}
	var next string
	cmd, next = startProcess(t, bin, data, flags...)
	addr.Store(next)
	time.Sleep(200 * time.Millisecond)
	restarting.Store(false)
	t.Log("collector restarted during the outage")
	time.Sleep(20 * time.Second)
	if err := ch.Resume(); err != nil {
		t.Fatal(err)
	}
	down.Store(false)
	t.Log("ClickHouse started again")
	time.Sleep(2 * time.Second)
	cancel()
	wg.Wait()
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if duringUp.Load() < 1000 {
		t.Fatalf("only %d hits acknowledged during the outage; the collector must keep accepting", duringUp.Load())
	}
	if refused.Load() > 0 {
		t.Errorf("%d hits refused or failed; the spool has room for all of them", refused.Load())
	}

	// Wait for the spool to drain, then compare exactly.
	var stored int
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		out, err := clickhousetest.Exec(events, "SELECT count() FROM wm.events")
		if err == nil {
			stored, _ = strconv.Atoi(out)
			if stored >= n {
				break
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(time.Second) // a double would show up after the last batch
	out, err := clickhousetest.Exec(events, "SELECT count(), uniqExact(pathname) FROM wm.events")
	if err != nil {
		t.Fatal(err)
	}
	var total, distinct int
	fmt.Sscan(out, &total, &distinct)
	t.Logf("acknowledged %d hits (%d while ClickHouse was down); stored %d events, %d distinct", n, duringUp.Load(), total, distinct)
	if total != n || distinct != n {
		t.Fatalf("stored %d events (%d distinct pages), acknowledged %d: must be equal", total, distinct, n)
	}
	out, err = clickhousetest.Exec(events, "SELECT sum(sign) FROM wm.sessions")
	if err != nil || out != "8" {
		t.Errorf("visits = %q (%v), want 8 (one per sender)", out, err)
	}
}
