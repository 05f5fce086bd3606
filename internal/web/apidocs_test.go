package web

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"waymark.dev/waymark/internal/analytics/analyticstest"
	"waymark.dev/waymark/internal/apptest"
	"waymark.dev/waymark/internal/risk"
)

var update = flag.Bool("update", false, "rewrite the responses in docs/API.md")

var (
	httpBlock   = regexp.MustCompile("(?s)```http\n(.*?)```")
	scalarArray = regexp.MustCompile(`\[\n[^\[\]{}]*?\]`)
	spaces      = regexp.MustCompile(`\s*\n\s*`)
)

// TestAPIDocs replays every request/response pair of docs/API.md against a
// server holding the conformance fixture.
func TestAPIDocs(t *testing.T) {
	const path = "../../docs/API.md"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st := apptest.NewStack(t, apptest.Options{Now: func() time.Time { return analyticstest.Now }})
	fixture := analyticstest.Site()
	st.AddSite(t, fixture)
	analyticstest.Load(t, st.Events)
	token := st.AddToken(t, "") // every site: the account-security examples need one
	srv := httptest.NewServer(New(Deps{Log: slog.Default(), Sites: st.Sites, SiteStore: st.State, Collector: st.Collector,
		Stats: st.Events, Now: func() time.Time { return analyticstest.Now }, Registry: prometheus.NewRegistry(),
		Risk:    &risk.Service{Store: st.State, Policy: risk.DefaultPolicy(), Now: func() time.Time { return analyticstest.Now }},
		Threats: testThreats(t)}))
	defer srv.Close()

	blocks := httpBlock.FindAllSubmatchIndex(doc, -1)
	if len(blocks)%2 != 0 || len(blocks) < 4 {
		t.Fatalf("docs/API.md has %d http blocks; want request/response pairs", len(blocks))
	}
	var out bytes.Buffer
	last := 0
	for i := 0; i < len(blocks); i += 2 {
		req := string(doc[blocks[i][2]:blocks[i][3]])
		respStart, respEnd := blocks[i+1][2], blocks[i+1][3]
		want := string(doc[respStart:respEnd])
		status, body := replay(t, srv.URL, req, token)
		got := "HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\n\n" + body + "\n"
		if *update {
			out.Write(doc[last:respStart])
			out.WriteString(got)
			last = respEnd
			continue
		}
		if !sameResponse(want, got) {
			t.Errorf("request:\n%s\ndocumented response:\n%s\nactual:\n%s", req, want, got)
		}
	}
	if *update {
		out.Write(doc[last:])
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func replay(t *testing.T, base, block, token string) (int, string) {
	t.Helper()
	head, body, _ := strings.Cut(block, "\n\n")
	lines := strings.Split(head, "\n")
	method, target, _ := strings.Cut(lines[0], " ")
	req, err := http.NewRequest(method, base+target, strings.NewReader(strings.TrimSpace(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
	for _, l := range lines[1:] {
		if strings.TrimSpace(l) == "" {
			continue
		}
		k, v, _ := strings.Cut(l, ": ")
		req.Header.Set(k, strings.ReplaceAll(v, "$TOKEN", token))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	b = bytes.TrimSpace(b)
	var v any
	if json.Unmarshal(b, &v) == nil {
		var pretty bytes.Buffer
		enc := json.NewEncoder(&pretty)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		enc.Encode(v)
		// Arrays of plain values on one line read better.
		b = scalarArray.ReplaceAllFunc(bytes.TrimSpace(pretty.Bytes()), func(m []byte) []byte {
			return spaces.ReplaceAll(m, []byte(" "))
		})
		b = bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("[ "), []byte("[")), []byte(" ]"), []byte("]"))
	}
	// Values that change on every call read as "…".
	b = volatileJSON.ReplaceAll(b, []byte(`"$1": "…"`))
	return resp.StatusCode, string(b)
}

var volatileJSON = regexp.MustCompile(`"(device_cookie|set_cookie|device_id|id)": "[^"]*"`)

// sameResponse compares status lines and bodies, JSON by value.
func sameResponse(want, got string) bool {
	ws, wb, _ := strings.Cut(want, "\n\n")
	gs, gb, _ := strings.Cut(got, "\n\n")
	if strings.TrimSpace(ws) != strings.TrimSpace(gs) {
		return false
	}
	var wv, gv any
	if json.Unmarshal([]byte(wb), &wv) == nil && json.Unmarshal([]byte(gb), &gv) == nil {
		wj, _ := json.Marshal(wv)
		gj, _ := json.Marshal(gv)
		return bytes.Equal(wj, gj)
	}
	return strings.TrimSpace(wb) == strings.TrimSpace(gb)
}
