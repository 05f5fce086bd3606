package app

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"waymark.dev/waymark/internal/clickhouse/clickhousetest"
	"waymark.dev/waymark/internal/postgres/postgrestest"
)

// node is a `waymark serve` process of the multi-node test.
type node struct {
	cmd   *exec.Cmd
	lines map[string]string // what it printed, by label ("Waymark is running:", ...)
}

// startNode runs waymark serve with args and waits until it has printed
// a line starting with each of want; each line's first word after the
// prefix is kept in lines. The process is stopped when the test ends (a
// test may kill it first).
func startNode(t *testing.T, bin string, want []string, args ...string) *node {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--log-level", "warn"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &node{cmd: cmd, lines: map[string]string{}}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	got := make(chan map[string]string, 1)
	go func() {
		seen := map[string]string{}
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			for _, w := range want {
				if v, ok := strings.CutPrefix(sc.Text(), w); ok {
					seen[w] = strings.Fields(v)[0]
				}
			}
			if !sent && len(seen) == len(want) {
				got <- seen
				sent = true
			}
		}
	}()
	select {
	case n.lines = <-got:
	case <-time.After(60 * time.Second):
		t.Fatalf("node %v did not start", args)
	}
	return n
}

func runBin(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("waymark %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func postJSON(t *testing.T, url, token, body string, into any) int {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if into != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("%s: %v: %s", url, err, b)
		}
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s answered %d: %s", url, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// TestMultiNode runs a deployment as separate processes on loopback: two
// collectors (also serving identity), one dashboard node and two proxies,
// over one ClickHouse and one PostgreSQL. Hits sent round-robin add up
// exactly; a device trusted through one node is known through the other;
// a threat entry added once blocks on both proxies within the sync
// interval; a consent receipt is visible from every identity node.
func TestMultiNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five servers; skipped with -short")
	}
	state := postgrestest.Database(t)
	events := clickhousetest.Database(t)
	bin := buildBinary(t)
	dir := t.TempDir()
	runBin(t, bin, "site", "add", "--state", state, "--domain", "multi.example")
	tokenOut := runBin(t, bin, "token", "add", "--state", state, "--name", "multi", "--site", "multi.example")
	token := tokenLine(t, tokenOut)
	allSites := tokenLine(t, runBin(t, bin, "token", "add", "--state", state, "--name", "auditor"))
	proxyOut := runBin(t, bin, "proxy", "token", "add", "--state", state, "--user", "ops")
	proxyToken := tokenLine(t, proxyOut)

	shared := []string{"--state", state, "--events", events, "--sync-interval", "500ms", "--addr", "127.0.0.1:0", "--flush-interval", "20ms"}
	web := []string{"Waymark is running:"}
	var collectors []*node
	for i := range 2 {
		collectors = append(collectors, startNode(t, bin, web, append(shared, "--data", filepath.Join(dir, fmt.Sprint("c", i)), "--parts", "collector,identity")...))
	}
	dash := startNode(t, bin, web, append(shared, "--data", filepath.Join(dir, "d"), "--parts", "dashboard")...)
	var proxies []*node
	for i := range 2 {
		proxies = append(proxies, startNode(t, bin, []string{"Secure proxy:"}, append(shared, "--data", filepath.Join(dir, fmt.Sprint("p", i)),
			"--parts", "proxy", "--proxy-plain", "--proxy-addr", "127.0.0.1:0")...))
	}
	base := func(n *node) string { return strings.TrimSuffix(n.lines["Waymark is running:"], "/") }

	t.Run("hits add up", func(t *testing.T) {
		const hits = 600
		for i := range hits {
			c := collectors[i%2]
			body := fmt.Sprintf(`{"n":"pageview","u":"https://multi.example/p/%d","d":"multi.example"}`, i)
			req, _ := http.NewRequest("POST", base(c)+"/api/event", strings.NewReader(body))
			req.Header.Set("User-Agent", fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0 multi/%d", i%7))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("hit %d answered %d", i, resp.StatusCode)
			}
		}
		var res struct {
			Results []struct{ Metrics []float64 } `json:"results"`
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			res.Results = nil
			code := postJSON(t, base(dash)+"/api/v2/query", token, `{"site_id":"multi.example","metrics":["pageviews","visitors"],"date_range":"day"}`, &res)
			if code == 200 && len(res.Results) == 1 && res.Results[0].Metrics[0] == hits {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("dashboard node shows %+v (status %d), want %d pageviews", res.Results, code, hits)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if v := res.Results[0].Metrics[1]; v != 7 {
			t.Errorf("visitors = %v, want 7 (seven user agents from one address)", v)
		}
	})

	t.Run("device known on the other node", func(t *testing.T) {
		login := `{"account":"ann","outcome":"success","ip":"192.0.2.10","user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"%s}`
		var first struct{ Device string }
		postJSON(t, base(collectors[0])+"/api/v1/risk/login", allSites, fmt.Sprintf(login, ""), &first)
		var trusted struct {
			DeviceCookie string `json:"device_cookie"`
		}
		if code := postJSON(t, base(collectors[0])+"/api/v1/devices/trust", allSites,
			`{"account":"ann","name":"laptop","ip":"192.0.2.10","user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}`, &trusted); code != 200 {
			t.Fatalf("trust: %d", code)
		}
		var again struct {
			Device   string `json:"device"`
			Decision string `json:"decision"`
		}
		if code := postJSON(t, base(collectors[1])+"/api/v1/risk/login", allSites, fmt.Sprintf(login, `,"device_cookie":"`+trusted.DeviceCookie+`"`), &again); code != 200 {
			t.Fatalf("login on the second node: %d", code)
		}
		if first.Device != "none" || again.Device != "known" || again.Decision != "allow" {
			t.Errorf("first login device %q; through the other node: %+v, want a known device, allowed", first.Device, again)
		}
	})

	t.Run("threat entry blocks on both proxies", func(t *testing.T) {
		feed := filepath.Join(dir, "feed.txt")
		os.WriteFile(feed, []byte("http://blocked-multi.test/\n"), 0o644)
		added := time.Now()
		runBin(t, bin, "threats", "import", "--state", state, "--feed", feed, "--list", "phishing", "--source", "ops")
		for i, p := range proxies {
			pu, _ := url.Parse(p.lines["Secure proxy:"])
			pu.User = url.UserPassword("ops", proxyToken)
			client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}, Timeout: 5 * time.Second}
			for {
				resp, err := client.Get("http://blocked-multi.test/login")
				if err != nil {
					t.Fatalf("proxy %d: %v", i, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusForbidden && strings.Contains(resp.Header.Get("Waymark-Decision"), "phishing") {
					t.Logf("proxy %d blocks %s after the import", i, time.Since(added).Round(time.Millisecond))
					break
				}
				if time.Since(added) > 10*time.Second {
					t.Fatalf("proxy %d still answers %d (%s) 10 s after the import", i, resp.StatusCode, resp.Header.Get("Waymark-Decision"))
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	})

	t.Run("signing key rotated once reaches every node", func(t *testing.T) {
		keys := func(n *node) string {
			resp, err := http.Get(base(n) + "/.well-known/waymark/keys")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return string(b)
		}
		if a, b := keys(collectors[0]), keys(collectors[1]); a != b || !strings.Contains(a, `"kid"`) {
			t.Fatalf("nodes publish different keys:\n%s\n%s", a, b)
		}
		out := runBin(t, bin, "keys", "rotate", "--signing", "--state", state)
		kid := strings.Fields(out)[2]
		rotated := time.Now()
		for i, c := range collectors {
			for !strings.Contains(keys(c), kid) {
				if time.Since(rotated) > 10*time.Second {
					t.Fatalf("node %d does not publish %s 10 s after the rotation", i, kid)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		t.Logf("both nodes publish %s %s after the rotation", kid, time.Since(rotated).Round(time.Millisecond))
	})

	t.Run("consent receipt visible from every node", func(t *testing.T) {
		req, _ := http.NewRequest("POST", base(collectors[0])+"/api/v1/consent", strings.NewReader(`{"purposes":{"analytics":true},"source":"banner","site":"multi.example"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ans struct {
			ReceiptID string `json:"receipt_id"`
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		json.NewDecoder(bytes.NewReader(b)).Decode(&ans)
		if resp.StatusCode != 200 || ans.ReceiptID == "" {
			t.Fatalf("consent: %d %s", resp.StatusCode, b)
		}
		for i, c := range collectors {
			req, _ := http.NewRequest("GET", base(c)+"/api/v1/consent/receipts?receipt="+ans.ReceiptID, nil)
			req.Header.Set("Authorization", "Bearer "+allSites)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(b), ans.ReceiptID) {
				t.Errorf("node %d: receipt lookup %d %s", i, resp.StatusCode, b)
			}
		}
		out := runBin(t, bin, "consent", "export", "--state", state)
		if !strings.Contains(out, ans.ReceiptID) {
			t.Errorf("consent export from the shared store misses the receipt:\n%s", out)
		}
	})
}

// tokenLine finds the secret in a token command's output: the line's
// last field that starts with a known token prefix.
func tokenLine(t *testing.T, out string) string {
	t.Helper()
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "wmk_") || strings.HasPrefix(f, "wmp_") {
			return f
		}
	}
	t.Fatalf("no token in %q", out)
	return ""
}
