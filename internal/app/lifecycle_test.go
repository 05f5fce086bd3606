package app

import (
	"context"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"waymark.dev/waymark/internal/config"
)

// TestLifecycleOrder: Close ends the loops first, waits for all of them
// (even one slow to stop), and only then runs the closers, last first.
func TestLifecycleOrder(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var events []string
	log := func(s string) { mu.Lock(); events = append(events, s); mu.Unlock() }
	l := newLifecycle()
	l.OnClose(func() { log("close store") })
	l.OnClose(func() { log("close spool") })
	for _, name := range []string{"fast loop", "slow loop"} {
		l.Go(func(ctx context.Context) {
			<-ctx.Done()
			if name == "slow loop" {
				time.Sleep(50 * time.Millisecond)
			}
			log(name + " ended")
		})
	}
	l.Close()
	l.Close() // a second Close does nothing
	if len(events) != 4 || !slices.Contains(events[:2], "fast loop ended") || !slices.Contains(events[:2], "slow loop ended") ||
		events[2] != "close spool" || events[3] != "close store" {
		t.Errorf("order %v: want both loops ended, then the closers last first, once", events)
	}
}

// ownGoroutines returns the goroutines (by id) that are running a
// function of this module, with their stacks ("created by" lines do not
// count).
func ownGoroutines() map[string]string {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		head, _, _ := strings.Cut(g, "\n")
		id := strings.Fields(head + " x x")[1]
		for _, line := range strings.Split(g, "\n") {
			if strings.HasPrefix(line, "waymark.dev/waymark/internal/") && !strings.Contains(line, "_test.") {
				out[id] = g
				break
			}
		}
	}
	return out
}

// TestServeLeavesNoLoops runs the whole server (every part, the demo's
// synthetic traffic included), stops it, and finds none of its
// goroutines left: every background loop (ingester, rollups, site and
// key reloads, threat feeds and reloads, proxy tokens, receipts) belongs
// to the lifecycle, which waits for them before it closes the stores.
// Not parallel: it reads every goroutine of the process.
func TestServeLeavesNoLoops(t *testing.T) {
	before := ownGoroutines()
	// When the state store is about to close, only Serve itself and the
	// store's own workers (which its Close ends) may still run: no loop
	// may be using a store.
	var atClose []string
	stateClosing = func() {
		for id, g := range ownGoroutines() {
			own := strings.Contains(g, "\nwaymark.dev/waymark/internal/sqlite.") || strings.Contains(g, "\nwaymark.dev/waymark/internal/postgres.")
			if _, ok := before[id]; !ok && !own && !strings.Contains(g, "internal/app.Serve(") {
				atClose = append(atClose, g)
			}
		}
	}
	defer func() { stateClosing = nil }()
	c := config.Defaults()
	c.Addr, c.Data, c.Demo, c.FlushInterval, c.LogLevel = "127.0.0.1:0", t.TempDir(), true, 50*time.Millisecond, "warn"
	addr, stop := boot(t, c)
	if resp, err := http.Get("http://" + addr + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v", err)
	}
	if len(ownGoroutines()) <= len(before) {
		t.Fatal("the running server shows no goroutines of its own; the stack walk is broken")
	}
	stop()
	if len(atClose) > 0 {
		t.Errorf("%d goroutines of the server ran when the state store closed:\n%s", len(atClose), strings.Join(atClose, "\n\n"))
	}
	var left []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		left = left[:0]
		for id, g := range ownGoroutines() {
			if _, ok := before[id]; !ok {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) > 0 {
		t.Errorf("%d goroutines of the server outlived Serve:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}
