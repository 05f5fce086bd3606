package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"waymark.dev/waymark/internal/cli"
	"waymark.dev/waymark/internal/config"
	"waymark.dev/waymark/internal/consent"
	"waymark.dev/waymark/internal/statestore"
)

// consentCmd runs `waymark consent export|show`: consent receipts for an
// audit, read from the state store (also while the server runs).
func consentCmd(ctx context.Context, sub string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("consent "+sub, stderr)
	data := fs.String("data", config.Defaults().Data, "data folder")
	stateURL := statestore.Flag(fs)
	since := fs.String("since", "", "only receipts from this time on (RFC 3339 or YYYY-MM-DD)")
	format := fs.String("format", consent.FormatJSONL, "jsonl or csv")
	out := fs.String("out", "", "file to write (default: standard output)")
	receipt := fs.String("receipt", "", "show: a receipt id")
	visitor := fs.String("visitor", "", "show: a visitor id (hex)")
	if err := cli.Parse(fs, args, getenv); err != nil {
		return err
	}
	db, err := statestore.Open(ctx, *data, *stateURL)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "export":
		var t time.Time
		if *since != "" {
			if t, err = time.Parse(time.RFC3339, *since); err != nil {
				if t, err = time.Parse(time.DateOnly, *since); err != nil {
					return cli.Usagef("--since must be RFC 3339 or YYYY-MM-DD")
				}
			}
		}
		if *format != consent.FormatJSONL && *format != consent.FormatCSV {
			return cli.Usagef("--format must be jsonl or csv")
		}
		w := stdout
		if *out != "" {
			f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		return consent.Export(ctx, db, t, *format, w)
	case "show":
		var rs []*consent.Receipt
		switch {
		case *receipt != "":
			r, err := db.ReceiptByID(ctx, *receipt)
			if err != nil {
				return err
			}
			rs = append(rs, r)
		case *visitor != "":
			if rs, err = db.ReceiptsByVisitor(ctx, *visitor); err != nil {
				return err
			}
		default:
			return cli.Usagef("consent show needs --receipt or --visitor")
		}
		for _, r := range rs {
			fmt.Fprintf(stdout, "%s  %s  %s  v%s  %s  %s\n", r.Time.Format(time.RFC3339), r.ID, r.Source, r.PolicyVersion, r.Site, consentSummary(r.Choices))
		}
		return nil
	}
	return cli.Usagef("unknown consent subcommand %q; use export or show", sub)
}

func consentSummary(c consent.Choices) string {
	s := ""
	for _, id := range []string{consent.Necessary, consent.Preferences, consent.Analytics} {
		if v, ok := c[id]; ok {
			if s != "" {
				s += " "
			}
			s += fmt.Sprintf("%s=%v", id, v)
		}
	}
	return s
}
