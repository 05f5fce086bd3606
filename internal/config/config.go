// Package config holds Waymark's typed configuration and its loading from
// defaults, WAYMARK_* environment variables and command-line flags, in
// that order of precedence, validated all at once.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Serve configures `waymark serve`.
type Serve struct {
	Addr           string
	Data           string
	Demo           bool
	TrustedProxies []netip.Prefix
	LogLevel       string
	LogFormat      string

	SpoolMaxBytes int64
	SpoolSegBytes int64
	BatchSize     int
	FlushInterval time.Duration
	DuckDBMemory  string
	// Events is the event store: empty for the embedded DuckDB file in
	// the data folder, or clickhouse://user:password@host:8123/database
	// for a ClickHouse server shared by many collectors.
	Events string
	// State is the state store: empty for state.db in the data folder, or
	// postgres://user:password@host:5432/database shared by many nodes.
	State string
	// SyncInterval is how often a node with a shared state store looks
	// for what other nodes changed: threat entries, signing and identity
	// keys.
	SyncInterval  time.Duration
	ShutdownGrace time.Duration
	ReferrerSpam  []string
	// ReferrerSpamFiles are lists of referrer-spam domains, one a line
	// (the community list's spammers.txt as it is).
	ReferrerSpamFiles []string
	GCPercent         int
	// SessionMemoryMB bounds the memory of the ingester's live sessions
	// (MiB); past it the least recently hit visits end early.
	SessionMemoryMB int
	// GeoIP are geolocation databases (MaxMind format) and ASNDB ASN
	// databases (MaxMind format or CSV ranges); DATA/geo is searched too.
	// GeoPrecision is what analytics keeps: country, region or city.
	GeoIP, ASNDB []string
	GeoPrecision string
	// AdminPassword, when set, is the dashboard's admin password
	// (WAYMARK_ADMIN_PASSWORD); otherwise one is generated on first run.
	AdminPassword string
	// ConsentPolicy is a JSON file with the consent policy (purposes,
	// texts, version); empty: the built-in policy.
	ConsentPolicy string
	// RiskWebhook receives new-device logins and stolen-cookie signals,
	// signed with RiskWebhookSecret.
	RiskWebhook, RiskWebhookSecret string

	// Parts are the parts this process serves: "collector" (beacons),
	// "dashboard" (stats API, dashboard), "identity" (consent,
	// remembered details, account security, link checks) and "proxy";
	// "web" stands for the first three.
	Parts []string
	// Proxy configures the secure network channel.
	Proxy Proxy
	// Threats configures the high-risk site protection.
	Threats Threats
}

// Threats configures lookalike detection (the threat lists themselves
// live in the data folder's threats.db; see waymark threats import).
type Threats struct {
	// Protect are registrable domains or host names (the operator's
	// own, its brands', its login hosts) whose lookalikes are flagged:
	// strong ones block, weak ones warn.
	Protect []string
	// LookalikeAllow are domains or hosts never flagged as lookalikes.
	LookalikeAllow []string
	// MaxEdits is the edit distance at which a name counts as a typo of
	// a protected one (0 turns that check off).
	MaxEdits int
}

// Proxy configures the secure forward proxy.
type Proxy struct {
	Addr string // listen address
	// Public is the host:port clients use (PAC file, printed URL);
	// default Addr.
	Public string
	// Plain serves the proxy without TLS (loopback addresses only).
	Plain bool
	// CertFile and KeyFile are the operator's certificate; empty: a
	// local CA in the data folder signs one.
	CertFile, KeyFile string
	// AllowCIDRs are special ranges the proxy may reach anyway; DenyCIDRs
	// are never reached.
	AllowCIDRs, DenyCIDRs []netip.Prefix
	Ports                 []int
	// AllowHosts and DenyHosts are host patterns for every user; UserHosts
	// is a JSON file with per-user rules.
	AllowHosts, DenyHosts []string
	UserHosts             string
	// ReportOnly logs egress denials and lets the traffic through.
	ReportOnly bool
	// HTTPSFirst fetches http:// URLs over HTTPS when the origin has it.
	HTTPSFirst bool
	// HTTPSOnly hosts are never fetched over plain HTTP.
	HTTPSOnly []string
	// Sign is which relayed plain-HTTP answers are signed: requested
	// (when the request sends Accept-Signature), always or never;
	// SignHosts' answers always are.
	Sign      string
	SignHosts []string
	// Rate (requests per second per user, with Burst) and Tunnels
	// (concurrent CONNECT tunnels per user) bound each user; 0: no limit.
	Rate    float64
	Burst   int
	Tunnels int
	// IdleTimeout closes tunnels with no traffic for this long.
	IdleTimeout time.Duration
	// AuditLog is the file audit lines are appended to (JSON lines);
	// default proxy-audit.log in the data folder, "-" for the log.
	AuditLog string
}

