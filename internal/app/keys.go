package app

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"time"

	"waymark.dev/waymark/internal/cli"
	"waymark.dev/waymark/internal/config"
	"waymark.dev/waymark/internal/identity"
	"waymark.dev/waymark/internal/integrity"
	"waymark.dev/waymark/internal/statestore"
)

// keysFlags are the flags of each keys subcommand.
var keysFlags = map[string][]string{"list": {"data", "state"}, "rotate": {"data", "state", "signing"}, "retire": {"data", "state", "id", "signing", "kid"}}

// keysCmd runs `waymark keys list|rotate|retire`: the key ring that signs
// visitor and consent cookies. It works while the server runs, which
// reloads the ring every minute.
func keysCmd(ctx context.Context, sub string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("keys "+sub, stderr)
	data := fs.String("data", config.Defaults().Data, "data folder")
	stateURL := statestore.Flag(fs)
	id := fs.Uint("id", 0, "key id")
	signing := fs.Bool("signing", false, "rotate or retire the Ed25519 key that signs relayed content (see /.well-known/waymark/keys) instead of the cookie key ring")
	kid := fs.String("kid", "", "signing key id (with --signing)")
	fs, err := cli.SubFlagSet(fs, "keys "+sub, sub, keysFlags, stderr)
	if err != nil {
		return err
	}
	if err := cli.Parse(fs, args, getenv); err != nil {
		return err
	}
	db, err := statestore.Open(ctx, *data, *stateURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if *signing || sub == "list" {
		var ring *integrity.Keyring
		if shared, ok := db.(integrity.KeyStore); ok && *stateURL != "" {
			ring, err = integrity.OpenSharedKeyring(shared, time.Now())
		} else {
			ring, err = integrity.OpenKeyring(*data, time.Now())
		}
		if err != nil {
			return err
		}
		switch sub {
		case "list":
			defer func() {
				for i, k := range ring.Keys() {
					role := "verifies"
					if i == len(ring.Keys())-1 {
						role = "signs"
					}
					fmt.Fprintf(stdout, "%s\t%s\t%s content (Ed25519 %s)\n", k.ID, k.Created.Format(time.RFC3339), role, base64.RawURLEncoding.EncodeToString(k.Public()))
				}
			}()
		case "rotate":
			k, err := ring.Rotate(time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "signing key %s signs relayed content from now on (running servers pick it up within a minute, or the sync interval with a shared store); older keys still verify until retired\n", k.ID)
			return nil
		case "retire":
			if *kid == "" {
				return cli.Usagef("keys retire --signing needs --kid (see waymark keys list)")
			}
			if err := ring.Retire(*kid); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "signing key %s retired: signatures it made no longer verify\n", *kid)
			return nil
		}
	}
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
			return cli.Usagef("keys retire needs --id (see waymark keys list)")
		}
		keys, err := db.IdentityKeys(ctx)
		if err != nil {
			return err
		}
		if len(keys) == 1 && keys[0].ID == uint32(*id) {
			return cli.Usagef("key %d is the only key; rotate first", *id)
		}
		if err := db.RetireIdentityKey(ctx, uint32(*id), now); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key %d retired: values it signed are no longer accepted\n", *id)
	default:
		return cli.Usagef("unknown keys subcommand %q; use list, rotate or retire", sub)
	}
	return nil
}
