package threats

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"waymark.dev/waymark/internal/netguard"
)

func vettedClient(port uint16, allow ...string) *http.Client {
	p := &netguard.Policy{Ports: []uint16{port}}
	for _, a := range allow {
		p.Allow = append(p.Allow, netip.MustParsePrefix(a))
	}
	d := &netguard.Dialer{Policy: p, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 10 * time.Second}
}

func TestRemoteFeed(t *testing.T) {
	var mode atomic.Value
	mode.Store("ok")
	var conditional atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load() {
		case "down":
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		case "garbage":
			w.Write([]byte("<html>\n<body>oops</body>\n</html>\n"))
			return
		}
		if r.Header.Get("If-None-Match") == `"v1"` {
			conditional.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		w.Write([]byte("http://phish.example/login\nhttp://other.example/\nnot a url\n"))
	}))
	defer srv.Close()
	port := uint16(srv.Listener.Addr().(*net.TCPAddr).Port)
	dir := t.TempDir()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	u := &Updater{DB: db, Feeds: OpenFeeds(dir), Client: vettedClient(port, "127.0.0.1/32"), Now: func() time.Time { return now }}
	f := Feed{Name: "openphish", Location: srv.URL + "/feed.txt", Format: FormatOpenPhish, List: "phishing", Refresh: time.Hour}
	if err := u.Feeds.Put(f); err != nil {
		t.Fatal(err)
	}
	errs, err := u.UpdateDue(context.Background(), false)
	if err != nil || len(errs) != 0 {
		t.Fatalf("first update: %v %v", errs, err)
	}
	c := &Checker{DB: db}
	if v := c.Check("https://phish.example/login"); v.Verdict != Block {
		t.Fatalf("after the update: %+v", v)
	}
	fs, _ := u.Feeds.List()
	if len(fs) != 1 || fs[0].Entries != 2 || fs[0].BadLines != 1 || fs[0].ETag != `"v1"` || !fs[0].UpdatedAt.Equal(now) {
		t.Fatalf("feed after the update: %+v", fs)
	}
	// Not due yet: nothing fetched.
	now = now.Add(30 * time.Minute)
	u.UpdateDue(context.Background(), false)
	if conditional.Load() != 0 {
		t.Error("a feed that is not due was fetched")
	}
	// Due: a conditional request, answered 304, changes nothing.
	now = now.Add(time.Hour)
	if errs, _ := u.UpdateDue(context.Background(), false); len(errs) != 0 || conditional.Load() != 1 {
		t.Errorf("conditional update: %v, %d conditional requests", errs, conditional.Load())
	}
	// Failures keep the last good list and say why.
	for _, m := range []string{"down", "garbage"} {
		mode.Store(m)
		errs, _ := u.UpdateDue(context.Background(), true)
		if errs["openphish"] == nil {
			t.Errorf("%s: no error", m)
		}
		if v := c.Check("https://phish.example/login"); v.Verdict != Block {
			t.Errorf("%s: the last good list was lost", m)
		}
		fs, _ := u.Feeds.List()
		if fs[0].LastError == "" || fs[0].Entries != 2 {
			t.Errorf("%s: feed state %+v", m, fs[0])
		}
	}
	// The vetted dialer refuses loopback unless allowed.
	u.Client = vettedClient(port)
	mode.Store("ok")
	if _, err := u.Update(context.Background(), &f); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("feed on loopback with the default policy: %v", err)
	}
}

func TestFileFeed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mine.txt")
	os.WriteFile(path, []byte("bad.example\n"), 0o600)
	db, _ := Open(dir)
	u := &Updater{DB: db, Feeds: OpenFeeds(dir), Now: time.Now}
	f := Feed{Name: "mine", Location: path, Format: FormatDomains, List: "custom", Refresh: time.Minute}
	if _, err := u.Update(context.Background(), &f); err != nil {
		t.Fatal(err)
	}
	if p, err := u.Update(context.Background(), &f); err != nil || p != nil {
		t.Errorf("unchanged file read again: %v %v", p, err)
	}
	os.WriteFile(path, []byte("bad.example\nworse.example\n"), 0o600)
	later := time.Now().Add(time.Second)
	os.Chtimes(path, later, later)
	if p, err := u.Update(context.Background(), &f); err != nil || p == nil || len(p.Entries) != 2 {
		t.Errorf("changed file: %v %v", p, err)
	}
	if found, err := u.Feeds.Remove("mine"); !found || err != nil {
		t.Errorf("remove: %v %v", found, err)
	}
	if fs, _ := u.Feeds.List(); len(fs) != 0 {
		t.Errorf("after remove: %+v", fs)
	}
}
