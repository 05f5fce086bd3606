package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"
	"waymark.dev/waymark/internal/cli"
	"waymark.dev/waymark/internal/config"
	"waymark.dev/waymark/internal/netguard"
	"waymark.dev/waymark/internal/statestore"
	"waymark.dev/waymark/internal/threats"
)

// feedFlags collects repeated --feed FILE[:FORMAT] flags.
type feedFlags []string

func (f *feedFlags) String() string     { return strings.Join(*f, ",") }
func (f *feedFlags) Set(v string) error { *f = append(*f, v); return nil }

// splitFeed reads FILE[:FORMAT]; without a format the file name decides
// (hosts, *.csv from URLhaus or PhishTank by header, ...), else "urls".
func splitFeed(v string) (path, format string) {
	if i := strings.LastIndexByte(v, ':'); i > 0 && slices.Contains(threats.Formats, v[i+1:]) {
		return v[:i], v[i+1:]
	}
	return v, threats.FormatURLs
}

// threatsFlags are the flags each threats subcommand takes; its -h lists
// those only, and the others are refused.
var threatsFlags = map[string][]string{
	"canon":       {},
	"expressions": {},
	"check":       {"data", "feed", "allow", "protect", "max-edits"},
	"import":      {"data", "state", "feed", "list", "source", "refresh", "allow-cidrs", "ports"},
	"update":      {"data", "force", "allow-cidrs", "ports"},
	"feeds":       {"data"},
	"remove":      {"data", "state", "source"},
	"list":        {"data", "list", "source"},
	"stats":       {"data"},
}

