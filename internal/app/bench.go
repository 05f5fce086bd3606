package app

import (
	"context"
	"io"
)

func benchCmd(ctx context.Context, sub string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
	}
	return usagef("unknown bench %q: use ingest, query, risk, proxy or threats", sub)
}