// Part is a part a process can serve (--parts).
type Part string

// The parts; "web" in --parts stands for the first three.
const (
	PartCollector Part = "collector" // beacons, the spool and the ingester
	PartDashboard Part = "dashboard" // the stats API and the dashboard
	PartIdentity  Part = "identity"  // consent, remembered details, account security, link checks
	PartProxy     Part = "proxy"     // the secure proxy
	partWeb            = "web"
)

// webParts are the parts "web" stands for.
var webParts = []Part{PartCollector, PartDashboard, PartIdentity}

// HasPart says whether the process serves part p.
func (c *Serve) HasPart(p Part) bool {
	for _, x := range c.Parts {
		if Part(x) == p || x == partWeb && slices.Contains(webParts, p) {
			return true
		}
	}
	return false
}

// ServesWeb says whether the process serves any of the web parts.
func (c *Serve) ServesWeb() bool {
	return slices.ContainsFunc(webParts, c.HasPart)
}

// Defaults returns the configuration a newcomer gets.
func Defaults() Serve {
	return Serve{
		Addr:            "127.0.0.1:8080",
		Data:            "waymark-data",
		LogLevel:        "info",
		LogFormat:       "text",
		SpoolMaxBytes:   1 << 30,
		SpoolSegBytes:   16 << 20,
		BatchSize:       20000,
		FlushInterval:   200 * time.Millisecond,
		DuckDBMemory:    "1GB",
		ShutdownGrace:   20 * time.Second,
		SyncInterval:    5 * time.Second,
		GCPercent:       400,
		SessionMemoryMB: 256,
		GeoPrecision:    "city",
		Parts:           []string{string(PartCollector), string(PartDashboard), string(PartIdentity), string(PartProxy)},
		Threats:         Threats{MaxEdits: 1},
		Proxy: Proxy{
			HTTPSFirst:  true,
			Addr:        "127.0.0.1:8443",
			Ports:       []int{80, 443},
			Rate:        200,
			Burst:       400,
			Tunnels:     256,
			IdleTimeout: 5 * time.Minute,
		},
	}
}

type prefixList struct{ p *[]netip.Prefix }

func (l prefixList) String() string {
	if l.p == nil {
		return ""
	}
	s := make([]string, len(*l.p))
	for i, p := range *l.p {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func (l prefixList) Set(v string) error {
	*l.p = nil
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			a, err2 := netip.ParseAddr(part)
			if err2 != nil {
				return fmt.Errorf("%q is not a CIDR prefix or IP address", part)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		*l.p = append(*l.p, p.Masked())
	}
	return nil
}

type intList struct{ p *[]int }

func (l intList) String() string {
	if l.p == nil {
		return ""
	}
	s := make([]string, len(*l.p))
	for i, n := range *l.p {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func (l intList) Set(v string) error {
	*l.p = nil
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		*l.p = append(*l.p, n)
	}
	return nil
}

type stringList struct{ p *[]string }

func (l stringList) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l stringList) Set(v string) error {
	*l.p = nil
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l.p = append(*l.p, s)
		}
	}
	return nil
}

