package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"waymark.dev/waymark/internal/admin"
	"waymark.dev/waymark/internal/cli"
	"waymark.dev/waymark/internal/collect"
	"waymark.dev/waymark/internal/config"
	"waymark.dev/waymark/internal/consent"
	"waymark.dev/waymark/internal/geo"
	"waymark.dev/waymark/internal/identity"
	"waymark.dev/waymark/internal/imported"
	"waymark.dev/waymark/internal/proxy"
	"waymark.dev/waymark/internal/proxytoken"
	"waymark.dev/waymark/internal/risk"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/spool"
	"waymark.dev/waymark/internal/statestore"
	"waymark.dev/waymark/internal/stats"
	"waymark.dev/waymark/internal/threats"
	"waymark.dev/waymark/internal/web"
	"waymark.dev/waymark/internal/webhook"
)

func ensureDir(d string) error {
	if err := os.MkdirAll(d, 0o700); err != nil {
		return fmt.Errorf("data folder %s: %w", d, err)
	}
	return nil
}

func newLogger(c *config.Serve, w io.Writer) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serveCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c := config.Defaults()
	fs := cli.NewFlagSet("serve", stderr)
	config.ServeFlags(fs, &c)
	if err := cli.Parse(fs, args, getenv); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	return Serve(ctx, c, stdout, stderr, nil)
}

// stateClosing, when set (by a test), is called just before Serve closes
// the state store, the last thing it closes.
var stateClosing func()