// threatsCmd runs `waymark threats ...`.
func threatsCmd(ctx context.Context, sub string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("threats "+sub, stderr)
	data := fs.String("data", config.Defaults().Data, "data folder (its threats.db)")
	stateURL := fs.String("state", "", "import, remove: the shared state store (postgres://...) instead of the data folder: every node loads its entries within its sync interval")
	var feeds feedFlags
	formats := "; formats: " + strings.Join(threats.Formats, ", ")
	fs.Var(&feeds, "feed", "import: the feed, a file or http(s) URL, FILE[:FORMAT]"+formats+" | check: a feed file FILE[:FORMAT] to check against instead of the data folder's database (repeat for more)"+formats)
	allow := fs.String("allow", "", "check: a file of domains or URLs that are never blocked")
	protect := fs.String("protect", "", "check: comma-separated domains or host names whose lookalikes are flagged")
	maxEdits := fs.Int("max-edits", 1, "check: edit distance at which a name counts as a typo of a protected one (0: off)")
	list := fs.String("list", "", "import: the list the entries go to (phishing, malware, unwanted, lookalike, custom, allow; default by format) | list: only entries of this list")
	source := fs.String("source", "", "import: the source's name (default: the file's path or URL) | list: only entries of this source | remove: the source to remove")
	refresh := fs.Duration("refresh", 0, "import: read the feed again this often while the server runs (0: only by waymark threats update --force)")
	force := fs.Bool("force", false, "update: read every feed, not only those due")
	allowCIDRs := fs.String("allow-cidrs", "", "import, update: special-use ranges feed URLs may reach anyway (comma-separated CIDRs; default: public addresses only)")
	ports := fs.String("ports", "80,443", "import, update: ports feed URLs may use")
	fs, err := cli.SubFlagSet(fs, "threats "+sub, sub, threatsFlags, stderr)
	if err != nil {
		return err
	}
	if err := cli.ApplyEnv(fs, getenv); err != nil {
		return cli.Usagef("%v", err)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return cli.Usagef("%v", err)
	}
	urls := fs.Args()
	switch sub {
	case "canon":
		if len(urls) == 0 {
			return cli.Usagef("threats canon needs one or more URLs")
		}
		failed := 0
		for _, raw := range urls {
			u, err := threats.Canonicalize(raw)
			if err != nil {
				fmt.Fprintf(stderr, "%q: %v\n", raw, err)
				failed++
				continue
			}
			fmt.Fprintln(stdout, u.String())
		}
		if failed > 0 {
			return fmt.Errorf("%d of %d URLs could not be canonicalised", failed, len(urls))
		}
		return nil
	case "expressions":
		if len(urls) != 1 {
			return cli.Usagef("threats expressions needs exactly one URL")
		}
		u, err := threats.Canonicalize(urls[0])
		if err != nil {
			return cli.Usagef("%q: %v", urls[0], err)
		}
		for _, e := range threats.Expressions(u) {
			fmt.Fprintln(stdout, e)
		}
		return nil
	case "check":
		if len(urls) == 0 {
			return cli.Usagef("threats check needs one or more URLs")
		}
		c, cleanup, err := offlineChecker(*data, feeds, *allow, *protect, *maxEdits, stderr)
		if err != nil {
			return err
		}
		defer cleanup()
		enc := json.NewEncoder(stdout)
		for _, raw := range urls {
			if err := enc.Encode(c.Check(raw)); err != nil {
				return err
			}
		}
		return nil
	case "import":
		if len(feeds) != 1 || len(urls) > 0 {
			return cli.Usagef("threats import needs exactly one --feed FILE_OR_URL[:FORMAT]")
		}
		path, format := splitFeed(feeds[0])
		l := threats.DefaultList(format)
		if *list != "" {
			var err error
			if l, err = threats.ParseList(*list); err != nil {
				return cli.Usagef("%v", err)
			}
		}
		if *refresh < 0 {
			return cli.Usagef("--refresh must not be negative")
		}
		name := *source
		if name == "" {
			name = path
		}
		u, err := cliUpdater(*data, *allowCIDRs, *ports)
		if err != nil {
			return err
		}
		f := threats.Feed{Name: name, Location: path, Format: format, List: l.String(), Refresh: *refresh}
		if !f.Remote() {
			if _, err := os.Stat(path); err != nil {
				return cli.Usagef("feed: %v", err)
			}
		}
		if *stateURL != "" {
			return importShared(ctx, u, f, *stateURL, stdout, stderr)
		}
		existed := false
		if old, err := u.Feeds.List(); err == nil {
			existed = slices.ContainsFunc(old, func(o threats.Feed) bool { return o.Name == name })
		}
		p, err := u.Update(ctx, &f)
		if p != nil {
			reportLineErrors(stderr, path, p)
		}
		if err != nil {
			if !existed {
				u.Feeds.Remove(name) // a feed that never worked is not registered
			}
			return err
		}
		if p == nil {
			p = &threats.Parsed{}
		}
		again := "read again only by waymark threats update --force"
		if f.Refresh > 0 {
			again = "read again every " + f.Refresh.String()
		}
		fmt.Fprintf(stdout, "imported %d entries from %s into %s (list %s, source %q; %d lines skipped, %d bad; %s); the database has %d entries\n",
			f.Entries, path, filepath.Join(*data, threats.SnapshotFile), l, name, p.Skipped, p.ErrorCount, again, u.DB.Snapshot().Len())
		return nil
	case "update":
		u, err := cliUpdater(*data, *allowCIDRs, *ports)
		if err != nil {
			return err
		}
		errs, err := u.UpdateDue(ctx, *force)
		if err != nil {
			return err
		}
		fs, _ := u.Feeds.List()
		for _, f := range fs {
			state := "ok"
			if e := errs[f.Name]; e != nil {
				state = "failed, kept the last good list: " + e.Error()
			}
			fmt.Fprintf(stdout, "%s\t%d entries\tupdated %s\t%s\n", f.Name, f.Entries, f.UpdatedAt.Format(time.RFC3339), state)
		}
		if len(errs) > 0 {
			return fmt.Errorf("%d feeds failed", len(errs))
		}
		return nil
	case "feeds":
		fs, err := threats.OpenFeeds(*data).List()
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		for _, f := range fs {
			if err := enc.Encode(f); err != nil {
				return err
			}
		}
		return nil
	case "remove":
		if *source == "" {
			return cli.Usagef("threats remove needs --source NAME (see waymark threats feeds)")
		}
		if *stateURL != "" {
			shared, closeShared, err := openSharedThreats(ctx, *stateURL)
			if err != nil {
				return err
			}
			defer closeShared()
			n, err := shared.ReplaceThreatSource(ctx, *source, nil)
			if err != nil {
				return err
			}
			if n == 0 {
				return cli.Usagef("no shared source %q", *source)
			}
			fmt.Fprintf(stdout, "removed shared source %q and its %d entries; every node drops them within its sync interval\n", *source, n)
			return nil
		}
		db, err := threats.Open(*data)
		if err != nil {
			return err
		}
		found, err := threats.OpenFeeds(*data).Remove(*source)
		if err != nil {
			return err
		}
		n := db.Snapshot().Stats().BySource[*source]
		if n == 0 && !found {
			return cli.Usagef("no source %q", *source)
		}
		if err := db.Replace(*source, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed source %q and its %d entries\n", *source, n)
		return nil
	case "list":
		if len(urls) > 0 {
			return cli.Usagef("unexpected argument %q", urls[0])
		}
		var only threats.List
		if *list != "" {
			var err error
			if only, err = threats.ParseList(*list); err != nil {
				return cli.Usagef("%v", err)
			}
		}
		db, err := threats.Open(*data)
		if err != nil {
			return err
		}
		db.Snapshot().Entries(func(e threats.Entry) bool {
			if (only == 0 || e.List == only) && (*source == "" || e.Source == *source) {
				fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\n", e.List, e.Added.Format(time.RFC3339), e.Source, e.Expr)
			}
			return true
		})
		return nil
	case "stats":
		db, err := threats.Open(*data)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(db.Snapshot().Stats())
	}
	return cli.Usagef("unknown subcommand threats %s; use canon, expressions, check, import, update, feeds, remove, list or stats", sub)
}

// openSharedThreats opens the shared state store's threat entries.
func openSharedThreats(ctx context.Context, url string) (threats.SharedStore, func(), error) {
	if url == "" || !strings.HasPrefix(url, "postgres") {
		return nil, nil, cli.Usagef("--state must be a postgres:// URL")
	}
	db, err := statestore.Open(ctx, "", url)
	if err != nil {
		return nil, nil, err
	}
	shared, ok := db.(threats.SharedStore)
	if !ok {
		db.Close()
		return nil, nil, cli.Usagef("this state store keeps no shared threat entries")
	}
	return shared, func() { db.Close() }, nil
}

// importShared reads a feed once and makes it a source of the shared
// store (nodes do not read it again by themselves: import it again to
// update it).
func importShared(ctx context.Context, u *threats.Updater, f threats.Feed, url string, stdout, stderr io.Writer) error {
	if f.Refresh > 0 {
		return cli.Usagef("--refresh is for feeds a node reads itself; a shared import is read once (import it again to update it)")
	}
	shared, closeShared, err := openSharedThreats(ctx, url)
	if err != nil {
		return err
	}
	defer closeShared()
	p, err := u.Fetch(ctx, f)
	if p != nil {
		reportLineErrors(stderr, f.Location, p)
	}
	if err != nil {
		return err
	}
	before, err := shared.ReplaceThreatSource(ctx, f.Name, p.Entries)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %d entries from %s into the shared store (list %s, source %q, replacing %d; %d lines skipped, %d bad); every node loads them within its sync interval\n",
		len(p.Entries), f.Location, f.List, f.Name, before, p.Skipped, p.ErrorCount)
	return nil
}

