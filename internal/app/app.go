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
)

// usageError is a command-line mistake: printed with exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

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
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "waymark: %s\n", ue.msg)
		return 2
	default:
		fmt.Fprintf(stderr, "waymark: %v\n", err)
		return 1
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command given")
	}
	cmd, rest := args[0], args[1:]
	sub := func() (string, []string, error) {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return "", nil, usagef("%s needs a subcommand; see waymark help", cmd)
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
		return benchCmd(ctx, s, r, getenv, stdout, stderr)
	case "version", "--version":
		if len(rest) > 0 {
			return usagef("version takes no arguments")
		}
		fmt.Fprintln(stdout, version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usagef("unknown command %q; see waymark help", cmd)
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("waymark "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// subFlagSet returns a flag set for subcommand sub of a command whose
// subcommands share their flag definitions (all), with only the flags
// table gives sub: its -h shows its own flags, and the others are unknown
// to it. A usage text may have parts for different subcommands, each
// starting with the subcommands it is for and separated by " | "
// ("import, update: ... | list: ..."): sub gets its own part, without
// the prefix.
func subFlagSet(all *flag.FlagSet, name, sub string, table map[string][]string, stderr io.Writer) (*flag.FlagSet, error) {
	names, ok := table[sub]
	if !ok {
		return nil, usagef("unknown command waymark %s; see waymark help", name)
	}
	subs := map[string]bool{}
	for k := range table {
		subs[k[strings.LastIndexByte(k, ' ')+1:]] = true
	}
	fs := newFlagSet(name, stderr)
	for _, n := range names {
		f := all.Lookup(n)
		if f == nil {
			panic("subFlagSet: no flag " + n) // a mistake in a table of this package
		}
		usage := f.Usage
		for _, part := range strings.Split(f.Usage, " | ") {
			pre, rest, ok := strings.Cut(part, ": ")
			tags := strings.Split(pre, ",")
			if ok && allIn(tags, subs) && slices.ContainsFunc(tags, func(t string) bool { return strings.TrimSpace(t) == sub[strings.LastIndexByte(sub, ' ')+1:] }) {
				usage = rest
				break
			}
		}
		fs.Var(f.Value, f.Name, usage)
	}
	return fs, nil
}

func allIn(words []string, set map[string]bool) bool {
	for _, w := range words {
		if !set[strings.TrimSpace(w)] {
			return false
		}
	}
	return true
}

// parse applies WAYMARK_* variables, then the command line.
func parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := applyEnv(fs, getenv); err != nil {
		return usagef("%v", err)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}
