package threats

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Feed is a registered source: a local file or an HTTP(S) URL, read again
// every Refresh. The rest is its last update's outcome.
type Feed struct {
	Name     string        `json:"name"`
	Location string        `json:"location"` // a file path or an http(s) URL
	Format   string        `json:"format"`
	List     string        `json:"list"`
	Refresh  time.Duration `json:"refresh"` // 0: only when asked (waymark threats update)

	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	CheckedAt    time.Time `json:"checked_at,omitzero"`
	UpdatedAt    time.Time `json:"updated_at,omitzero"`
	Entries      int       `json:"entries"`
	BadLines     int       `json:"bad_lines"`
	LastError    string    `json:"last_error,omitempty"`
}

// Remote tells whether the feed is fetched over HTTP(S).
func (f *Feed) Remote() bool {
	return strings.HasPrefix(f.Location, "http://") || strings.HasPrefix(f.Location, "https://")
}

// Due tells whether the feed should be read again at now.
func (f *Feed) Due(now time.Time) bool {
	return f.Refresh > 0 && (f.CheckedAt.IsZero() || !now.Before(f.CheckedAt.Add(f.Refresh)))
}

// FeedsFile is where a data folder registers its feeds.
const FeedsFile = "threat-feeds.json"

// maxFeedBytes bounds a downloaded feed.
const maxFeedBytes = 512 << 20

// Feeds is a data folder's registered feeds.
type Feeds struct {
	path string
	mu   sync.Mutex
}

// OpenFeeds returns the feed registry of dir.
func OpenFeeds(dir string) *Feeds { return &Feeds{path: filepath.Join(dir, FeedsFile)} }

// List returns the registered feeds.
func (r *Feeds) List() ([]Feed, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.load()
}

func (r *Feeds) load() ([]Feed, error) {
	b, err := os.ReadFile(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("threats: %w", err)
	}
	var fs []Feed
	if err := json.Unmarshal(b, &fs); err != nil {
		return nil, fmt.Errorf("threats: %s: %w", r.path, err)
	}
	return fs, nil
}

// Put registers or replaces a feed (by name).
func (r *Feeds) Put(f Feed) error {
	return r.update(func(fs []Feed) []Feed {
		if i := slices.IndexFunc(fs, func(x Feed) bool { return x.Name == f.Name }); i >= 0 {
			fs[i] = f
			return fs
		}
		return append(fs, f)
	})
}

// Remove forgets a feed; it reports whether there was one.
func (r *Feeds) Remove(name string) (bool, error) {
	found := false
	err := r.update(func(fs []Feed) []Feed {
		return slices.DeleteFunc(fs, func(x Feed) bool {
			found = found || x.Name == name
			return x.Name == name
		})
	})
	return found, err
}

func (r *Feeds) update(f func([]Feed) []Feed) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	fs, err := r.load()
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(f(fs), "", "  ")
	if err != nil {
		return err
	}
	tmp := r.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("threats: %w", err)
	}
	return os.Rename(tmp, r.path)
}

// Updater reads feeds into a database.
type Updater struct {
	DB    *DB
	Feeds *Feeds
	// Client fetches remote feeds; give it the proxy's vetted dialer so a
	// feed URL cannot reach private networks.
	Client *http.Client
	Now    func() time.Time
}

// Update reads one feed. On any failure (unreachable, an error status, a
// feed that cannot be read at all) the entries it gave last time stay,
// and the error is recorded on the feed and returned. A bad line is only
// counted. Unchanged content (304, or a file not modified) costs nothing.
func (u *Updater) Update(ctx context.Context, f *Feed) (*Parsed, error) {
	now := u.Now()
	f.CheckedAt = now
	p, err := u.read(ctx, f)
	if err == nil && p != nil && len(p.Entries) == 0 && p.ErrorCount > 0 {
		// An error page served as 200, a format mix-up: keep the old list.
		err = fmt.Errorf("threats: feed %s: no usable line (%d bad, first: %v)", f.Name, p.ErrorCount, p.Errors[0])
	}
	if err == nil && p != nil {
		err = u.DB.Replace(f.Name, p.Entries)
	}
	if err != nil {
		f.LastError = err.Error()
	} else {
		f.LastError = ""
		if p != nil {
			f.UpdatedAt, f.Entries, f.BadLines = now, len(p.Entries), p.ErrorCount
		}
	}
	if perr := u.Feeds.Put(*f); perr != nil && err == nil {
		err = perr
	}
	return p, err
}

