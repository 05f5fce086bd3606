// Package bench is "waymark bench": measurements of the parts under
// load, each against the real stores and, where there is one, side by
// side with a peer (Squid for the proxy): ingest (wrk-like load on the
// beacon endpoints), query (the dashboard's query set over generated
// events), dashboard (a running server's site view over several ranges),
// risk (login decisions over a filled state store), proxy
// (forwarding, tunnels and idle memory against Squid), threats (the
// threat database's lookups) and import (Plausible's export into the
// embedded store).
package bench

import (
	"context"
	"io"

	"waymark.dev/waymark/internal/cli"
)

// Run runs "waymark bench SUB ARGS...".
func Run(ctx context.Context, sub string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	switch sub {
	case "ingest":
		return benchIngest(ctx, args, getenv, stdout, stderr)
	case "query":
		return benchQuery(ctx, args, getenv, stdout, stderr)
	case "risk":
		return benchRisk(ctx, args, getenv, stdout, stderr)
	case "proxy":
		return benchProxy(ctx, args, getenv, stdout, stderr)
	case "threats":
		return benchThreats(ctx, args, getenv, stdout, stderr)
	case "import":
		return benchImport(ctx, args, getenv, stdout, stderr)
	case "dashboard":
		return benchDashboard(ctx, args, getenv, stdout, stderr)
	}
	return cli.Usagef("unknown bench %q: use ingest, query, dashboard, risk, proxy, threats or import", sub)
}