// Serve runs the server until ctx ends. ready, when set, is called with the
// web server's address once it accepts connections.
func Serve(ctx context.Context, c config.Serve, stdout, stderr io.Writer, ready func(addr string)) error {
	log := newLogger(&c, stderr)
	if c.GCPercent > 0 && c.HasPart(config.PartCollector) {
		// The live Go heap is small (DuckDB's memory is outside it) while
		// the collector allocates per request: collecting less often buys
		// throughput for little memory.
		debug.SetGCPercent(c.GCPercent)
	}
	if err := ensureDir(c.Data); err != nil {
		return err
	}
	// Everything opened below is closed by lc, after every background
	// loop has ended, whichever way Serve returns.
	lc := newLifecycle()
	defer lc.Close()
	state, err := statestore.Open(ctx, c.Data, c.State)
	if err != nil {
		return err
	}
	lc.OnClose(func() {
		if stateClosing != nil {
			stateClosing()
		}
		state.Close()
	})
	if !c.ServesWeb() {
		return serveProxyOnly(ctx, lc, c, state, log, stdout, ready)
	}
	// Collectors write events and the dashboard reads them; an identity
	// node needs no event store.
	var events eventStore
	if c.HasPart(config.PartCollector) || c.HasPart(config.PartDashboard) {
		if events, err = openEvents(ctx, c, log.With("component", "events")); err != nil {
			return err
		}
		lc.OnClose(func() { events.Close() })
	}

	if c.Demo {
		err := state.AddSite(ctx, demoSite())
		if err != nil && !errors.Is(err, site.ErrExists) {
			return err
		}
		if err == nil {
			// First run: a week of synthetic visits, so the dashboard
			// has something to show before anyone browses the shop.
			if _, err := demoTraffic(ctx, events, time.Now(), 7, 20000, uint64(time.Now().UnixNano())); err != nil {
				return fmt.Errorf("demo traffic: %w", err)
			}
		}
	}
	generated, err := admin.Setup(ctx, state, c.AdminPassword)
	if err != nil {
		return fmt.Errorf("admin password: %w", err)
	}
	sites, err := site.NewRegistry(ctx, state, log.With("component", "sites"))
	if err != nil {
		return err
	}
	spam := c.ReferrerSpam
	for _, f := range c.ReferrerSpamFiles {
		list, err := collect.ReadSpamFile(f)
		if err != nil {
			return fmt.Errorf("--referrer-spam-file: %w", err)
		}
		spam = append(spam, list...)
	}
	bots, err := collect.NewBotMatcher(spam...)
	if err != nil {
		return err
	}
	agents := collect.NewAgentParser(bots, 10000)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	places, err := openGeo(c, log.With("component", "geo"))
	if err != nil {
		return err
	}
	var col *collection
	if c.HasPart(config.PartCollector) {
		if col, err = startCollection(ctx, c, state, sites, events, bots, agents, places, reg, log); err != nil {
			return err
		}
		lc.OnClose(col.close) // stops taking hits; the ingester ends before the stores close
	}
	var id *identityPart
	if c.HasPart(config.PartIdentity) {
		if id, err = startIdentity(ctx, c, state, places, log); err != nil {
			return err
		}
	}
	// Both event stores keep daily rollups; every node builds them (in
	// ClickHouse two builds of a day at once are harmless, see
	// internal/clickhouse/rollups.go).
	var rollups *stats.RollupBuilder
	if rs, ok := events.(stats.RollupStore); ok && c.HasPart(config.PartDashboard) {
		rollups = &stats.RollupBuilder{Store: rs, Sites: sites.All, Now: time.Now, Log: log.With("component", "rollups")}
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "waymark_rollup_days_built_total", Help: "Daily rollups built (a day whose raw data changed is built again)."},
			func() float64 { return float64(rollups.Built.Load()) }))
	}

	var checker *threats.Checker
	if c.HasPart(config.PartIdentity) || c.HasPart(config.PartProxy) {
		if checker, err = startThreats(ctx, lc, c, state, log.With("component", "threats")); err != nil {
			return err
		}
	}
	signingKeys, err := openSigningKeys(ctx, c, state, log.With("component", "integrity"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	lc.OnClose(func() { ln.Close() })
	var px *proxyPart
	pac := ""
	var proxyAuth *proxytoken.Authenticator
	if c.HasPart(config.PartProxy) {
		if px, err = startProxy(ctx, c, state, checker, signingKeys, reg, log, ln.Addr().String()); err != nil {
			return err
		}
		pac, proxyAuth = proxy.PAC(px.Public), px.auth
	}

	deps := web.Deps{
		ProxyPAC: pac, ProxyAuth: proxyAuth, SigningKeys: signingKeys,
		Log: log, Sites: sites, SiteStore: state, Agents: agents, Now: time.Now,
		TrustedProxies: c.TrustedProxies, Registry: reg, Demo: c.Demo, DemoDomain: DemoDomain, DataDir: c.Data,
		Admin: &admin.Auth{Store: state, Now: time.Now}, Throttle: &admin.Throttle{Now: time.Now},
		Ready: func(ctx context.Context) error {
			if col != nil && !col.ingesting.Load() {
				return errors.New("ingester not running")
			}
			return nil
		},
	}
	if col != nil {
		deps.Collector = col.collector
	}
	if c.HasPart(config.PartDashboard) {
		deps.Stats = events
		if is, ok := events.(imported.Store); ok {
			deps.Imports = is
		}
	}
	deps.Geo = places
	if id != nil {
		deps.Consent, deps.Risk, deps.Threats = id.consent, id.risk, checker
	}
	srv := &http.Server{
		Handler:           web.New(deps),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// The loops end when lc closes, which is after the HTTP server has
	// stopped: the ingester then drains the spool and the recorder writes
	// pending receipts, before the stores close.
	ingestErr := make(chan error, 1)
	if col != nil {
		col.ingesting.Store(true)
		lc.Go(func(ctx context.Context) {
			err := col.ingester.Run(ctx, c.ShutdownGrace)
			col.ingesting.Store(false)
			if err != nil {
				log.Error("ingester stopped", "err", err)
			}
			ingestErr <- err
		})
		lc.Go(func(ctx context.Context) { col.visitors.Run(ctx, time.Minute) })
	}
	lc.Go(func(ctx context.Context) { sites.Run(ctx, time.Second) })
	lc.Go(func(ctx context.Context) { places.Watch(ctx, time.Minute) })
	if rollups != nil {
		lc.Go(func(ctx context.Context) { rollups.Run(ctx, time.Minute) })
	}
	if px != nil {
		lc.Go(func(ctx context.Context) { px.run(ctx, log) })
	}
	if id != nil {
		if id.hooks != nil {
			lc.Go(id.hooks.Run)
		}
		lc.Go(id.recorder.Run)
		refresh := time.Minute
		if c.State != "" {
			refresh = c.SyncInterval // keys rotated through another node
		}
		lc.Go(func(ctx context.Context) {
			runEvery(ctx, refresh, func() {
				if err := id.ring.Refresh(ctx, state); err != nil && ctx.Err() == nil {
					log.Error("reload identity keys", "err", err)
				}
			})
		})
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	addr := ln.Addr().String()
	fmt.Fprintf(stdout, "Waymark is running: http://%s/\n", addr)
	if c.Demo {
		fmt.Fprintf(stdout, "Demo shop:          http://%s/demo/\n", addr)
	}
	if c.HasPart(config.PartDashboard) {
		fmt.Fprintf(stdout, "Dashboard:          http://%s/dashboard\n", addr)
	}
	switch {
	case generated != "":
		fmt.Fprintf(stdout, "Admin password:     %s   (shown once; set WAYMARK_ADMIN_PASSWORD to choose your own)\n", generated)
	case c.AdminPassword != "":
		fmt.Fprintf(stdout, "Admin password:     the one in WAYMARK_ADMIN_PASSWORD\n")
	default:
		fmt.Fprintf(stdout, "Admin password:     printed on the first run; set WAYMARK_ADMIN_PASSWORD to replace it\n")
	}
	if px != nil {
		printProxy(stdout, px, c.Data, addr)
	}
	fmt.Fprintf(stdout, "Data folder:        %s\nStats API token:    waymark token add --data %s --name me\n", c.Data, c.Data)
	printGeo(stdout, places, c.Data)
	log.Info("listening", "addr", addr, "data", c.Data, "parts", c.Parts)
	if ready != nil {
		ready(addr)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-serveErr:
	case runErr = <-ingestErr:
	case runErr = <-proxyDone(px):
	}
	log.Info("shutting down")
	// Order: stop taking hits, write the spool's tail, let the ingester
	// drain it into the store, then close the stores (deferred).
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownGrace)
	defer cancel()
	if px != nil {
		px.shutdown(sctx)
	}
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	col.close()
	lc.Close() // the loops end (the ingester drains the spool), then the stores close
	if col != nil {
		log.Info("stopped", "events_stored", col.ingester.Stats.Events.Load())
	} else {
		log.Info("stopped")
	}
	if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	return runErr
}

// collection is the collector part: the spool that acknowledges hits and
// the ingester that moves them into the event store.
type collection struct {
	collector *collect.Collector
	spool     *spool.Spool
	ingester  *collect.Ingester
	visitors  *collect.Visitors
	ingesting atomic.Bool
}

func startCollection(ctx context.Context, c config.Serve, state statestore.Store, sites *site.Registry, events eventStore,
	bots *collect.BotMatcher, agents *collect.AgentParser, places *geo.Resolver, reg *prometheus.Registry, log *slog.Logger) (*collection, error) {
	visitors, err := collect.NewVisitors(ctx, state, time.Now, log.With("component", "visitors"))
	if err != nil {
		return nil, err
	}
	sp, err := spool.Open(filepath.Join(c.Data, "spool"), c.SpoolSegBytes, c.SpoolMaxBytes, log.With("component", "spool"))
	if err != nil {
		return nil, err
	}
	col := &collection{spool: sp, visitors: visitors}
	col.collector = &collect.Collector{
		Sites:    sites,
		Enricher: &collect.Enricher{Agents: agents, Bots: bots, Visitors: visitors, Places: places, Now: time.Now},
		Spool:    sp,
	}
	col.ingester = &collect.Ingester{
		Spool: sp, Store: events, Log: log.With("component", "ingester"),
		BatchSize: c.BatchSize, FlushInterval: c.FlushInterval, MaxLiveBytes: c.SessionMemoryMB << 20,
		Retention: func() map[string]time.Time {
			m := map[string]time.Time{}
			for _, s := range sites.All() {
				if s.RetentionDays > 0 {
					m[s.Domain] = time.Now().AddDate(0, 0, -s.RetentionDays)
				}
			}
			return m
		},
	}
	st := &col.ingester.Stats
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "waymark_events_stored_total", Help: "Events written to the event store."},
		func() float64 { return float64(st.Events.Load()) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "waymark_store_write_errors_total", Help: "Failed batch writes (retried)."},
		func() float64 { return float64(st.WriteErrors.Load()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "waymark_sessions_live", Help: "Sessions held in memory by the ingester."},
		func() float64 { return float64(st.LiveSession.Load()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "waymark_sessions_live_bytes", Help: "Memory the live sessions hold, bounded by --session-memory."},
		func() float64 { return float64(st.LiveBytes.Load()) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "waymark_sessions_evicted_total", Help: "Visits ended early to keep the live sessions within --session-memory."},
		func() float64 { return float64(st.Evicted.Load()) }))
	return col, nil
}

// close stops taking hits (nil: no collector).
func (col *collection) close() {
	if col != nil {
		col.spool.Close()
	}
}

// identityPart is the identity part: consent, remembered details and
// account security.
type identityPart struct {
	ring     *identity.Ring
	consent  *web.ConsentDeps
	recorder *consent.Recorder
	risk     *risk.Service
	hooks    *webhook.Sender
}

func startIdentity(ctx context.Context, c config.Serve, state statestore.Store, places *geo.Resolver, log *slog.Logger) (*identityPart, error) {
	ring, err := identity.LoadRing(ctx, state, time.Now())
	if err != nil {
		return nil, fmt.Errorf("identity keys: %w", err)
	}
	policy := consent.DefaultPolicy()
	if c.ConsentPolicy != "" {
		b, err := os.ReadFile(c.ConsentPolicy)
		if err != nil {
			return nil, fmt.Errorf("consent policy: %w", err)
		}
		if policy, err = consent.LoadPolicy(b); err != nil {
			return nil, fmt.Errorf("consent policy %s: %w", c.ConsentPolicy, err)
		}
	}
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	id := &identityPart{ring: ring, recorder: consent.NewRecorder(state, 256)}
	id.consent = &web.ConsentDeps{Policy: policy, Store: state, Recorder: id.recorder,
		Visitor:  identity.NewCodec(ring, "visitor", identity.MaxAge, time.Now),
		Decision: identity.NewCodec(ring, "consent", policy.Expiry, time.Now),
		Ring:     ring, Remembered: state}
	id.risk = &risk.Service{Store: state, Policy: risk.DefaultPolicy(), Now: time.Now, Places: riskPlaces{places}}
	// With the embedded store, login decisions append their writes to a
	// journal and return; a background writer applies them
	// (riskjournal.go), so no decision waits for a disk sync.
	if j, ok := state.(statestore.RiskJournaled); ok {
		if err := j.EnableRiskJournal(ctx, filepath.Join(c.Data, statestore.RiskJournalFile), log.With("component", "risk_journal")); err != nil {
			return nil, err
		}
		if err := j.LoadRecentLogins(ctx); err != nil {
			return nil, err
		}
	}
	if c.RiskWebhook != "" {
		id.hooks = webhook.NewSender(c.RiskWebhook, []byte(c.RiskWebhookSecret), log.With("component", "webhook"))
		id.risk.Notify = func(e risk.Event) { id.hooks.Send(e) }
	}
	return id, nil
}

func proxyDone(p *proxyPart) <-chan error {
	if p == nil {
		return nil
	}
	return p.done
}

func printProxy(w io.Writer, p *proxyPart, data, webAddr string) {
	fmt.Fprintf(w, "Secure proxy:       %s   (PAC file: http://%s/proxy.pac)\n", p.URL, webAddr)
	if p.CAFile != "" {
		fmt.Fprintf(w, "Proxy CA:           %s   (curl --proxy-cacert; add it to a browser to trust the proxy)\n", p.CAFile)
	}
	fmt.Fprintf(w, "Proxy token:        waymark proxy token add --data %s --user me\n", data)
}

// serveProxyOnly runs the proxy part alone (--parts proxy), with a small
// operations server on --addr for /healthz, /metrics and /proxy.pac.
func serveProxyOnly(ctx context.Context, lc *lifecycle, c config.Serve, state statestore.Store, log *slog.Logger, stdout io.Writer, ready func(string)) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	checker, err := startThreats(ctx, lc, c, state, log.With("component", "threats"))
	if err != nil {
		return err
	}
	signingKeys, err := openSigningKeys(ctx, c, state, log.With("component", "integrity"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	lc.OnClose(func() { ln.Close() })
	px, err := startProxy(ctx, c, state, checker, signingKeys, reg, log, ln.Addr().String())
	if err != nil {
		return err
	}
	ops := &http.Server{Handler: web.Ops(reg, proxy.PAC(px.Public)), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	opsDone := make(chan error, 1)
	go func() { opsDone <- ops.Serve(ln) }()
	lc.Go(func(ctx context.Context) { px.run(ctx, log) })
	addr := ln.Addr().String()
	printProxy(stdout, px, c.Data, addr)
	fmt.Fprintf(stdout, "Health and metrics: http://%s/healthz http://%s/metrics\n", addr, addr)
	log.Info("proxy listening", "proxy", px.URL, "ops", addr)
	if ready != nil {
		ready(addr)
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-px.done:
	case runErr = <-opsDone:
	}
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownGrace)
	defer cancel()
	px.shutdown(sctx)
	ops.Shutdown(sctx)
	if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	return runErr
}
