package consent

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Source says how a decision was made.
type Source string

// Sources.
const (
	SourceBanner      Source = "banner"      // the first layer
	SourcePreferences Source = "preferences" // the second layer or the persistent link
	SourceAPI         Source = "api"         // POST /api/v1/consent from the site's code
	SourceGPC         Source = "gpc"         // a privacy signal, before any choice
	SourceExpiry      Source = "expiry"      // a decision ran out
)

// ValidSource reports whether s is a source a client may name.
func ValidSource(s Source) bool {
	switch s {
	case SourceBanner, SourcePreferences, SourceAPI:
		return true
	}
	return false
}

// ErrNotFound is returned for an unknown receipt.
var ErrNotFound = errors.New("consent: receipt not found")

// Receipt is the proof of one decision. Receipts are append-only; the
// only removal is a visitor's own request to be forgotten.
type Receipt struct {
	ID            string    `json:"receipt_id"`
	Site          string    `json:"site"`
	VisitorID     string    `json:"visitor_id,omitempty"` // hex; empty when no identifier was allowed
	PolicyVersion string    `json:"policy_version"`
	TextHash      string    `json:"text_hash"` // SHA-256 of what was shown (Policy.TextHash)
	Language      string    `json:"language"`
	Choices       Choices   `json:"purposes"`
	Time          time.Time `json:"time"`
	Source        Source    `json:"source"`
	IPPrefix      string    `json:"ip_prefix,omitempty"` // /24 of IPv4, /48 of IPv6
	UAFamily      string    `json:"ua_family,omitempty"` // browser family only
}

// NewReceiptID returns a random receipt id (32 hex digits).
func NewReceiptID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// TruncateIP keeps the network of an address: the /24 of IPv4, the /48
// of IPv6; "" for an invalid address.
func TruncateIP(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	a = a.Unmap()
	bits := 24
	if a.Is6() {
		bits = 48
	}
	p, _ := a.Prefix(bits)
	return p.String()
}

// Store keeps receipts. Adding is append-only; AddReceipts stores a batch
// atomically and durably (the sqlite store syncs it to disk).
type Store interface {
	AddReceipts(ctx context.Context, rs []*Receipt) error
	ReceiptByID(ctx context.Context, id string) (*Receipt, error)
	ReceiptsByVisitor(ctx context.Context, visitorID string) ([]*Receipt, error)
	// EachReceipt calls fn for every receipt since t, oldest first.
	EachReceipt(ctx context.Context, since time.Time, fn func(*Receipt) error) error
	// ForgetVisitor removes a visitor's receipts at their request and
	// returns how many.
	ForgetVisitor(ctx context.Context, visitorID string) (int64, error)
}

// Export formats.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// csvHeader are the CSV export's columns; choices are one column of
// "purpose=yes|no" pairs in purpose order.
var csvHeader = []string{"receipt_id", "site", "visitor_id", "policy_version", "text_hash", "language", "purposes", "time", "source", "ip_prefix", "ua_family"}

// Export writes every receipt since t to w as JSON lines or CSV.
func Export(ctx context.Context, st Store, since time.Time, format string, w io.Writer) error {
	switch format {
	case FormatJSONL:
		enc := json.NewEncoder(w)
		return st.EachReceipt(ctx, since, func(r *Receipt) error { return enc.Encode(r) })
	case FormatCSV:
		cw := csv.NewWriter(w)
		cw.Write(csvHeader)
		err := st.EachReceipt(ctx, since, func(r *Receipt) error {
			return cw.Write([]string{r.ID, r.Site, r.VisitorID, r.PolicyVersion, r.TextHash, r.Language, choicesString(r.Choices),
				r.Time.UTC().Format(time.RFC3339Nano), string(r.Source), r.IPPrefix, r.UAFamily})
		})
		cw.Flush()
		if err != nil {
			return err
		}
		return cw.Error()
	}
	return fmt.Errorf("%w: export format %q: use jsonl or csv", ErrInvalid, format)
}

func choicesString(c Choices) string {
	ids := make([]string, 0, len(c))
	for id := range c {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	parts := make([]string, len(ids))
	for i, id := range ids {
		v := "no"
		if c[id] {
			v = "yes"
		}
		parts[i] = id + "=" + v
	}
	return strings.Join(parts, " ")
}

// ReadJSONL reads receipts written by Export as JSON lines.
func ReadJSONL(r io.Reader) ([]*Receipt, error) {
	dec := json.NewDecoder(r)
	var out []*Receipt
	for {
		var x Receipt
		if err := dec.Decode(&x); err == io.EOF {
			return out, nil
		} else if err != nil {
			return out, fmt.Errorf("consent: receipt %d: %w", len(out)+1, err)
		}
		out = append(out, &x)
	}
}
