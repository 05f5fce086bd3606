package app

import (
	"bufio"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// procKB reads a field (VmRSS, VmHWM) of /proc/PID/status, in KiB.
func procKB(t *testing.T, pid int, field string) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestLoginFlood is the probe's third and fourth findings, run against
// the real binary. A burst of 24 concurrent wrong passwords from one
// address was hashed 24 times (64 MiB each: RSS 450 MB to 1.7 GB) before
// the throttle counted any; now at most the free attempts are hashed, one
// at a time, and the rest get 429. Failures spread over many addresses
// tripped a global lock that then refused the owner's correct password
// from anywhere; now they slow the guesser while the owner gets in, from
// a known device during the flood and from a fresh address after it.
func TestLoginFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("runs waymark as a separate process to read its memory; skipped with -short")
	}
	const password = "correct horse battery staple"
	t.Setenv("WAYMARK_ADMIN_PASSWORD", password)
	bin := buildBinary(t)
	cmd, addr := startProcess(t, bin, t.TempDir(), "--trusted-proxies", "127.0.0.1/32")
	base := "http://" + addr
	pid := cmd.Process.Pid
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login := func(from, pw string, cookies ...*http.Cookie) *http.Response {
		req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(url.Values{"password": {pw}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", from)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err) // called from goroutines: no Fatal
			return &http.Response{}
		}
		resp.Body.Close()
		return resp
	}

	before := procKB(t, pid, "VmRSS")
	// Reset the peak to the current size (Linux: 5 to clear_refs), so the
	// peak read after the burst is the burst's.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatalf("resetting the peak RSS: %v", err)
	}
	var wg sync.WaitGroup
	var codes sync.Map
	for range 24 {
		wg.Go(func() {
			code := login("198.51.100.7", "wrong").StatusCode
			n, _ := codes.LoadOrStore(code, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
		})
	}
	wg.Wait()
	checks := metric(t, base, "waymark_admin_password_checks_total")
	grown := procKB(t, pid, "VmHWM") - before
	got := map[any]int32{}
	codes.Range(func(k, v any) bool { got[k] = v.(*atomic.Int32).Load(); return true })
	t.Logf("burst of 24: statuses %v, %v password checks, peak RSS %d KiB over %d KiB before", got, checks, grown, before)
	if checks > 6 || got[401] != int32(checks) || got[401]+got[429] != 24 {
		t.Errorf("burst of 24 from one address: statuses %v, %v password checks; want at most 6 checks, one 401 each, the rest 429", got, checks)
	}
	if grown > 200<<10 {
		t.Errorf("peak RSS grew by %d MiB during the burst, want under 200", grown>>10)
	}

	owner := login("198.51.100.8", password)
	var device *http.Cookie
	for _, c := range owner.Cookies() {
		if c.Name == "waymark_admin_device" {
			device = c
		}
	}
	if owner.StatusCode != http.StatusSeeOther || device == nil || !device.HttpOnly {
		t.Fatalf("owner's login: %d, device cookie %v", owner.StatusCode, device)
	}

	// A distributed guesser: 4 wrong passwords from each of 25 addresses
	// (under the per-client limit), 6 at a time.
	var guesses, refused atomic.Int32
	addrs := make(chan string)
	go func() {
		for i := range 25 {
			for range 4 {
				addrs <- fmt.Sprintf("203.0.113.%d", i+1)
			}
		}
		close(addrs)
	}()
	half := make(chan struct{})
	var once sync.Once
	for range 6 {
		wg.Go(func() {
			for a := range addrs {
				if login(a, "guess").StatusCode == http.StatusTooManyRequests {
					refused.Add(1)
				}
				if guesses.Add(1) == 50 {
					once.Do(func() { close(half) })
				}
			}
		})
	}
	<-half
	if code := login("198.51.100.9", password, device).StatusCode; code != http.StatusSeeOther {
		t.Errorf("the owner's known device during the guessing: %d, want 303", code)
	}
	wg.Wait()
	t.Logf("distributed guesser: %d of %d guesses refused with 429", refused.Load(), guesses.Load())
	if refused.Load() < 20 {
		t.Errorf("the distributed guesser was not slowed: %d of %d guesses refused", refused.Load(), guesses.Load())
	}
	if code := login("198.51.100.10", password).StatusCode; code != http.StatusSeeOther {
		t.Errorf("the owner's correct password from a fresh address after the guessing: %d, want 303", code)
	}
}
