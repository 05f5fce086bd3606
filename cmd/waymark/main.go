// Command waymark runs Waymark: web-beacon analytics, visitor identity and
// consent, account security and a secure proxy, in one binary.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"waymark.dev/waymark/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(app.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}
