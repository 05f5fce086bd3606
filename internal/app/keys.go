package app

import (
	"context"
	"fmt"
	"io"
	"time"

	"waymark.dev/waymark/internal/config"
	"waymark.dev/waymark/internal/identity"
)

// keysCmd runs `waymark keys list|rotate|retire`: the key ring that signs
// visitor and consent cookies. It works while the server runs, which
// reloads the ring every minute.
func keysCmd(ctx context.Context, sub string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys "+sub, stderr)
	data := fs.String("data", config.Defaults().Data, "data folder")
	id := fs.Uint("id", 0, "key id (retire)")
	if err := parse(fs, args, getenv); err != nil {
		return err
	}
	db, err := openState(ctx, *data)
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now()
	switch sub {
	case "list":
		ring, err := identity.LoadRing(ctx, db, now)
		if err != nil {
			return err
		}
		for _, k := range ring.Keys() {
			role := "verifies"
			if k.ID == ring.SigningID() {
				role = "signs"
			}
			fmt.Fprintf(stdout, "%d\t%s\t%s\n", k.ID, k.Created.Format(time.RFC3339), role)
		}
	case "rotate":
		k, err := identity.Rotate(ctx, db, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key %d signs from now on; older keys still verify until retired\n", k.ID)
	case "retire":
		if *id == 0 || *id > 1<<32-1 {
			return usagef("keys retire needs --id (see waymark keys list)")
		}
		keys, err := db.IdentityKeys(ctx)
		if err != nil {
			return err
		}
		if len(keys) == 1 && keys[0].ID == uint32(*id) {
			return usagef("key %d is the only key; rotate first", *id)
		}
		if err := db.RetireIdentityKey(ctx, uint32(*id), now); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key %d retired: values it signed are no longer accepted\n", *id)
	default:
		return usagef("unknown keys subcommand %q; use list, rotate or retire", sub)
	}
	return nil
}
