// Package app is Waymark's composition root: it parses commands, flags and
// WAYMARK_* variables, opens the stores, wires the parts together and runs
// them until shutdown.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"waymark.dev/waymark/internal/bench"
	"waymark.dev/waymark/internal/cli"
)

// Run runs one waymark command and returns the process exit code.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	err := run(ctx, args, getenv, stdout, stderr)
	var ue *cli.UsageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "waymark: %s\n", ue.Msg)
		return 2
	default:
		fmt.Fprintf(stderr, "waymark: %v\n", err)
		return 1
	}
}

// runFunc runs a command with its arguments (for a command with
// subcommands, the subcommand first).
type runFunc func(ctx context.Context, cmd string, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// command is one top-level command: its names, the line "waymark help"
// shows for it, whether it needs a subcommand, and what runs it.
type command struct {
	names []string
	help  []helpLine
	sub   bool
	run   runFunc
}

// helpLine is a line of "waymark help": how to call, and what it does.
type helpLine struct{ use, what string }

// commands are waymark's commands, in the order help lists them.
var commands = []command{
	{names: []string{"serve"}, help: []helpLine{{"serve", "run Waymark (collector, dashboard, stats API, demo site)"}},
		run: func(ctx context.Context, _ string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
			return serveCmd(ctx, args, getenv, stdout, stderr)
		}},
	{names: []string{"site", "token", "goal"}, sub: true, help: []helpLine{{"site add|update|list|remove", "manage sites (the domain is the site id)"}, {"token add|list|revoke", "manage stats API tokens"}, {"goal add|list|remove", "manage a site's conversion goals"}},
		run: func(ctx context.Context, cmd string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
			return adminCmd(ctx, cmd, args[0], args[1:], getenv, stdout, stderr)
		}},
	{names: []string{"proxy"}, help: []helpLine{{"proxy token add|list|revoke", "manage the secure proxy's credentials"}},
		run: func(ctx context.Context, _ string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
			return proxyCmd(ctx, args, getenv, stdout, stderr)
		}},
	{names: []string{"keys"}, sub: true, help: []helpLine{{"keys list|rotate|retire", "manage the cookie key ring (--signing: the content signing keys)"}},
		run: func(ctx context.Context, _ string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
			return keysCmd(ctx, args[0], args[1:], getenv, stdout, stderr)
		}},
	{names: []string{"consent"}, sub: true, help: []helpLine{{"consent export|show", "consent receipts for an audit (JSON lines or CSV)"}},
		run: func(ctx context.Context, _ string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
			return consentCmd(ctx, args[0], args[1:], getenv, stdout, stderr)
		}},
	{names: []string{"threats"}, sub: true, help: []helpLine{{"threats check|canon|expressions", "check URLs against feeds and lookalikes offline"}, {"threats import|update|feeds|remove|list|stats", "manage a data folder's threat database and feeds"}},
		run: func(ctx context.Context, _ string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
			return threatsCmd(ctx, args[0], args[1:], getenv, stdout, stderr)
		}},
	{names: []string{"verify"}, help: []helpLine{{"verify URL", "fetch a URL through the proxy and check its signature and digest"}},
		run: func(ctx context.Context, _ string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
			return verifyCmd(ctx, args, getenv, stdout, stderr)
		}},
	{names: []string{"geo"}, sub: true, help: []helpLine{{"geo lookup IP...", "what the geolocation and ASN databases say of addresses"}},
		run: func(ctx context.Context, _ string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
			return geoCmd(ctx, args, getenv, stdout, stderr)
		}},
	{names: []string{"import"}, help: []helpLine{{"import --site D FILE...", "bring history from Plausible, GoatCounter or Umami exports (--list, --delete ID)"}},
		run: func(ctx context.Context, _ string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
			return importCmd(ctx, args, getenv, stdout, stderr)
		}},
	{names: []string{"export"}, help: []helpLine{{"export --site D [--from --to]", "write a site's data as Plausible's CSV export (a zip)"}},
		run: func(ctx context.Context, _ string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
			return exportCmd(ctx, args, getenv, stdout, stderr)
		}},
	{names: []string{"demo"}, help: []helpLine{{"demo traffic", "fill the demo shop with synthetic visits (server stopped)"}},
		run: func(ctx context.Context, _ string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
			return demoCmd(ctx, args, getenv, stdout, stderr)
		}},
	{names: []string{"bench"}, sub: true, help: []helpLine{{"bench ingest|query|dashboard|risk|proxy|threats|import", "measure the parts"}},
		run: func(ctx context.Context, _ string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
			return bench.Run(ctx, args[0], args[1:], getenv, stdout, stderr)
		}},
	{names: []string{"version", "--version"}, help: []helpLine{{"version", "print the version, source revision and Go release"}},
		run: func(_ context.Context, _ string, args []string, _ func(string) string, stdout, _ io.Writer) error {
			if len(args) > 0 {
				return cli.Usagef("version takes no arguments")
			}
			fmt.Fprintln(stdout, version())
			return nil
		}},
	{names: []string{"help", "-h", "--help"}, help: []helpLine{{"help", "show this text"}},
		run: nil}, // run prints usage(), which reads this table
}

// usage is "waymark help": every command's lines from the table.
func usage() string {
	var b strings.Builder
	b.WriteString("Usage: waymark <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		for _, h := range c.help {
			gap := " "
			if len(h.use) >= 24 {
				gap = "  "
			}
			fmt.Fprintf(&b, "  %-24s%s%s\n", h.use, gap, h.what)
		}
	}
	b.WriteString(`
Run "waymark <command> -h" for a command's flags. Every flag can also be set
with a WAYMARK_<FLAG> variable, e.g. WAYMARK_ADDR=0.0.0.0:8080.
`)
	return b.String()
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return cli.Usagef("no command given")
	}
	name, rest := args[0], args[1:]
	for _, c := range commands {
		if !slices.Contains(c.names, name) {
			continue
		}
		if c.sub && (len(rest) == 0 || strings.HasPrefix(rest[0], "-")) {
			return cli.Usagef("%s needs a subcommand; see waymark help", name)
		}
		if c.run == nil {
			fmt.Fprint(stdout, usage())
			return nil
		}
		return c.run(ctx, name, rest, getenv, stdout, stderr)
	}
	return cli.Usagef("unknown command %q; see waymark help", name)
}
