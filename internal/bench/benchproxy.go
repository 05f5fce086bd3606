package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"waymark.dev/waymark/internal/cli"
	"waymark.dev/waymark/internal/integrity"
)

// benchProxy runs `waymark bench proxy`: Waymark's proxy (in its own
// process, with TLS and, for a like-for-like comparison, plain HTTP on
// loopback) side by side with Squid when it is installed, in front of a
// loopback origin. HTTP forwarding is driven by wrk; CONNECT tunnels by a
// Go client.
func benchProxy(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("bench proxy", stderr)
	duration := fs.Duration("duration", 5*time.Second, "how long each load runs")
	conns := fs.Int("connections", 50, "keep-alive connections for the throughput runs")
	tunnels := fs.Int("tunnels", 10000, "idle tunnels for the memory measurement (capped by the open-file limit: each tunnel holds two descriptors in the proxy)")
	squidMode := fs.String("squid", "auto", "auto (when installed), on (fail without it) or off")
	if err := cli.Parse(fs, args, getenv); err != nil {
		return err
	}
	if *duration < time.Second || *conns < 1 || *tunnels < 0 {
		return cli.Usagef("bench proxy needs --duration of at least 1s and positive --connections")
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return errors.New("bench proxy drives HTTP loads with wrk: apt-get install wrk")
	}
	var rl syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	rl.Cur = rl.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	if limit := int(rl.Cur-200) / 2; *tunnels > limit {
		fmt.Fprintf(stdout, "note: %d idle tunnels instead of %d: the open-file limit is %d and each tunnel holds two descriptors in the proxy (and two here)\n", limit, *tunnels, rl.Cur)
		*tunnels = limit
	}
	dir, err := os.MkdirTemp("", "waymark-bench-proxy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// Origins: plain HTTP and HTTPS, a small fixed answer.
	body := []byte(strings.Repeat("x", 64))
	originHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})
	plainLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	plainOrigin := &http.Server{Handler: originHandler}
	go plainOrigin.Serve(plainLn)
	defer plainOrigin.Close()
	cert, err := selfSigned()
	if err != nil {
		return err
	}
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	tlsOrigin := &http.Server{Handler: originHandler}
	go tlsOrigin.Serve(tls.NewListener(tlsLn, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}))
	defer tlsOrigin.Close()
	originHTTP := "http://" + plainLn.Addr().String() + "/"
	originHTTPS := "https://" + tlsLn.Addr().String() + "/"

	// Waymark's proxy, in its own processes.
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	data := filepath.Join(dir, "data")
	// The token is made by this binary's own command, as an operator would.
	tokCmd := exec.CommandContext(ctx, exe, "proxy", "token", "add", "--data", data, "--user", "bench")
	tokCmd.Stderr = stderr
	tokOut, err := tokCmd.Output()
	if err != nil {
		return fmt.Errorf("waymark proxy token add: %w", err)
	}
	lines := strings.Split(string(tokOut), "\n")
	if len(lines) < 2 {
		return fmt.Errorf("waymark proxy token add printed %q", tokOut)
	}
	token := strings.TrimSpace(lines[1])
	// A second token whose answers are always signed (--proxy-sign always
	// for one user).
	signCmd := exec.CommandContext(ctx, exe, "proxy", "token", "add", "--data", data, "--user", "signed", "--sign")
	signCmd.Stderr = stderr
	signOut, err := signCmd.Output()
	if err != nil {
		return fmt.Errorf("waymark proxy token add --sign: %w", err)
	}
	signLines := strings.Split(string(signOut), "\n")
	if len(signLines) < 2 {
		return fmt.Errorf("waymark proxy token add --sign printed %q", signOut)
	}
	signAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("signed:"+strings.TrimSpace(signLines[1])))
	ports := fmt.Sprintf("80,443,%d,%d", plainLn.Addr().(*net.TCPAddr).Port, tlsLn.Addr().(*net.TCPAddr).Port)
	startWaymark := func(plain bool) (*exec.Cmd, string, error) {
		args := []string{"serve", "--parts", "proxy", "--data", data, "--addr", "127.0.0.1:0", "--proxy-addr", "127.0.0.1:0",
			"--proxy-allow-cidrs", "127.0.0.1/32", "--proxy-ports", ports, "--proxy-rate", "0", "--proxy-tunnels", "0",
			"--proxy-audit-log", filepath.Join(dir, "audit.log"), "--log-level", "warn"}
		if plain {
			args = append(args, "--proxy-plain")
		}
		cmd := exec.CommandContext(ctx, exe, args...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, "", err
		}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			return nil, "", err
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := regexp.MustCompile(`Secure proxy:\s+(\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				go io.Copy(io.Discard, out)
				return cmd, m[1], nil
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		return nil, "", errors.New("waymark proxy did not start")
	}
	type target struct {
		name  string
		url   string // proxy URL, "" for direct
		proc  *exec.Cmd
		cred  string
		plain bool
		// header is sent with each forwarded request ("Name: value");
		// signed says the answers must carry a signature. Such rows are
		// forwarding rows only.
		header string
		signed bool
	}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("bench:"+token))
	var targets []*target
	for _, plain := range []bool{false, true} {
		cmd, u, err := startWaymark(plain)
		if err != nil {
			return err
		}
		defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
		name := "waymark (TLS to proxy)"
		if plain {
			name = "waymark (plain, loopback)"
		}
		targets = append(targets, &target{name: name, url: u, proc: cmd, cred: auth, plain: plain})
	}
	plainTarget := targets[len(targets)-1]
	forwardRows := append([]*target{}, targets...)
	forwardRows = append(forwardRows,
		&target{name: "waymark (plain, signed: Accept-Signature)", url: plainTarget.url, proc: plainTarget.proc, cred: auth, plain: true,
			header: "Accept-Signature: " + integrity.AcceptSignature, signed: true},
		&target{name: "waymark (plain, signed: token --sign)", url: plainTarget.url, proc: plainTarget.proc, cred: signAuth, plain: true, signed: true})
	// Each row gets what it says: a signature on the signed rows, none
	// on the others (only answers that succeeded are counted by wrk).
	for _, tg := range forwardRows {
		if err := checkSigned(ctx, tg.url, tg.cred, tg.header, originHTTP, tg.signed); err != nil {
			return fmt.Errorf("%s: %w", tg.name, err)
		}
	}
	if *squidMode != "off" {
		sq, u, err := startSquid(ctx, dir)
		switch {
		case err == nil:
			defer func() { sq.Process.Signal(syscall.SIGTERM); sq.Wait() }()
			targets = append(targets, &target{name: "squid " + squidVersion(), url: u, proc: sq, plain: true})
			forwardRows = append(forwardRows, targets[len(targets)-1])
		case *squidMode == "on":
			return err
		default:
			fmt.Fprintf(stdout, "note: no Squid run: %v\n", err)
		}
	}

	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(stdout, "\nHTTP forwarding, wrk, %d connections, %s (origin: %d-byte answers on loopback)\n", *conns, *duration, len(body))
	fmt.Fprintln(tw, "route\treq/s\tp50\tp99\tproxy CPU per request\t")
	direct, err := runWrk(ctx, wrk, dir, originHTTP, "", "", "", *conns, *duration)
	if err != nil {
		return err
	}
	fmt.Fprintf(tw, "direct\t%.0f\t%s\t%s\t\t\n", direct.rps, direct.p50, direct.p99)
	for _, tg := range forwardRows {
		var r wrkResult
		var err error
		c := cpuPerRequest(func() float64 {
			r, err = runWrk(ctx, wrk, dir, tg.url, originHTTP, tg.cred, tg.header, *conns, *duration)
			return r.rps * duration.Seconds()
		}, treeCPU(tg.proc.Process.Pid))
		if err != nil {
			return fmt.Errorf("%s: %w", tg.name, err)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t\n", tg.name, r.rps, r.p50, r.p99, c[0])
	}
	tw.Flush()
	cost, err := signingCost(dir, body)
	if err != nil {
		return fmt.Errorf("signing cost: %w", err)
	}
	fmt.Fprintf(stdout, "the signature and digest alone, for one %d-byte answer: %s (Ed25519 and SHA-256, one core)\n", len(body), cost)

	fmt.Fprintf(stdout, "\nAdded median latency, wrk, 1 connection, %s\n", *duration)
	fmt.Fprintln(tw, "route\tp50\tadded\t")
	d1, err := runWrk(ctx, wrk, dir, originHTTP, "", "", "", 1, *duration)
	if err != nil {
		return err
	}
	fmt.Fprintf(tw, "direct\t%s\t\t\n", d1.p50)
	for _, tg := range forwardRows {
		r, err := runWrk(ctx, wrk, dir, tg.url, originHTTP, tg.cred, tg.header, 1, *duration)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%s\t+%s\t\n", tg.name, r.p50, (r.p50 - d1.p50).Round(time.Microsecond))
	}
	tw.Flush()

	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	pool.AddCert(leaf)
	fmt.Fprintf(stdout, "\nHTTPS through CONNECT, Go client, %d connections, %s\n", *conns, *duration)
	fmt.Fprintln(tw, "route\treused tunnels req/s\tof direct\tCPU per request: clients and origin\tproxy\tnew tunnel per request req/s\t")
	var dr float64
	dcpu := cpuPerRequest(func() float64 {
		dr = connectLoad(ctx, nil, "", pool, originHTTPS, *conns, *duration, true)
		return dr * duration.Seconds()
	}, ownCPU)
	dn := connectLoad(ctx, nil, "", pool, originHTTPS, *conns, *duration, false)
	fmt.Fprintf(tw, "direct\t%.0f\t100%%\t%s\t\t%.0f\t\n", dr, dcpu[0], dn)
	caPEM, err := os.ReadFile(filepath.Join(data, "proxy-ca", "ca.pem"))
	if err != nil {
		return err
	}
	roots := pool.Clone()
	roots.AppendCertsFromPEM(caPEM)
	for _, tg := range targets {
		pu, _ := url.Parse(tg.url)
		var r float64
		c := cpuPerRequest(func() float64 {
			r = connectLoad(ctx, pu, tg.cred, roots, originHTTPS, *conns, *duration, true)
			return r * duration.Seconds()
		}, ownCPU, treeCPU(tg.proc.Process.Pid))
		n := connectLoad(ctx, pu, tg.cred, roots, originHTTPS, *conns, *duration, false)
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f%%\t%s\t%s\t%.0f\t\n", tg.name, r, 100*r/dr, c[0], c[1], n)
	}
	tw.Flush()

	if *tunnels > 0 {
		fmt.Fprintf(stdout, "\nIdle CONNECT tunnels: %d held open, proxy memory (RSS) before and after\n", *tunnels)
		fmt.Fprintln(tw, "route\tRSS before\tRSS with tunnels\tper tunnel\t")
		for _, tg := range targets {
			before, after, err := idleTunnels(ctx, tg.url, tg.cred, tg.plain, data, plainLn.Addr().String(), tg.proc.Process.Pid, *tunnels)
			if err != nil {
				return fmt.Errorf("%s idle tunnels: %w", tg.name, err)
			}
			fmt.Fprintf(tw, "%s\t%.1f MiB\t%.1f MiB\t%.1f KB\t\n", tg.name, float64(before)/(1<<20), float64(after)/(1<<20),
				float64(after-before)/float64(*tunnels)/1000)
		}
		tw.Flush()
	}
	return nil
}

type wrkResult struct {
	rps      float64
	p50, p99 time.Duration
}

// runWrk loads target with wrk. With via set, target is a proxy and via
// the absolute URL requested through it.
func runWrk(ctx context.Context, wrk, dir, target, via, cred, header string, conns int, d time.Duration) (wrkResult, error) {
	args := []string{"-t", strconv.Itoa(min(2, conns)), "-c", strconv.Itoa(conns), "-d", fmt.Sprintf("%.0fs", d.Seconds()), "--latency"}
	if via != "" {
		script := filepath.Join(dir, "proxy.lua")
		lua := fmt.Sprintf("wrk.path = %q\n", via)
		if cred != "" {
			lua += fmt.Sprintf("wrk.headers[\"Proxy-Authorization\"] = %q\n", cred)
		}
		if name, value, ok := strings.Cut(header, ": "); ok {
			lua += fmt.Sprintf("wrk.headers[%q] = %q\n", name, value)
		}
		if err := os.WriteFile(script, []byte(lua), 0o600); err != nil {
			return wrkResult{}, err
		}
		args = append(args, "-s", script)
	}
	out, err := exec.CommandContext(ctx, wrk, append(args, target)...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %v: %s", err, out)
	}
	var r wrkResult
	if m := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`).FindSubmatch(out); m != nil {
		r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`).FindSubmatch(out); m != nil {
		return r, fmt.Errorf("wrk saw %s failed answers: %s", m[1], out)
	}
	lat := func(p string) time.Duration {
		m := regexp.MustCompile(p + `%\s+([0-9.]+)(us|ms|s)`).FindSubmatch(out)
		if m == nil {
			return 0
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(m[2])]
		// wrk prints two decimals: rounding to the microsecond keeps a
		// float's error (4.06ms read as 4.059999ms) out of the table.
		return time.Duration(math.Round(v*float64(unit)/float64(time.Microsecond))) * time.Microsecond
	}
	r.p50, r.p99 = lat("50"), lat("99")
	if r.rps == 0 {
		return r, fmt.Errorf("wrk output without a rate: %s", out)
	}
	return r, nil
}

// signingCost is what signing one answer of body costs by itself: the
// digest, the signature base and the Ed25519 signature.
func signingCost(dir string, body []byte) (time.Duration, error) {
	keys := filepath.Join(dir, "cost-keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return 0, err
	}
	ring, err := integrity.OpenKeyring(keys, time.Now())
	if err != nil {
		return 0, err
	}
	s := &integrity.ResponseSigner{Keys: ring}
	target, _ := url.Parse("http://origin.example/")
	req := &integrity.Message{Method: http.MethodGet, URL: target}
	const n = 2000
	start := time.Now()
	for range n {
		h := http.Header{"Content-Type": {"text/plain"}}
		sum := sha256.Sum256(body)
		if err := s.SignFor(h, h, http.StatusOK, req, integrity.DigestField("sha-256", sum[:]), integrity.DefaultWant); err != nil {
			return 0, err
		}
	}
	return (time.Since(start) / n).Round(100 * time.Nanosecond), nil
}

// checkSigned fetches target once through a plain proxy with header and
// checks the answer is 200 and carries a signature, or none.
func checkSigned(ctx context.Context, proxyURL, cred, header, target string, signed bool) error {
	pu, err := url.Parse(proxyURL)
	if err != nil {
		return err
	}
	if pu.Scheme != "http" {
		return nil // the TLS row: the same handler as the plain one
	}
	tr := &http.Transport{Proxy: http.ProxyURL(pu), ProxyConnectHeader: http.Header{}}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	req.Header.Set("Proxy-Authorization", cred)
	if name, value, ok := strings.Cut(header, ": "); ok {
		req.Header.Set(name, value)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("a check request got %s", resp.Status)
	}
	if got := resp.Header.Get("Signature") != ""; got != signed {
		return fmt.Errorf("answers signed: %v, want %v", got, signed)
	}
	return nil
}

// connectLoad runs conns clients fetching an HTTPS URL, through a proxy
// (nil: directly), each on one tunnel (reuse) or a new tunnel and TLS
// session per request; it returns requests per second. roots verifies the
// origin and, for an HTTPS proxy, the proxy.
func connectLoad(ctx context.Context, proxyURL *url.URL, cred string, roots *x509.CertPool, target string, conns int, d time.Duration, reuse bool) float64 {
	var n atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range conns {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, DisableKeepAlives: !reuse, MaxIdleConnsPerHost: 1}
		if proxyURL != nil {
			tr.Proxy = http.ProxyURL(proxyURL)
			if cred != "" {
				tr.ProxyConnectHeader = http.Header{"Proxy-Authorization": {cred}}
			}
		}
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		wg.Go(func() {
			defer tr.CloseIdleConnections()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				resp, err := c.Get(target)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					n.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

// idleTunnels opens n CONNECT tunnels to the plain origin without sending
// anything through them and reads the proxy's RSS before and after.
func idleTunnels(ctx context.Context, proxyURL, cred string, plain bool, data, origin string, pid, n int) (before, after int64, err error) {
	before, err = rss(pid)
	if err != nil {
		return 0, 0, err
	}
	pu, _ := url.Parse(proxyURL)
	var tc *tls.Config
	if !plain {
		caPEM, err := os.ReadFile(filepath.Join(data, "proxy-ca", "ca.pem"))
		if err != nil {
			return 0, 0, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		tc = &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}, ServerName: pu.Hostname()}
	}
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	req := "CONNECT " + origin + " HTTP/1.1\r\nHost: " + origin + "\r\n"
	if cred != "" {
		req += "Proxy-Authorization: " + cred + "\r\n"
	}
	req += "\r\n"
	for len(held) < n {
		c, err := net.DialTimeout("tcp", pu.Host, 10*time.Second)
		if err != nil {
			return 0, 0, err
		}
		if tc != nil {
			tlc := tls.Client(c, tc)
			if err := tlc.HandshakeContext(ctx); err != nil {
				c.Close()
				return 0, 0, err
			}
			c = tlc
		}
		held = append(held, c)
		if _, err := io.WriteString(c, req); err != nil {
			return 0, 0, err
		}
		resp, err := http.ReadResponse(bufio.NewReaderSize(c, 256), nil)
		if err != nil {
			return 0, 0, fmt.Errorf("tunnel %d: %w", len(held), err)
		}
		if resp.StatusCode != 200 {
			return 0, 0, fmt.Errorf("tunnel %d: status %d", len(held), resp.StatusCode)
		}
	}
	time.Sleep(2 * time.Second) // let the proxy settle (GC, lazily grown buffers)
	after, err = rss(pid)
	return before, after, err
}

// cpuPerRequest runs load, which returns how many requests it made, and
// gives the CPU time each reader counted per request meanwhile.
func cpuPerRequest(load func() float64, readers ...func() time.Duration) []time.Duration {
	before := make([]time.Duration, len(readers))
	for i, read := range readers {
		before[i] = read()
	}
	n := load()
	per := make([]time.Duration, len(readers))
	for i, read := range readers {
		if n > 0 {
			per[i] = time.Duration(float64(read()-before[i]) / n).Round(100 * time.Nanosecond)
		}
	}
	return per
}

// ownCPU reads this process's CPU time alone (the load generator and the
// origins; not the proxies it started).
func ownCPU() time.Duration { return cpuTime(os.Getpid(), false) }

// treeCPU reads the CPU time of a process with its children (Squid works
// in a child).
func treeCPU(pid int) func() time.Duration {
	return func() time.Duration { return cpuTime(pid, true) }
}

// cpuTime is the user and system CPU time of a process and, with
// descendants, of its living descendants, from /proc (in clock ticks of
// 10 ms, Linux's USER_HZ).
func cpuTime(root int, descendants bool) time.Duration {
	type proc struct{ ppid, ticks int64 }
	procs := map[int64]proc{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil || !descendants && pid != int64(root) {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name (field 2) may hold spaces: fields are counted
		// after its closing parenthesis.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.ParseInt(f[1], 10, 64)
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		procs[pid] = proc{ppid, ut + st}
	}
	var total int64
	for pid, p := range procs {
		for q := pid; ; {
			if q == int64(root) {
				total += p.ticks
				break
			}
			parent, ok := procs[q]
			if !ok || parent.ppid == 0 || parent.ppid == q {
				break
			}
			q = parent.ppid
		}
	}
	return time.Duration(total) * 10 * time.Millisecond
}

func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, nil
		}
	}
	return 0, errors.New("no VmRSS")
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// startSquid runs Squid with a configuration equivalent to the bench's
// Waymark (no cache, no access log, any destination) on a free loopback
// port.
func startSquid(ctx context.Context, dir string) (*exec.Cmd, string, error) {
	bin, err := exec.LookPath("squid")
	if err != nil {
		return nil, "", errors.New("squid is not installed (apt-get install squid)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	sd := filepath.Join(dir, "squid")
	if err := os.MkdirAll(sd, 0o755); err != nil {
		return nil, "", err
	}
	conf := strings.Join([]string{
		"http_port " + addr,
		"http_access allow all",
		"cache deny all",
		"access_log none",
		"cache_log " + filepath.Join(sd, "cache.log"),
		"pid_filename " + filepath.Join(sd, "squid.pid"),
		"coredump_dir " + sd,
		"max_filedescriptors 20000",
		"forwarded_for delete",
		"via off",
		"shutdown_lifetime 1 seconds",
	}, "\n") + "\n"
	confFile := filepath.Join(sd, "squid.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		return nil, "", err
	}
	exec.Command("chown", "-R", "proxy:proxy", sd).Run() // Squid drops to user proxy when started as root
	os.Chmod(dir, 0o755)
	cmd := exec.CommandContext(ctx, bin, "-N", "-f", confFile)
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return cmd, "http://" + addr, nil
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	log, _ := os.ReadFile(filepath.Join(sd, "cache.log"))
	return nil, "", fmt.Errorf("squid did not start: %s", log)
}

func squidVersion() string {
	out, err := exec.Command("squid", "-v").Output()
	if err != nil {
		return ""
	}
	if m := regexp.MustCompile(`Version (\S+)`).FindSubmatch(out); m != nil {
		return string(m[1])
	}
	return ""
}