// cliUpdater reads feeds for the CLI, fetching through a vetted dialer.
func cliUpdater(data, allowCIDRs, ports string) (*threats.Updater, error) {
	policy := &netguard.Policy{LocalAddrs: localAddrs()}
	for _, c := range strings.Split(allowCIDRs, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, cli.Usagef("--allow-cidrs: %v", err)
		}
		policy.Allow = append(policy.Allow, p)
	}
	for _, s := range strings.Split(ports, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
		if err != nil || n == 0 {
			return nil, cli.Usagef("--ports: %q is not a port", s)
		}
		policy.Ports = append(policy.Ports, uint16(n))
	}
	db, err := threats.Open(data)
	if err != nil {
		return nil, err
	}
	return &threats.Updater{DB: db, Feeds: threats.OpenFeeds(data), Client: feedClient(policy), Now: time.Now}, nil
}

// feedClient fetches feeds through the proxy's kind of dialer: a feed URL
// can never reach a private network the policy does not allow.
func feedClient(policy *netguard.Policy) *http.Client {
	d := &netguard.Dialer{Policy: policy, Timeout: 10 * time.Second}
	return &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{DialContext: d.DialContext, Proxy: nil,
		TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: 30 * time.Second}}
}

func readFeed(path, format string, l threats.List, source string) (*threats.Parsed, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, cli.Usagef("feed: %v", err)
	}
	defer f.Close()
	p, err := threats.ParseFeed(f, format, l, source, time.Now())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

func reportLineErrors(stderr io.Writer, path string, p *threats.Parsed) {
	for _, e := range p.Errors {
		fmt.Fprintf(stderr, "%s:%d: %s: %q\n", path, e.Line, e.Err, e.Text)
	}
	if p.ErrorCount > len(p.Errors) {
		fmt.Fprintf(stderr, "%s: %d more bad lines\n", path, p.ErrorCount-len(p.Errors))
	}
}

