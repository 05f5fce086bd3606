package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"waymark.dev/waymark/internal/cli"
	"waymark.dev/waymark/internal/synth"
)

var benchAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
}

var benchReferrers = []string{"", "", "", "https://www.google.com/", "https://news.ycombinator.com/", "https://t.co/abc", "https://duckduckgo.com/", "https://blog.example.org/post"}

// benchIngest drives a running server's events API with keep-alive
// connections and reports acknowledged hits per second, latency
// percentiles and the server's resident memory.
func benchIngest(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("bench ingest", stderr)
	base := fs.String("url", "http://127.0.0.1:8080", "base URL of a running waymark serve; several, comma-separated, share the connections round-robin (collectors behind a load balancer)")
	domain := fs.String("site", synth.DemoSite, "site domain to send hits for (must exist)")
	conns := fs.Int("conns", 50, "concurrent keep-alive connections")
	dur := fs.Duration("duration", 10*time.Second, "how long to send")
	xff := fs.Bool("forwarded-for", false, "send each hit with an X-Forwarded-For address from the public IPv4 space (4,096 of them; start serve with --trusted-proxies 127.0.0.1/32): measures geolocation with real spread")
	wait := fs.Bool("wait-stored", false, "afterwards, wait until the servers' event stores hold every acknowledged hit and report the stored rate")
	if err := cli.Parse(fs, args, getenv); err != nil {
		return err
	}
	if *conns < 1 || *dur <= 0 {
		return cli.Usagef("--conns and --duration must be positive")
	}
	var bases []string
	var targets []*url.URL
	var reqSets [][][]byte
	for b := range strings.SplitSeq(*base, ",") {
		b = strings.TrimSuffix(strings.TrimSpace(b), "/")
		u, err := url.Parse(b + "/api/event")
		if err != nil || u.Scheme != "http" || u.Host == "" {
			return cli.Usagef("--url must be http:// addresses, comma-separated")
		}
		bases, targets = append(bases, b), append(targets, u)
		// Requests are rendered once; each connection sends them in
		// turn, one outstanding request per connection (like wrk), so
		// the generator spends little of the machine's CPU.
		n := 64
		if *xff {
			n = 4096
		}
		reqSets = append(reqSets, benchRequests(u, *domain, n, *xff))
	}
	storedBefore := make([]float64, len(bases))
	for i, b := range bases {
		storedBefore[i], _ = ServerMetric(ctx, b, "waymark_events_stored_total")
	}
	// CPU time before and after, to report what a hit costs: the servers'
	// from their /metrics, the generator's own from /proc.
	serverCPU := func() (float64, bool) {
		var sum float64
		for _, b := range bases {
			v, err := ServerMetric(ctx, b, "process_cpu_seconds_total")
			if err != nil {
				return 0, false
			}
			sum += v
		}
		return sum, true
	}
	cpuBefore, cpuOK := serverCPU()
	ownBefore := ownCPU()
	ctx, cancel := context.WithTimeout(ctx, *dur)
	defer cancel()
	var ok, failed, busy atomic.Uint64
	lat := make([][]time.Duration, *conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range *conns {
		u, reqs := targets[i%len(targets)], reqSets[i%len(targets)]
		wg.Go(func() {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "tcp", u.Host)
			if err != nil {
				failed.Add(1)
				return
			}
			defer conn.Close()
			context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
			br := bufio.NewReaderSize(conn, 4096)
			for n := i; ctx.Err() == nil; n++ {
				t0 := time.Now()
				if _, err := conn.Write(reqs[n%len(reqs)]); err != nil {
					break
				}
				code, err := readResponse(br)
				if err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					break
				}
				switch code {
				case http.StatusAccepted:
					ok.Add(1)
					lat[i] = append(lat[i], time.Since(t0))
				case http.StatusServiceUnavailable:
					busy.Add(1)
				default:
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	ownUsed := ownCPU() - ownBefore
	cpuAfter, cpuAfterOK := serverCPU()
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(float64(len(all))*p))]
	}
	fmt.Fprintf(stdout, "acknowledged hits: %d in %s = %.0f hits/s\n", ok.Load(), elapsed.Round(time.Millisecond), float64(ok.Load())/elapsed.Seconds())
	fmt.Fprintf(stdout, "latency p50 %s  p99 %s  max %s\n", pct(.5), pct(.99), pct(1))
	fmt.Fprintf(stdout, "503 (spool full): %d  errors: %d  connections: %d\n", busy.Load(), failed.Load(), *conns)
	if n := float64(ok.Load()); n > 0 {
		server := "unknown (no process_cpu_seconds_total)"
		if cpuOK && cpuAfterOK {
			server = fmt.Sprintf("%.1f us", (cpuAfter-cpuBefore)*1e6/n)
		}
		fmt.Fprintf(stdout, "CPU per acknowledged hit: server %s, load generator %.1f us\n", server, float64(ownUsed.Microseconds())/n)
	}
	for _, b := range bases {
		if rss, err := ServerMetric(ctx, b, "process_resident_memory_bytes"); err == nil {
			fmt.Fprintf(stdout, "server RSS: %.0f MiB (%s)\n", rss/(1<<20), b)
		}
	}
	if *wait {
		// The stores catch up from the spools; the stored rate counts
		// from the first hit to the last one stored.
		want := float64(ok.Load())
		deadline := time.Now().Add(10 * time.Minute)
		for {
			var stored float64
			for i, b := range bases {
				v, err := ServerMetric(context.WithoutCancel(ctx), b, "waymark_events_stored_total")
				if err != nil {
					return fmt.Errorf("stored events of %s: %w", b, err)
				}
				stored += v - storedBefore[i]
			}
			if stored >= want {
				took := time.Since(start)
				fmt.Fprintf(stdout, "stored: %.0f events %s after the first hit = %.0f events/s into the store\n", stored, took.Round(time.Millisecond), stored/took.Seconds())
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("only %.0f of %.0f acknowledged hits stored after 10 minutes", stored, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// benchRequests renders n varied pageview requests.
func benchRequests(u *url.URL, domain string, n int, forwarded bool) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, n)
	for i := range out {
		body := fmt.Sprintf(`{"n":"pageview","u":"https://%s/p/%d","d":%q,"r":%q,"sw":1920,"sh":1080,"vw":1280,"vh":720,"dpr":1,"cd":24,"tz":"Europe/Berlin"}`,
			domain, int(r.ExpFloat64()*20), domain, benchReferrers[r.IntN(len(benchReferrers))])
		xff := ""
		if forwarded {
			xff = "X-Forwarded-For: " + publicIPv4(r).String() + "\r\n"
		}
		out[i] = fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nContent-Type: text/plain\r\nAccept-Language: en-US,en;q=0.9\r\n%sContent-Length: %d\r\n\r\n%s",
			u.RequestURI(), u.Host, benchAgents[r.IntN(len(benchAgents))], xff, len(body), body)
	}
	return out
}

// publicIPv4 draws an address outside the special-use ranges.
func publicIPv4(r *rand.Rand) netip.Addr {
	for {
		a := netip.AddrFrom4([4]byte{byte(1 + r.IntN(223)), byte(r.IntN(256)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
		if a.IsGlobalUnicast() && !a.IsPrivate() && a.As4()[0] != 100 && a.As4()[0] != 127 {
			return a
		}
	}
}

// readResponse reads one HTTP/1.1 response and returns its status code.
func readResponse(br *bufio.Reader) (int, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length := 0
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(bytes.ToLower(h), []byte("content-length:")); ok {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if _, err := br.Discard(length); err != nil {
		return 0, err
	}
	return code, nil
}

// ServerMetric reads one value from a server's Prometheus metrics.
func ServerMetric(ctx context.Context, base, name string) (float64, error) {
	req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), "GET", strings.TrimSuffix(base, "/")+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no %s in metrics", name)
}
