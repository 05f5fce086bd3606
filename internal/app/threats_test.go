package app

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestThreatsCLI(t *testing.T) {
	data := t.TempDir()
	feed := filepath.Join(t.TempDir(), "phish.txt")
	os.WriteFile(feed, []byte("http://phish.example/login\nmailto:nope\nhttps://other.example/a/b.html\n"), 0o600)

	code, out, _ := runCLI(t, "threats", "canon", "http://3279880203/blah", "www.GOOgle.com/a/../b")
	if code != 0 || out != "http://195.127.0.11/blah\nhttp://www.google.com/b\n" {
		t.Errorf("canon: %d %q", code, out)
	}
	if code, _, errs := runCLI(t, "threats", "canon", "mailto:x@y"); code == 0 || !strings.Contains(errs, "not a URL") {
		t.Errorf("canon of a non-URL: %d %q", code, errs)
	}
	if code, out, _ := runCLI(t, "threats", "expressions", "http://a.b.c/1/2.html?p=1"); code != 0 || strings.Count(out, "\n") != 8 {
		t.Errorf("expressions: %d %q", code, out)
	}

	// Offline check with a feed and a protected domain.
	code, out, errs := runCLI(t, "threats", "check", "--feed", feed+":openphish", "--protect", "waymark.dev",
		"http://phish.example/login?x", "https://waymark-login.dev/", "https://example.org/")
	if code != 0 || !strings.Contains(errs, ":2: ") {
		t.Fatalf("check: %d %q (want the bad line 2 reported)", code, errs)
	}
	var verdicts []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("check output %q: %v", line, err)
		}
		verdicts = append(verdicts, v)
	}
	if len(verdicts) != 3 || verdicts[0]["verdict"] != "block" || verdicts[0]["list"] != "phishing" ||
		verdicts[1]["verdict"] != "block" || verdicts[1]["match"] != "waymark.dev" || verdicts[1]["score"] != 85.0 || verdicts[2]["verdict"] != "allow" {
		t.Errorf("verdicts: %v", verdicts)
	}

	// A protected host name (issue 26): its labels run together are a
	// lookalike, its own domain is not.
	code, out, errs = runCLI(t, "threats", "check", "--protect", "launchpad.ethereum.org",
		"https://launchpad-ethereum.org/", "https://launchpad.ethereum.org/", "https://ethereum.github.io/")
	if code != 0 || strings.Count(out, `"verdict":"allow"`) != 2 || !strings.Contains(out, `"verdict":"block","list":"lookalike","match":"launchpad.ethereum.org"`) {
		t.Errorf("check with a protected host: %d %q %q", code, out, errs)
	}

	// Import into a data folder, then list, stats and check against it.
	code, out, _ = runCLI(t, "threats", "import", "--data", data, "--feed", feed+":openphish", "--source", "openphish")
	if code != 0 || !strings.Contains(out, "imported 2 entries") {
		t.Fatalf("import: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, "threats", "list", "--data", data, "--list", "phishing"); code != 0 || strings.Count(out, "openphish") != 2 {
		t.Errorf("list: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, "threats", "stats", "--data", data); code != 0 || !strings.Contains(out, `"entries": 2`) {
		t.Errorf("stats: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, "threats", "check", "--data", data, "https://other.example/a/b.html"); code != 0 || !strings.Contains(out, `"verdict":"block"`) {
		t.Errorf("check against the data folder: %d %q", code, out)
	}
	// A feed over HTTP, registered with a refresh interval.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("||ads.example^\n||track.example^\n"))
	}))
	defer srv.Close()
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	if code, _, errs := runCLI(t, "threats", "import", "--data", data, "--feed", srv.URL+"/list.txt:adblock", "--source", "ads", "--refresh", "6h", "--ports", port); code == 0 || !strings.Contains(errs, "loopback") {
		t.Errorf("a feed URL on loopback without --allow-cidrs: %d %q", code, errs)
	}
	code, out, errs = runCLI(t, "threats", "import", "--data", data, "--feed", srv.URL+"/list.txt:adblock", "--source", "ads", "--refresh", "6h",
		"--allow-cidrs", "127.0.0.1/32", "--ports", port)
	if code != 0 || !strings.Contains(out, "imported 2 entries") || !strings.Contains(out, "every 6h0m0s") {
		t.Fatalf("import from a URL: %d %q %q", code, out, errs)
	}
	if code, out, _ := runCLI(t, "threats", "feeds", "--data", data); code != 0 || !strings.Contains(out, `"name":"ads"`) || !strings.Contains(out, `"refresh":21600000000000`) {
		t.Errorf("feeds: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, "threats", "update", "--data", data, "--force", "--allow-cidrs", "127.0.0.1/32", "--ports", port); code != 0 || !strings.Contains(out, "ads\t2 entries") {
		t.Errorf("update: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, "threats", "remove", "--data", data, "--source", "ads"); code != 0 || !strings.Contains(out, "2 entries") {
		t.Errorf("remove: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, "threats", "stats", "--data", data); code != 0 || !strings.Contains(out, `"entries": 2`) {
		t.Errorf("stats after remove: %d %q", code, out)
	}
	for _, args := range [][]string{
		{"threats", "remove", "--data", data, "--source", "nope"},
		{"threats", "import", "--data", data},
		{"threats", "import", "--data", data, "--feed", feed, "--list", "nope"},
		{"threats", "import", "--data", data, "--feed", filepath.Join(data, "missing.txt")},
		{"threats", "check", "--protect", "co.uk", "http://a.example/"},
		{"threats", "nope"},
	} {
		if code, _, errs := runCLI(t, args...); code == 0 || errs == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
}
