package app

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"waymark.dev/waymark/internal/cli"
	"waymark.dev/waymark/internal/config"
	"waymark.dev/waymark/internal/integrity"
	"waymark.dev/waymark/internal/netguard"
	"waymark.dev/waymark/internal/proxy"
	"waymark.dev/waymark/internal/proxytoken"
	"waymark.dev/waymark/internal/statestore"
	"waymark.dev/waymark/internal/threats"
)

// proxyPart is the running secure proxy.
type proxyPart struct {
	handler *proxy.Server
	auth    *proxytoken.Authenticator
	srv     *proxy.ConnServer
	ln      net.Listener
	// URL is how clients name the proxy (https://host:port).
	URL    string
	Public string // host:port for the PAC file
	CAFile string // the local CA clients must trust; "" with operator certificates
	audit  io.Closer
	done   chan error
}

// startProxy builds the proxy from the configuration and starts
// listening. webAddr is the web server's address (the proxy never
// connects to it either).
func startProxy(ctx context.Context, c config.Serve, state statestore.Store, checker *threats.Checker, keys *integrity.Keyring, reg prometheus.Registerer, log *slog.Logger, webAddr string) (*proxyPart, error) {
	pc := c.Proxy
	hosts := proxy.HostRules{Allow: pc.AllowHosts, Deny: pc.DenyHosts}
	if err := hosts.Validate(); err != nil {
		return nil, err
	}
	if err := (proxy.HostRules{Allow: pc.HTTPSOnly}).Validate(); err != nil {
		return nil, fmt.Errorf("--proxy-https-only: %w", err)
	}
	signMode, err := proxy.ParseSignMode(pc.Sign)
	if err != nil {
		return nil, fmt.Errorf("--proxy-sign: %w", err)
	}
	if err := (proxy.HostRules{Allow: pc.SignHosts}).Validate(); err != nil {
		return nil, fmt.Errorf("--proxy-sign-hosts: %w", err)
	}
	userHosts := map[string]proxy.HostRules{}
	if pc.UserHosts != "" {
		b, err := os.ReadFile(pc.UserHosts)
		if err != nil {
			return nil, fmt.Errorf("proxy user hosts: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&userHosts); err != nil {
			return nil, fmt.Errorf("proxy user hosts %s: %w (want {\"user\": {\"allow\": [...], \"deny\": [...]}})", pc.UserHosts, err)
		}
		for u, r := range userHosts {
			if err := r.Validate(); err != nil {
				return nil, fmt.Errorf("proxy user hosts %s, user %q: %w", pc.UserHosts, u, err)
			}
		}
	}
	ln, err := net.Listen("tcp", pc.Addr)
	if err != nil {
		return nil, fmt.Errorf("proxy: listen on %s: %w", pc.Addr, err)
	}
	p := &proxyPart{ln: ln, done: make(chan error, 1)}
	fail := func(err error) (*proxyPart, error) {
		ln.Close()
		if p.audit != nil {
			p.audit.Close()
		}
		return nil, err
	}
	addr := ln.Addr().String()
	p.Public = pc.Public
	if p.Public == "" {
		p.Public = addr
	}

	policy := egressPolicy(pc)
	for _, a := range []string{addr, webAddr} {
		if ap, err := netip.ParseAddrPort(a); err == nil {
			policy.Self = append(policy.Self, ap)
		}
	}
	auditW := io.Writer(os.Stderr)
	switch pc.AuditLog {
	case "-":
	default:
		path := pc.AuditLog
		if path == "" {
			path = filepath.Join(c.Data, "proxy-audit.log")
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fail(fmt.Errorf("proxy audit log: %w", err))
		}
		bw := newBufferedFile(f, 200*time.Millisecond)
		auditW, p.audit = bw, bw
	}
	plog := log.With("component", "proxy")
	dialer := &netguard.Dialer{Policy: policy, Timeout: 10 * time.Second, ReportOnly: pc.ReportOnly, CacheTTL: 30 * time.Second,
		Report: func(e *netguard.DeniedError) {
			plog.Warn("egress policy would deny (report-only)", "host", e.Host, "ip", e.IP, "port", e.Port, "reason", e.Reason)
		}}
	p.handler = &proxy.Server{
		Dialer: dialer, Hosts: hosts, UserHosts: userHosts,
		Limits:      proxy.Limits{Rate: pc.Rate, Burst: pc.Burst, Tunnels: pc.Tunnels},
		IdleTimeout: pc.IdleTimeout,
		Log:         plog,
		Audit:       slog.New(slog.NewJSONHandler(auditW, nil)).With("component", "proxy_audit"),
		AuditLines:  proxy.NewAuditLines(auditW),
		Metrics:     proxy.NewMetrics(reg),
		Now:         time.Now,
		Threats:     checker,
		Upgrade:     proxy.Upgrade{Enabled: pc.HTTPSFirst, HTTPSOnly: pc.HTTPSOnly},
		Signer:      &integrity.ResponseSigner{Keys: keys},
		SignMode:    signMode,
		SignHosts:   pc.SignHosts,
	}
	p.auth = &proxytoken.Authenticator{Store: state, Now: time.Now, Revoked: p.handler.CloseTokenTunnels}
	if c.State != "" {
		// A shared database that stops answering: the last tokens are
		// trusted for a while, then the proxy fails closed.
		p.auth.MaxStale = sharedTokensMaxStale
	}
	p.handler.Auth = p.auth
	if err := p.auth.Load(ctx); err != nil {
		return fail(err)
	}
	fallback := proxy.NewHTTPServer(p.handler, plog)
	p.srv = &proxy.ConnServer{Handler: p.handler, Fallback: fallback, Log: plog}
	if pc.Plain {
		p.URL = "http://" + p.Public
		go func() { p.done <- p.srv.Serve(ln) }()
		return p, nil
	}
	certFile, keyFile := pc.CertFile, pc.KeyFile
	if certFile == "" {
		host, _, _ := net.SplitHostPort(p.Public)
		names := []string{}
		if host != "" {
			names = append(names, host)
		}
		if h, err := os.Hostname(); err == nil {
			names = append(names, h)
		}
		ca, err := proxy.EnsureLocalCA(filepath.Join(c.Data, "proxy-ca"), names, time.Now())
		if err != nil {
			return fail(err)
		}
		certFile, keyFile, p.CAFile = ca.CertFile, ca.KeyFile, ca.CAFile
	}
	tc, err := proxy.TLSConfig(certFile, keyFile)
	if err != nil {
		return fail(err)
	}
	fallback.TLSConfig = tc
	p.URL = "https://" + p.Public
	go func() { p.done <- p.srv.Serve(tls.NewListener(ln, tc)) }()
	return p, nil
}

// run reloads tokens until ctx ends.
func (p *proxyPart) run(ctx context.Context, log *slog.Logger) {
	p.auth.Run(ctx, time.Second, func(err error) { log.Error("reload proxy tokens", "err", err) })
}

// shutdown stops taking connections, lets tunnels finish until ctx ends,
// then closes them.
func (p *proxyPart) shutdown(ctx context.Context) {
	go p.srv.Shutdown(ctx)
	p.handler.Shutdown(ctx)
	p.srv.Close()
	if p.audit != nil {
		p.audit.Close()
	}
}

func localAddrs() []netip.Addr {
	addrs, _ := net.InterfaceAddrs()
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// proxyTokenFlags are the flags of each proxy token subcommand.
var proxyTokenFlags = map[string][]string{"add": {"data", "state", "user", "expires", "sign"}, "list": {"data", "state"}, "revoke": {"data", "state", "id"}}

// proxyCmd runs `waymark proxy token add|list|revoke`.
func proxyCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 || args[0] != "token" {
		return cli.Usagef("use waymark proxy token add|list|revoke")
	}
	sub, rest := args[1], args[2:]
	fs := cli.NewFlagSet("proxy token "+sub, stderr)
	data := fs.String("data", config.Defaults().Data, "data folder")
	stateURL := statestore.Flag(fs)
	user := fs.String("user", "", "user the token belongs to")
	expires := fs.String("expires", "", "lifetime, e.g. 12h or 90d (default: no expiry)")
	id := fs.String("id", "", "token id (see waymark proxy token list)")
	sign := fs.Bool("sign", false, "sign every plain-HTTP answer relayed to this token, asked for or not (default: when the request sends Accept-Signature)")
	fs, err := cli.SubFlagSet(fs, "proxy token "+sub, sub, proxyTokenFlags, stderr)
	if err != nil {
		return err
	}
	if err := cli.Parse(fs, rest, getenv); err != nil {
		return err
	}
	var ttl time.Duration
	if *expires != "" {
		d, err := parseDays(*expires)
		if err != nil || d <= 0 {
			return cli.Usagef("--expires %q: use a duration such as 12h or 90d", *expires)
		}
		ttl = d
	}
	switch sub {
	case "add":
		if err := proxytoken.ValidUser(*user); err != nil {
			return cli.Usagef("proxy token add needs --user: %v", err)
		}
	case "revoke":
		if *id == "" {
			return cli.Usagef("proxy token revoke needs --id (see waymark proxy token list)")
		}
	case "list":
	default:
		return cli.Usagef("unknown subcommand proxy token %s; use add, list or revoke", sub)
	}
	db, err := statestore.Open(ctx, *data, *stateURL)
	if err != nil {
		return err
	}
	defer db.Close()
	auth := &proxytoken.Authenticator{Store: db, Now: time.Now}
	switch sub {
	case "add":
		t, secret, err := auth.AddWith(ctx, *user, ttl, *sign)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token %s for %s (shown once; only its hash is kept):\n%s\n", t.ID, t.User, secret)
		fmt.Fprintf(stdout, "use it as: curl --proxy-user '%s:%s' ... or Proxy-Authorization: Bearer %s\n", t.User, secret, secret)
	case "list":
		toks, err := db.ProxyTokens(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSER\tCREATED\tEXPIRES\tSIGNED\tSTATE")
		for _, t := range toks {
			exp, state := "never", "active"
			if !t.Expires.IsZero() {
				exp = t.Expires.Format(time.RFC3339)
				if !time.Now().Before(t.Expires) {
					state = "expired"
				}
			}
			if t.Revoked {
				state = "revoked"
			}
			signed := "when asked"
			if t.Sign {
				signed = "always"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.User, t.Created.Format(time.RFC3339), exp, signed, state)
		}
		return tw.Flush()
	case "revoke":
		if err := db.RevokeProxyToken(ctx, *id); err != nil {
			if errors.Is(err, proxytoken.ErrNotFound) {
				return cli.Usagef("%v", err)
			}
			return err
		}
		fmt.Fprintf(stdout, "token %s revoked; a running proxy stops accepting it within a second and closes its tunnels\n", *id)
	}
	return nil
}

// parseDays reads a Go duration or a number of days ("90d").
func parseDays(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// bufferedFile collects writes and writes them out when 64 KiB are
// waiting or every interval, so a busy proxy does not make one system
// call per audit line. Close writes the rest.
type bufferedFile struct {
	mu     sync.Mutex
	f      *os.File
	w      *bufio.Writer
	cancel context.CancelFunc
	done   chan struct{}
}

func newBufferedFile(f *os.File, interval time.Duration) *bufferedFile {
	b := &bufferedFile{f: f, w: bufio.NewWriterSize(f, 64<<10), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go func() {
		defer close(b.done)
		runEvery(ctx, interval, func() {
			b.mu.Lock()
			b.w.Flush()
			b.mu.Unlock()
		})
	}()
	return b
}

func (b *bufferedFile) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

func (b *bufferedFile) Close() error {
	b.cancel()
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.w.Flush()
	if cerr := b.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// openSigningKeys opens the Ed25519 signing keys (making the first one):
// the data folder's, or with a shared state store the keys every node
// shares, reloaded at the sync interval so that a rotation through one
// node reaches all.
func openSigningKeys(ctx context.Context, c config.Serve, state statestore.Store, log *slog.Logger) (*integrity.Keyring, error) {
	var ring *integrity.Keyring
	var err error
	every := time.Minute
	if shared, ok := sharedKeys(c, state); ok {
		ring, err = integrity.OpenSharedKeyring(shared, time.Now())
		every = c.SyncInterval
	} else {
		ring, err = integrity.OpenKeyring(c.Data, time.Now())
	}
	if err != nil {
		return nil, err
	}
	go runEvery(ctx, every, func() {
		if err := ring.Reload(); err != nil {
			log.Error("signing keys not reloaded; the loaded ones stay", "err", err)
		}
	})
	return ring, nil
}

// sharedTokensMaxStale is how long a proxy trusts its copy of the tokens
// while the shared state store does not answer.
const sharedTokensMaxStale = 10 * time.Minute

// sharedKeys returns the shared store's signing keys when --state names one.
func sharedKeys(c config.Serve, state statestore.Store) (integrity.KeyStore, bool) {
	if c.State == "" {
		return nil, false
	}
	ks, ok := state.(integrity.KeyStore)
	return ks, ok
}

// egressPolicy is the proxy's egress policy from its configuration; the
// proxy adds its own addresses, and threat feeds are fetched under it too.
func egressPolicy(pc config.Proxy) *netguard.Policy {
	policy := &netguard.Policy{Allow: pc.AllowCIDRs, Deny: pc.DenyCIDRs, LocalAddrs: localAddrs()}
	for _, n := range pc.Ports {
		policy.Ports = append(policy.Ports, uint16(n))
	}
	return policy
}

// runEvery calls f every interval until ctx ends.
func runEvery(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}
