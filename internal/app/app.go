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
	"strings"

	"waymark.dev/waymark/internal/bench"
	"waymark.dev/waymark/internal/cli"
)

const usage = `Usage: waymark <command> [flags]

Commands:
  serve                    run Waymark (collector, dashboard, stats API, demo site)
  site add|update|list|remove  manage sites (the domain is the site id)
  token add|list|revoke    manage stats API tokens
  goal add|list|remove     manage a site's conversion goals
  proxy token add|list|revoke  manage the secure proxy's credentials
  keys list|rotate|retire  manage the cookie key ring (--signing: the content signing keys)
  consent export|show      consent receipts for an audit (JSON lines or CSV)
  threats check|canon|expressions  check URLs against feeds and lookalikes offline
  threats import|update|feeds|remove|list|stats  manage a data folder's threat database and feeds
  verify URL               fetch a URL through the proxy and check its signature and digest
  demo traffic             fill the demo shop with synthetic visits (server stopped)
  bench ingest|query|risk|proxy|threats  measure the parts
  version                  print the version, source revision and Go release
  help                     show this text

Run "waymark <command> -h" for a command's flags. Every flag can also be set
with a WAYMARK_<FLAG> variable, e.g. WAYMARK_ADDR=0.0.0.0:8080.
`

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

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return cli.Usagef("no command given")
	}
	cmd, rest := args[0], args[1:]
	sub := func() (string, []string, error) {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return "", nil, cli.Usagef("%s needs a subcommand; see waymark help", cmd)
		}
		return rest[0], rest[1:], nil
	}
	switch cmd {
	case "serve":
		return serveCmd(ctx, rest, getenv, stdout, stderr)
	case "site", "token", "goal":
		s, r, err := sub()
		if err != nil {
			return err
		}
		return adminCmd(ctx, cmd, s, r, getenv, stdout, stderr)
	case "demo":
		return demoCmd(ctx, rest, getenv, stdout, stderr)
	case "consent":
		s, r, err := sub()
		if err != nil {
			return err
		}
		return consentCmd(ctx, s, r, getenv, stdout, stderr)
	case "proxy":
		return proxyCmd(ctx, rest, getenv, stdout, stderr)
	case "keys":
		s, r, err := sub()
		if err != nil {
			return err
		}
		return keysCmd(ctx, s, r, getenv, stdout, stderr)
	case "verify":
		return verifyCmd(ctx, rest, getenv, stdout, stderr)
	case "threats":
		s, r, err := sub()
		if err != nil {
			return err
		}
		return threatsCmd(ctx, s, r, getenv, stdout, stderr)
	case "bench":
		s, r, err := sub()
		if err != nil {
			return err
		}
		return bench.Run(ctx, s, r, getenv, stdout, stderr)
	case "version", "--version":
		if len(rest) > 0 {
			return cli.Usagef("version takes no arguments")
		}
		fmt.Fprintln(stdout, version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return cli.Usagef("unknown command %q; see waymark help", cmd)
}