// Fetch reads a feed whatever its state (for importing it elsewhere, such
// as into the shared store): a feed without one usable line is an error.
func (u *Updater) Fetch(ctx context.Context, f Feed) (*Parsed, error) {
	f.UpdatedAt, f.ETag, f.LastModified = time.Time{}, "", ""
	p, err := u.read(ctx, &f)
	if err != nil {
		return nil, err
	}
	if p == nil || len(p.Entries) == 0 && p.ErrorCount > 0 {
		first := error(nil)
		if p != nil && len(p.Errors) > 0 {
			first = p.Errors[0]
		}
		return p, fmt.Errorf("threats: feed %s: no usable line (first error: %v)", f.Name, first)
	}
	return p, nil
}

// read returns nil, nil when the content has not changed.
func (u *Updater) read(ctx context.Context, f *Feed) (*Parsed, error) {
	list, err := ParseList(f.List)
	if err != nil {
		return nil, err
	}
	if !f.Remote() {
		fi, err := os.Stat(f.Location)
		if err != nil {
			return nil, fmt.Errorf("threats: feed %s: %w", f.Name, err)
		}
		mod := fi.ModTime().UTC().Format(time.RFC3339Nano)
		if mod == f.LastModified && !f.UpdatedAt.IsZero() {
			return nil, nil
		}
		file, err := os.Open(f.Location)
		if err != nil {
			return nil, fmt.Errorf("threats: feed %s: %w", f.Name, err)
		}
		defer file.Close()
		p, err := ParseFeed(file, f.Format, list, f.Name, u.Now())
		if err != nil {
			return nil, err
		}
		f.LastModified = mod
		return p, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.Location, nil)
	if err != nil {
		return nil, fmt.Errorf("threats: feed %s: %w", f.Name, err)
	}
	if f.ETag != "" {
		req.Header.Set("If-None-Match", f.ETag)
	}
	if f.LastModified != "" {
		req.Header.Set("If-Modified-Since", f.LastModified)
	}
	req.Header.Set("User-Agent", "waymark-threat-feeds")
	resp, err := u.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("threats: feed %s: %w", f.Name, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return nil, nil
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("threats: feed %s: %s answered %s", f.Name, f.Location, resp.Status)
	}
	// The whole body is read first: a connection that breaks halfway
	// must not replace a good list with half of a new one.
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFeedBytes+1))
	if err != nil {
		return nil, fmt.Errorf("threats: feed %s: reading: %w", f.Name, err)
	}
	if len(body) > maxFeedBytes {
		return nil, fmt.Errorf("threats: feed %s: larger than %d MiB", f.Name, maxFeedBytes>>20)
	}
	p, err := ParseFeed(bytes.NewReader(body), f.Format, list, f.Name, u.Now())
	if err != nil {
		return nil, err
	}
	f.ETag, f.LastModified = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	return p, nil
}

// UpdateDue reads every feed that is due (all of them with force) and
// returns the errors by feed name.
func (u *Updater) UpdateDue(ctx context.Context, force bool) (map[string]error, error) {
	fs, err := u.Feeds.List()
	if err != nil {
		return nil, err
	}
	errs := map[string]error{}
	now := u.Now()
	for i := range fs {
		if !force && !fs[i].Due(now) {
			continue
		}
		if _, err := u.Update(ctx, &fs[i]); err != nil {
			errs[fs[i].Name] = err
		}
	}
	return errs, nil
}