// offlineChecker builds a checker from feed files in a temporary folder,
// or opens the data folder's database when no feed is given.
func offlineChecker(data string, feeds []string, allowFile, protect string, maxEdits int, stderr io.Writer) (*threats.Checker, func(), error) {
	var domains []string
	for _, d := range strings.Split(protect, ",") {
		if d = strings.TrimSpace(d); d != "" {
			domains = append(domains, d)
		}
	}
	p, err := threats.NewProtector(domains, nil, maxEdits)
	if err != nil {
		return nil, nil, cli.Usagef("--protect: %v", err)
	}
	if len(feeds) == 0 && allowFile == "" {
		db, err := threats.Open(data)
		if err != nil {
			return nil, nil, err
		}
		return &threats.Checker{DB: db, Protect: p}, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "waymark-threats-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	db, err := threats.Open(dir)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	var all []threats.Entry
	add := func(path, format string, l threats.List) error {
		p, err := readFeed(path, format, l, path)
		if err != nil {
			return err
		}
		reportLineErrors(stderr, path, p)
		all = append(all, p.Entries...)
		return nil
	}
	for _, f := range feeds {
		path, format := splitFeed(f)
		if err := add(path, format, threats.DefaultList(format)); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	if allowFile != "" {
		path, format := splitFeed(allowFile)
		if format == threats.FormatURLs {
			format = threats.FormatDomains
			if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), "/") {
				format = threats.FormatURLs
			}
		}
		if err := add(path, format, threats.Allow); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	if err := db.Replace("check", all); err != nil {
		cleanup()
		return nil, nil, err
	}
	return &threats.Checker{DB: db, Protect: p}, cleanup, nil
}

// demoThreatSource lists the demo's phishing site (phish.test, a reserved
// name), so the demo shows a blocked link without any real feed.
const demoThreatSource = "demo"

// feedCheckEvery is how often a server looks for feeds that are due.
const feedCheckEvery = time.Minute

// threatReloadEvery is how often a server looks for a snapshot that the
// CLI (waymark threats import) wrote.
const threatReloadEvery = 5 * time.Second

// startThreats opens the data folder's threat database and the lookalike
// detector, and reloads the database when another process updates it.
func startThreats(ctx context.Context, lc *lifecycle, c config.Serve, state statestore.Store, log *slog.Logger) (*threats.Checker, error) {
	protect := c.Threats.Protect
	if c.Demo {
		// The demo shop's domain is protected, so its lookalikes warn.
		if reg, err := publicsuffix.EffectiveTLDPlusOne(DemoDomain); err == nil && !slices.Contains(protect, reg) {
			protect = append(slices.Clone(protect), reg)
		}
	}
	p, err := threats.NewProtector(protect, c.Threats.LookalikeAllow, c.Threats.MaxEdits)
	if err != nil {
		return nil, cli.Usagef("--protect: %v", err)
	}
	db, err := threats.Open(c.Data)
	if err != nil {
		return nil, err
	}
	if c.Demo && db.Snapshot().Stats().BySource[demoThreatSource] == 0 {
		if err := db.Replace(demoThreatSource, []threats.Entry{{Expr: "phish.test/", List: threats.Phishing}}); err != nil {
			return nil, err
		}
	}
	// Registered feeds that are due are read again in the background,
	// through a dialer with the proxy's egress policy.
	updater := &threats.Updater{DB: db, Feeds: threats.OpenFeeds(c.Data), Client: feedClient(egressPolicy(c.Proxy)), Now: time.Now}
	updateFeeds := func(ctx context.Context) {
		errs, err := updater.UpdateDue(ctx, false)
		if err != nil {
			log.Error("threat feeds", "err", err)
		}
		for name, e := range errs {
			log.Warn("threat feed not updated; its last good list stays", "feed", name, "err", e)
		}
	}
	lc.Go(func(ctx context.Context) {
		updateFeeds(ctx)
		runEvery(ctx, feedCheckEvery, func() { updateFeeds(ctx) })
	})
	reload := func() {
		if !db.Changed() {
			return
		}
		if err := db.Reload(); err != nil {
			log.Error("threat database not reloaded; the previous one stays", "err", err)
			return
		}
		log.Info("threat database reloaded", "entries", db.Snapshot().Len())
	}
	lc.Go(func(ctx context.Context) { runEvery(ctx, threatReloadEvery, reload) })
	// With a shared state store, entries added through any node are
	// loaded at the sync interval (the first time before serving).
	if shared, ok := state.(threats.SharedStore); ok && c.State != "" {
		var version int64
		sync := func(ctx context.Context) {
			changed, err := threats.SyncShared(ctx, db, shared, &version)
			if err != nil {
				log.Error("shared threat entries not loaded; the last ones stay", "err", err)
			} else if changed {
				log.Info("shared threat entries loaded", "version", version, "entries", db.Snapshot().Len())
			}
		}
		sync(ctx)
		lc.Go(func(ctx context.Context) { runEvery(ctx, c.SyncInterval, func() { sync(ctx) }) })
	}
	return &threats.Checker{DB: db, Protect: p}, nil
}
