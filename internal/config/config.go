// Package config holds Waymark's typed configuration and its loading from
// defaults, WAYMARK_* environment variables and command-line flags, in
// that order of precedence, validated all at once.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"net/url"
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
	ShutdownGrace time.Duration
	ReferrerSpam  []string
	GCPercent     int
	// AdminPassword, when set, is the dashboard's admin password
	// (WAYMARK_ADMIN_PASSWORD); otherwise one is generated on first run.
	AdminPassword string
	// ConsentPolicy is a JSON file with the consent policy (purposes,
	// texts, version); empty: the built-in policy.
	ConsentPolicy string
	// RiskWebhook receives new-device logins and stolen-cookie signals,
	// signed with RiskWebhookSecret.
	RiskWebhook, RiskWebhookSecret string
}

// Defaults returns the configuration a newcomer gets.
func Defaults() Serve {
	return Serve{
		Addr:          "127.0.0.1:8080",
		Data:          "waymark-data",
		LogLevel:      "info",
		LogFormat:     "text",
		SpoolMaxBytes: 1 << 30,
		SpoolSegBytes: 16 << 20,
		BatchSize:     20000,
		FlushInterval: 200 * time.Millisecond,
		DuckDBMemory:  "1GB",
		ShutdownGrace: 20 * time.Second,
		GCPercent:     400,
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
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", c.ShutdownGrace, "time allowed for a graceful shutdown")
	fs.Var(stringList{&c.ReferrerSpam}, "referrer-spam", "extra comma-separated referrer-spam domains")
	fs.IntVar(&c.GCPercent, "gc-percent", c.GCPercent, "Go garbage-collector target percentage (GOGC); 0 keeps the runtime's setting")
	fs.StringVar(&c.RiskWebhook, "risk-webhook", c.RiskWebhook, "URL that receives new-device logins and stolen device cookies (JSON, signed)")
	fs.StringVar(&c.RiskWebhookSecret, "risk-webhook-secret", c.RiskWebhookSecret, "secret of the webhook's HMAC-SHA256 signature (prefer WAYMARK_RISK_WEBHOOK_SECRET)")
	fs.StringVar(&c.ConsentPolicy, "consent-policy", c.ConsentPolicy, "JSON file with the consent policy (see docs/CONSENT.md); default: the built-in one")
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
	if c.BatchSize < 1 {
		errs = append(errs, errors.New("--batch-size must be positive"))
	}
	if c.FlushInterval <= 0 {
		errs = append(errs, errors.New("--flush-interval must be positive"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q: use debug, info, warn or error", c.LogLevel))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: use text or json", c.LogFormat))
	}
	return errors.Join(errs...)
}
