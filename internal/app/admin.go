package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"waymark.dev/waymark/internal/cli"
	"waymark.dev/waymark/internal/config"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/statestore"
)

// adminFlags are the flags of each site, token and goal subcommand.
var adminFlags = map[string][]string{
	"site add":     {"data", "state", "domain", "site", "timezone", "retention-days", "ignore-ips", "ignore-paths", "keep-params"},
	"site update":  {"data", "state", "domain", "site", "timezone", "retention-days", "ignore-ips", "ignore-paths", "keep-params"},
	"site list":    {"data", "state"},
	"site remove":  {"data", "state", "domain", "site"},
	"token add":    {"data", "state", "name", "site", "domain", "scope"},
	"token list":   {"data", "state"},
	"token revoke": {"data", "state", "id"},
	"goal add":     {"data", "state", "site", "domain", "page", "event", "currency"},
	"goal list":    {"data", "state", "site", "domain"},
	"goal remove":  {"data", "state", "site", "domain", "page", "event"},
}

// adminCmd runs site, token and goal subcommands. They only touch the
// SQLite state store, so they work while the server runs; the server picks
// changes up within a second.
func adminCmd(ctx context.Context, cmd, sub string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet(cmd+" "+sub, stderr)
	data := fs.String("data", config.Defaults().Data, "data folder")
	stateURL := statestore.Flag(fs)
	domain := fs.String("domain", "", "site domain, e.g. example.com")
	siteFlag := fs.String("site", "", "site domain")
	name := fs.String("name", "", "token name")
	tz := fs.String("timezone", "UTC", "site time zone (IANA name)")
	retention := fs.Int("retention-days", 0, "remove raw events older than this many days (0: keep)")
	ignoreIPs := fs.String("ignore-ips", "", "comma-separated CIDRs whose hits are ignored")
	ignorePaths := fs.String("ignore-paths", "", "comma-separated path prefixes whose hits are ignored")
	keepParams := fs.String("keep-params", "", "comma-separated query parameters kept in page paths")
	page := fs.String("page", "", "goal: page path (may end in *)")
	event := fs.String("event", "", "goal: custom event name")
	currency := fs.String("currency", "", "goal: count the event's revenue in this ISO 4217 currency (EUR, USD, ...)")
	id := fs.Int64("id", 0, "token id")
	scopeFlag := fs.String("scope", site.ScopeStatsRead, "token scopes, comma-separated: "+site.ScopeStatsRead+" (the Stats API) and "+site.ScopeSitesProvision+" (the Sites API's changes)")
	fs, err := cli.SubFlagSet(fs, cmd+" "+sub, cmd+" "+sub, adminFlags, stderr)
	if err != nil {
		return err
	}
	if err := cli.Parse(fs, args, getenv); err != nil {
		return err
	}
	// --domain and --site name a site alike, wherever one is named; a
	// pasted address is taken for its host.
	if *domain != "" && *siteFlag != "" && *domain != *siteFlag {
		return cli.Usagef("--domain %s and --site %s name two sites; give one", *domain, *siteFlag)
	}
	if *domain == "" {
		*domain = *siteFlag
	}
	*domain = site.DomainFromInput(*domain)
	*siteFlag = *domain
	db, err := statestore.Open(ctx, *data, *stateURL)
	if err != nil {
		return err
	}
	defer db.Close()
	switch cmd + " " + sub {
	case "site add":
		if *domain == "" {
			return cli.Usagef("site add needs --domain")
		}
		s := &site.Site{Domain: *domain, TimeZone: *tz, RetentionDays: *retention, IgnorePaths: split(*ignorePaths), KeepParams: split(*keepParams)}
		if s.IgnoreIPs, err = parsePrefixes(*ignoreIPs); err != nil {
			return err
		}
		if err := db.AddSite(ctx, s); err != nil {
			return friendly(err)
		}
		fmt.Fprintf(stdout, "site %s added (time zone %s)\ntracker: <script defer data-domain=\"%s\" src=\"https://YOUR-WAYMARK/w.js\"></script>\n", s.Domain, s.TimeZone, s.Domain)
	case "site update":
		s, err := findSite(ctx, db, *domain)
		if err != nil {
			return err
		}
		var perr error
		fs.Visit(func(f *flag.Flag) { // only the flags given change
			switch f.Name {
			case "timezone":
				s.TimeZone = *tz
			case "retention-days":
				s.RetentionDays = *retention
			case "ignore-paths":
				s.IgnorePaths = split(*ignorePaths)
			case "keep-params":
				s.KeepParams = split(*keepParams)
			case "ignore-ips":
				s.IgnoreIPs, perr = parsePrefixes(*ignoreIPs)
			}
		})
		if perr != nil {
			return perr
		}
		if err := db.UpdateSite(ctx, s); err != nil {
			return friendly(err)
		}
		fmt.Fprintf(stdout, "site %s updated\n", s.Domain)
	case "site list":
		sites, err := db.Sites(ctx)
		if err != nil {
			return err
		}
		for _, s := range sites {
			fmt.Fprintf(stdout, "%s\ttz=%s\tretention_days=%d\tgoals=%d\n", s.Domain, s.TimeZone, s.RetentionDays, len(s.Goals))
		}
	case "site remove":
		d, err := site.NormalizeDomain(*domain)
		if err != nil {
			return friendly(err)
		}
		if err := db.DeleteSite(ctx, d); err != nil {
			return friendly(err)
		}
		fmt.Fprintf(stdout, "site %s removed (its stored events stay until retention removes them)\n", d)
	case "token add":
		if *name == "" {
			return cli.Usagef("token add needs --name")
		}
		t := &site.Token{Name: *name}
		for _, sc := range strings.Split(*scopeFlag, ",") {
			if sc = strings.TrimSpace(sc); sc != "" {
				t.Scopes = append(t.Scopes, sc)
			}
		}
		if *siteFlag != "" {
			if t.Site, err = site.NormalizeDomain(*siteFlag); err != nil {
				return friendly(err)
			}
		}
		secret, hash := site.NewTokenSecret()
		t.Hash = hash
		if _, err := db.AddToken(ctx, t); err != nil {
			return friendly(err)
		}
		scope := "all sites"
		if t.Site != "" {
			scope = "site " + t.Site
		}
		fmt.Fprintf(stderr, "token %d (%s) for %s, scopes %s; it is shown once, keep it safe:\n", t.ID, t.Name, scope, strings.Join(t.Scopes, ","))
		fmt.Fprintln(stdout, secret)
	case "token list":
		toks, err := db.Tokens(ctx)
		if err != nil {
			return err
		}
		// API tokens (secrets) first, shared links (public addresses of
		// read-only dashboards) apart.
		for _, kind := range []string{site.TokenAPI, site.TokenShare} {
			var rows []*site.Token
			for _, t := range toks {
				if t.Kind == kind {
					rows = append(rows, t)
				}
			}
			if len(rows) == 0 {
				continue
			}
			if kind == site.TokenAPI {
				fmt.Fprintln(stdout, "# API tokens")
			} else {
				fmt.Fprintln(stdout, "# shared links (read-only dashboards; revoke with token revoke --id)")
			}
			for _, t := range rows {
				scope := t.Site
				if scope == "" {
					scope = "*"
				}
				extra := "scopes=" + strings.Join(t.Scopes, ",")
				if kind == site.TokenShare {
					extra = "link=/share/" + t.Secret
					if t.Secret == "" {
						extra = "link shown once when made"
					}
				}
				fmt.Fprintf(stdout, "%d\t%s\tsite=%s\t%s\tcreated=%s\n", t.ID, t.Name, scope, extra, t.CreatedAt.Format("2006-01-02"))
			}
		}
	case "token revoke":
		if *id == 0 {
			return cli.Usagef("token revoke needs --id (see waymark token list)")
		}
		if err := db.DeleteToken(ctx, *id); err != nil {
			return friendly(err)
		}
		fmt.Fprintf(stdout, "token %s revoked\n", strconv.FormatInt(*id, 10))
	case "goal add", "goal list", "goal remove":
		return goalCmd(ctx, db, sub, *siteFlag, site.Goal{Page: *page, Event: *event, Currency: strings.ToUpper(*currency)}, stdout)
	default:
		return cli.Usagef("unknown command %q; see waymark help", cmd+" "+sub)
	}
	return nil
}