// ServeFlags registers serve's flags on fs, bound to c.
func ServeFlags(fs *flag.FlagSet, c *Serve) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "address of the web server (collector, APIs, demo)")
	fs.StringVar(&c.Data, "data", c.Data, "data folder for the embedded stores and the spool")
	fs.BoolVar(&c.Demo, "demo", c.Demo, "serve the demo shop at /demo/ and register its site")
	fs.Var(prefixList{&c.TrustedProxies}, "trusted-proxies", "comma-separated CIDRs whose X-Forwarded-For is believed (default: none)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	fs.Int64Var(&c.SpoolMaxBytes, "spool-max-bytes", c.SpoolMaxBytes, "bound on the spool's size; beyond it hits get 503")
	fs.Int64Var(&c.SpoolSegBytes, "spool-segment-bytes", c.SpoolSegBytes, "size at which the spool starts a new segment file")
	fs.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "most hits written to the event store per batch")
	fs.DurationVar(&c.FlushInterval, "flush-interval", c.FlushInterval, "longest wait before a batch is written")
	fs.StringVar(&c.DuckDBMemory, "duckdb-memory", c.DuckDBMemory, "DuckDB memory limit, e.g. 1GB")
	fs.StringVar(&c.State, "state", c.State, "state store: empty for state.db in the data folder, or postgres://user:password@host:5432/database")
	fs.DurationVar(&c.SyncInterval, "sync-interval", c.SyncInterval, "with --state postgres://: how often to load threat entries and keys that other nodes changed")
	fs.StringVar(&c.Events, "events", c.Events, "event store: empty for the embedded DuckDB file, or clickhouse://user:password@host:8123/database")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", c.ShutdownGrace, "time allowed for a graceful shutdown")
	fs.Var(stringList{&c.ReferrerSpam}, "referrer-spam", "extra comma-separated referrer-spam domains")
	fs.Var(stringList{&c.ReferrerSpamFiles}, "referrer-spam-file", "files of referrer-spam domains, one a line (such as the community list's spammers.txt), comma-separated")
	fs.Var(stringList{&c.GeoIP}, "geoip", "geolocation databases, comma-separated (MaxMind GeoIP2/GeoLite2, DB-IP or ip-location-db .mmdb); *.mmdb in DATA/geo are used too")
	fs.Var(stringList{&c.ASNDB}, "asn-db", "ASN databases, comma-separated (.mmdb, or CSV ranges: first,last,asn,organisation); *.csv in DATA/geo are used too")
	fs.StringVar(&c.GeoPrecision, "geo-precision", c.GeoPrecision, "how much of a visitor's place analytics keeps: country, region or city")
	fs.IntVar(&c.GCPercent, "gc-percent", c.GCPercent, "Go garbage-collector target percentage (GOGC); 0 keeps the runtime's setting")
	fs.IntVar(&c.SessionMemoryMB, "session-memory", c.SessionMemoryMB, "MiB the ingester's live sessions may hold; past it the least recently active visits end early (waymark_sessions_evicted_total)")
	fs.StringVar(&c.RiskWebhook, "risk-webhook", c.RiskWebhook, "URL that receives new-device logins and stolen device cookies (JSON, signed)")
	fs.StringVar(&c.RiskWebhookSecret, "risk-webhook-secret", c.RiskWebhookSecret, "secret of the webhook's HMAC-SHA256 signature (prefer WAYMARK_RISK_WEBHOOK_SECRET)")
	fs.StringVar(&c.ConsentPolicy, "consent-policy", c.ConsentPolicy, "JSON file with the consent policy (see docs/CONSENT.md); default: the built-in one")
	fs.Var(stringList{&c.Parts}, "parts", "parts to serve, comma-separated: collector (beacons), dashboard (stats API and dashboard), identity (consent, remembered details, account security, link checks), proxy; web means the first three")
	fs.StringVar(&c.Proxy.Addr, "proxy-addr", c.Proxy.Addr, "address of the secure proxy")
	fs.StringVar(&c.Proxy.Public, "proxy-public", c.Proxy.Public, "host:port clients use to reach the proxy (PAC file); default --proxy-addr")
	fs.BoolVar(&c.Proxy.Plain, "proxy-plain", c.Proxy.Plain, "serve the proxy without TLS (loopback addresses only; for local tools)")
	fs.StringVar(&c.Proxy.CertFile, "proxy-cert", c.Proxy.CertFile, "PEM certificate of the proxy; default: one signed by a local CA in the data folder")
	fs.StringVar(&c.Proxy.KeyFile, "proxy-key", c.Proxy.KeyFile, "PEM private key of --proxy-cert")
	fs.Var(prefixList{&c.Proxy.AllowCIDRs}, "proxy-allow-cidrs", "special-use ranges the proxy may reach anyway (comma-separated CIDRs)")
	fs.Var(prefixList{&c.Proxy.DenyCIDRs}, "proxy-deny-cidrs", "ranges the proxy never reaches (comma-separated CIDRs)")
	fs.Var(intList{&c.Proxy.Ports}, "proxy-ports", "destination ports the proxy connects to")
	fs.Var(stringList{&c.Proxy.AllowHosts}, "proxy-allow-hosts", "only these hosts (\"example.com\", \"*.example.com\"); default: any")
	fs.Var(stringList{&c.Proxy.DenyHosts}, "proxy-deny-hosts", "never these hosts (\"example.com\", \"*.example.com\")")
	fs.StringVar(&c.Proxy.UserHosts, "proxy-user-hosts", c.Proxy.UserHosts, "JSON file of per-user host rules: {\"alice\": {\"allow\": [...], \"deny\": [...]}}")
	fs.Var(stringList{&c.Threats.Protect}, "protect", "domains or host names whose lookalikes the proxy and the link check flag (comma-separated, e.g. example.com,login.example.org)")
	fs.Var(stringList{&c.Threats.LookalikeAllow}, "lookalike-allow", "domains never taken for lookalikes (comma-separated)")
	fs.IntVar(&c.Threats.MaxEdits, "lookalike-edits", c.Threats.MaxEdits, "edit distance at which a name counts as a typo of a protected domain (0: off)")
	fs.BoolVar(&c.Proxy.HTTPSFirst, "proxy-https-first", c.Proxy.HTTPSFirst, "fetch http:// URLs over HTTPS when the site has it (Waymark-Upgrade says what happened)")
	fs.StringVar(&c.Proxy.Sign, "proxy-sign", "requested", "which relayed plain-HTTP answers get Content-Digest and a signature: requested (the request sends Accept-Signature, or its token was made with --sign), always or never")
	fs.Var(stringList{&c.Proxy.SignHosts}, "proxy-sign-hosts", "hosts whose relayed answers are always signed (\"example.com\", \"*.example.com\")")
	fs.Var(stringList{&c.Proxy.HTTPSOnly}, "proxy-https-only", "hosts never fetched over plain HTTP (\"example.com\", \"*.example.com\")")
	fs.BoolVar(&c.Proxy.ReportOnly, "proxy-report-only", c.Proxy.ReportOnly, "log what the egress policy would deny, and allow it")
	fs.Float64Var(&c.Proxy.Rate, "proxy-rate", c.Proxy.Rate, "requests per second per proxy user (0: unlimited)")
	fs.IntVar(&c.Proxy.Burst, "proxy-burst", c.Proxy.Burst, "burst above --proxy-rate")
	fs.IntVar(&c.Proxy.Tunnels, "proxy-tunnels", c.Proxy.Tunnels, "open CONNECT tunnels per proxy user (0: unlimited)")
	fs.DurationVar(&c.Proxy.IdleTimeout, "proxy-idle-timeout", c.Proxy.IdleTimeout, "close tunnels idle this long")
	fs.StringVar(&c.Proxy.AuditLog, "proxy-audit-log", c.Proxy.AuditLog, "file for the proxy's audit lines (JSON); default proxy-audit.log in the data folder; - for the log")
	fs.StringVar(&c.AdminPassword, "admin-password", c.AdminPassword, "dashboard admin password (prefer WAYMARK_ADMIN_PASSWORD: flags show in the process list); generated on first run when unset")
}

