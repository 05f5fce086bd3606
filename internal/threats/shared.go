package threats

import (
	"context"
	"fmt"
	"strings"
)

// SharedStore keeps threat entries in the shared state store: an entry
// an operator adds through any node, every node loads (see SyncShared).
// Sources there are named as given; in a node's snapshot they carry
// SharedPrefix.
type SharedStore interface {
	// ThreatVersion changes whenever the shared entries change.
	ThreatVersion(ctx context.Context) (int64, error)
	// ThreatEntries returns all shared entries.
	ThreatEntries(ctx context.Context) ([]Entry, error)
	// ReplaceThreatSource makes entries the whole content of a source
	// (none: the source is removed) and returns how many it had before.
	ReplaceThreatSource(ctx context.Context, source string, entries []Entry) (int, error)
}

// SharedPrefix marks the sources of a node's snapshot that come from the
// shared store.
const SharedPrefix = "shared:"

// SyncShared loads the shared entries into d when their version differs
// from *version, and updates *version. It reports whether it loaded. On
// an error the node keeps its last snapshot.
func SyncShared(ctx context.Context, d *DB, s SharedStore, version *int64) (bool, error) {
	v, err := s.ThreatVersion(ctx)
	if err != nil {
		return false, fmt.Errorf("threats: shared version: %w", err)
	}
	if v == *version {
		return false, nil
	}
	entries, err := s.ThreatEntries(ctx)
	if err != nil {
		return false, fmt.Errorf("threats: shared entries: %w", err)
	}
	for i := range entries {
		entries[i].Source = SharedPrefix + entries[i].Source
	}
	if err := d.replace(func(src string) bool { return strings.HasPrefix(src, SharedPrefix) }, SharedPrefix, entries); err != nil {
		return false, err
	}
	*version = v
	return true, nil
}