func goalCmd(ctx context.Context, db statestore.Store, sub, domain string, g site.Goal, stdout io.Writer) error {
	s, err := findSite(ctx, db, domain)
	if err != nil {
		return err
	}
	same := func(x site.Goal) bool { return site.SameGoal(x, g) }
	switch sub {
	case "list":
		for _, g := range s.Goals {
			if g.Currency != "" {
				fmt.Fprintf(stdout, "%s\trevenue in %s\n", g.Name(), g.Currency)
				continue
			}
			fmt.Fprintln(stdout, g.Name())
		}
		return nil
	case "add":
		if (g.Page == "") == (g.Event == "") {
			return cli.Usagef("goal add needs exactly one of --page or --event")
		}
		if g.Currency != "" && g.Event == "" {
			return cli.Usagef("--currency goes with --event: only custom events carry revenue")
		}
		if slices.ContainsFunc(s.Goals, same) {
			return fmt.Errorf("goal %q already exists", g.Name())
		}
		s.Goals = append(s.Goals, g)
	case "remove":
		j := slices.IndexFunc(s.Goals, same)
		if j < 0 {
			return fmt.Errorf("no goal %q", g.Name())
		}
		s.Goals = slices.Delete(s.Goals, j, j+1)
	}
	if err := db.UpdateSite(ctx, s); err != nil {
		return friendly(err)
	}
	fmt.Fprintf(stdout, "goals of %s: %d\n", s.Domain, len(s.Goals))
	return nil
}

// findSite loads one site by domain.
func findSite(ctx context.Context, db statestore.Store, domain string) (*site.Site, error) {
	d, err := site.NormalizeDomain(domain)
	if err != nil {
		return nil, cli.Usagef("%v (give the site with --domain or --site)", err)
	}
	sites, err := db.Sites(ctx)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(sites, func(s *site.Site) bool { return s.Domain == d })
	if i < 0 {
		return nil, fmt.Errorf("no site %s (see waymark site list)", d)
	}
	return sites[i], nil
}

func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range split(s) {
		pr, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, cli.Usagef("--ignore-ips: %q is not a CIDR prefix", p)
		}
		out = append(out, pr.Masked())
	}
	return out, nil
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// friendly turns validation errors into usage errors (exit code 2).
func friendly(err error) error {
	if errors.Is(err, site.ErrInvalid) {
		return cli.Usagef("%v", err)
	}
	return err
}