// ApplyEnv sets every flag of fs that has a WAYMARK_<NAME> variable (name
// upper-cased, '-' as '_'), before the command line is parsed so flags win.
func ApplyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		name := "WAYMARK_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	})
	return errors.Join(errs...)
}

// Validate checks the whole configuration and reports every problem.
func (c *Serve) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("--addr is empty"))
	}
	if c.Data == "" {
		errs = append(errs, errors.New("--data is empty"))
	}
	if c.SpoolMaxBytes < 1<<20 {
		errs = append(errs, errors.New("--spool-max-bytes must be at least 1 MiB"))
	}
	if c.Threats.MaxEdits < 0 || c.Threats.MaxEdits > 3 {
		errs = append(errs, errors.New("--lookalike-edits must be 0 to 3"))
	}
	switch c.Proxy.Sign {
	case "requested", "always", "never":
	default:
		errs = append(errs, fmt.Errorf("--proxy-sign %q: use requested, always or never", c.Proxy.Sign))
	}
	if c.RiskWebhook != "" {
		u, err := url.Parse(c.RiskWebhook)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, errors.New("--risk-webhook must be an http(s) URL"))
		}
		if len(c.RiskWebhookSecret) < 16 {
			errs = append(errs, errors.New("--risk-webhook needs --risk-webhook-secret of at least 16 characters"))
		}
	}
	if c.SpoolSegBytes < 4096 || c.SpoolSegBytes > c.SpoolMaxBytes {
		errs = append(errs, errors.New("--spool-segment-bytes must be from 4096 to --spool-max-bytes"))
	}
	if c.Events != "" && !strings.HasPrefix(c.Events, "clickhouse://") {
		errs = append(errs, fmt.Errorf("--events %q: use clickhouse://host:port/database, or leave it empty for the embedded store", redactURL(c.Events)))
	}
	if c.State != "" && !strings.HasPrefix(c.State, "postgres://") && !strings.HasPrefix(c.State, "postgresql://") {
		errs = append(errs, fmt.Errorf("--state %q: use postgres://host:port/database, or leave it empty for the embedded store", redactURL(c.State)))
	}
	if c.SyncInterval < 100*time.Millisecond || c.SyncInterval > time.Hour {
		errs = append(errs, errors.New("--sync-interval must be from 100ms to 1h"))
	}
	if c.BatchSize < 1 {
		errs = append(errs, errors.New("--batch-size must be positive"))
	}
	if c.SessionMemoryMB < 1 || c.SessionMemoryMB > 1<<20 {
		errs = append(errs, errors.New("--session-memory must be from 1 to 1048576 (MiB)"))
	}
	switch c.GeoPrecision {
	case "country", "region", "city":
	default:
		errs = append(errs, fmt.Errorf("--geo-precision must be country, region or city, not %q", c.GeoPrecision))
	}
	if c.FlushInterval <= 0 {
		errs = append(errs, errors.New("--flush-interval must be positive"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q: use debug, info, warn or error", c.LogLevel))
	}
	if len(c.Parts) == 0 {
		errs = append(errs, errors.New("--parts is empty: give collector, dashboard, identity, proxy (or web for the first three)"))
	}
	for _, p := range c.Parts {
		switch Part(p) {
		case partWeb, PartCollector, PartDashboard, PartIdentity, PartProxy:
		default:
			errs = append(errs, fmt.Errorf("--parts: unknown part %q (use collector, dashboard, identity, proxy, or web for the first three)", p))
		}
	}
	if c.Demo && !(c.HasPart(PartCollector) && c.HasPart(PartDashboard) && c.HasPart(PartIdentity)) {
		errs = append(errs, errors.New("--demo needs the collector, dashboard and identity parts"))
	}
	if c.HasPart(PartProxy) {
		errs = append(errs, c.Proxy.validate()...)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: use text or json", c.LogFormat))
	}
	return errors.Join(errs...)
}

func (p *Proxy) validate() []error {
	var errs []error
	if p.Addr == "" {
		errs = append(errs, errors.New("--proxy-addr is empty"))
	} else if p.Plain {
		host, _, err := net.SplitHostPort(p.Addr)
		ip, perr := netip.ParseAddr(host)
		if err != nil || host != "localhost" && (perr != nil || !ip.IsLoopback()) {
			errs = append(errs, fmt.Errorf("--proxy-plain needs a loopback --proxy-addr (got %q): without TLS, tokens and traffic would cross the network in clear", p.Addr))
		}
	}
	if p.Public != "" {
		if _, _, err := net.SplitHostPort(p.Public); err != nil || strings.ContainsAny(p.Public, "\"'\\ ;") {
			errs = append(errs, fmt.Errorf("--proxy-public %q must be host:port", p.Public))
		}
	}
	if (p.CertFile == "") != (p.KeyFile == "") {
		errs = append(errs, errors.New("--proxy-cert and --proxy-key go together"))
	}
	if len(p.Ports) == 0 {
		errs = append(errs, errors.New("--proxy-ports is empty"))
	}
	for _, n := range p.Ports {
		if n < 1 || n > 65535 {
			errs = append(errs, fmt.Errorf("--proxy-ports: %d is not a port", n))
		}
	}
	if p.Rate < 0 || p.Burst < 0 || p.Tunnels < 0 {
		errs = append(errs, errors.New("--proxy-rate, --proxy-burst and --proxy-tunnels cannot be negative"))
	}
	if p.IdleTimeout < time.Second {
		errs = append(errs, errors.New("--proxy-idle-timeout must be at least 1s"))
	}
	return errs
}

// redactURL hides a URL's password in messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
