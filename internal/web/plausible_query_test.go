package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/apptest"
	"waymark.dev/waymark/internal/clickhouse"
	"waymark.dev/waymark/internal/clickhouse/clickhousetest"
	"waymark.dev/waymark/internal/collect"
	"waymark.dev/waymark/internal/imported"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/spool"
)

// TestPlausibleQuerySuite runs the cases in testdata/plausible/*.txt,
// translated from Plausible's Stats API v2 tests
// (test/plausible_web/controllers/api/external_stats_controller/query_*_test.exs):
// the same stored events at the same timestamps, the same query, and the
// answer Plausible's test expects. The file format is described in
// testdata/plausible/README.md.
//
// A case marked "differs: REASON" is one where Waymark answers otherwise
// on purpose or for a reason docs/API.md gives; the test fails if such a
// case starts to pass (so the list stays true) and if fewer than 95% of
// all cases, Events API cases included, pass.
func TestPlausibleQuerySuite(t *testing.T) {
	srv, st, _ := newTestServer(t, apptest.Options{})
	runPlausibleSuite(t, srv, st, st.Events)
}

// TestPlausibleQuerySuiteClickHouse runs the same cases on the shared
// event store: the ClickHouse server scripts/test starts (skipped without
// one, except under scripts/test, where it fails).
func TestPlausibleQuerySuiteClickHouse(t *testing.T) {
	ch, err := clickhouse.Open(context.Background(), clickhousetest.Database(t), clickhouse.Options{Node: "suite"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	srv, st, _ := newTestServerReading(t, apptest.Options{}, ch)
	runPlausibleSuite(t, srv, st, ch)
}

// runPlausibleSuite loads each case's events into store (which srv reads)
// and checks its answers.
func runPlausibleSuite(t *testing.T, srv *httptest.Server, st *apptest.Stack, store analytics.EventWriter) {
	files, _ := filepath.Glob("testdata/plausible/*.txt")
	if len(files) == 0 {
		t.Fatal("no cases in testdata/plausible")
	}
	var cases []plausibleCase
	for _, f := range files {
		cs, err := parsePlausibleCases(f)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, cs...)
	}
	// Events without a timestamp happen now, as in Plausible's factory:
	// on today's date even just after midnight (a case asking for "day"
	// must find them).
	now := time.Now().UTC().Truncate(time.Second)
	passed, differ := 0, 0
	for i, c := range cases {
		domain := fmt.Sprintf("q%d.plausible.test", i)
		ok := t.Run(c.name, func(t *testing.T) {
			s := &site.Site{Domain: domain, TimeZone: c.timeZone, Goals: c.goals, CreatedAt: now.AddDate(-10, 0, 0)}
			st.AddSite(t, s)
			loadPlausibleEvents(t, store, domain, c.events, now)
			if len(c.imported) > 0 {
				loadPlausibleImport(t, store.(imported.Store), domain, c, now)
			}
			hdr := map[string]string{"Authorization": "Bearer " + st.AddToken(t, domain)}
			var problems []string
			for _, x := range c.exchanges {
				var resp *http.Response
				var b []byte
				if x.path != "" {
					q := url.Values{"site_id": {domain}}
					for k, v := range x.params {
						q[k] = v
					}
					resp, b = do(t, "GET", srv.URL+x.path+"?"+q.Encode(), "", hdr)
				} else {
					body := strings.Replace(x.query, "{", fmt.Sprintf(`{"site_id":%q,`, domain), 1)
					resp, b = do(t, "POST", srv.URL+"/api/v2/query", body, hdr)
				}
				if p := comparePlausible(resp.StatusCode, b, x); p != "" {
					problems = append(problems, fmt.Sprintf("%s (line %d)\n%s", x.query, x.line, p))
				}
			}
			switch {
			case c.differs == "" && len(problems) > 0:
				t.Errorf("%s:%d: %s", c.file, c.line, strings.Join(problems, "\n"))
			case c.differs != "" && len(problems) == 0:
				t.Errorf("%s:%d: marked \"differs: %s\" but now answers as Plausible: remove the mark and the entry in docs/API.md", c.file, c.line, c.differs)
			case c.differs != "":
				differ++
				t.Logf("differs as documented (%s)", c.differs)
			}
		})
		if ok && c.differs == "" {
			passed++
		}
	}
	total := len(cases) + len(plausibleEventCases) + 1
	pass := passed + len(plausibleEventCases) + 1
	t.Logf("Plausible's tests: %d of %d cases pass (%d query cases, %d documented differences; %d Events API cases)",
		pass, total, len(cases), differ, len(plausibleEventCases)+1)
	if total < 150 || pass*100 < total*95 {
		t.Errorf("%d of %d of Plausible's cases pass; the goal is at least 150 cases and 95%%", pass, total)
	}
}

type plausibleCase struct {
	file, name, differs string
	line                int
	timeZone            string
	goals               []site.Goal
	events              []plausibleEvent
	exchanges           []plausibleExchange
	imported            []plausibleEvent // rows of imported tables (name: the table)
	importFrom          string           // the import's range (default: 2005-01-01 to today, as Plausible's factory)
	importTo            string
}

type plausibleEvent struct {
	line int
	name string
	kv   map[string]string
}

type plausibleExchange struct {
	line          int
	query         string
	path          string // a GET (v1) call: its path and parameters, site_id added
	params        url.Values
	status        int
	want          json.RawMessage
	errorContains string // the "error" of the answer contains it (Plausible's test matches a part)
	firstOnly     bool   // want is the first of the results
}

// parsePlausibleCases reads one case file.
func parsePlausibleCases(path string) ([]plausibleCase, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []plausibleCase
	var c *plausibleCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%s:%d: %s", path, n, fmt.Sprintf(format, a...))
	}
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if name, ok := strings.CutPrefix(line, "=== "); ok {
			out = append(out, plausibleCase{file: filepath.Base(path), name: name, line: n})
			c = &out[len(out)-1]
			continue
		}
		if c == nil {
			return nil, fail("%q before the first case (=== NAME)", line)
		}
		word, rest, _ := strings.Cut(line, " ")
		switch word {
		case "differs:":
			c.differs = rest
		case "timezone":
			c.timeZone = rest
		case "goal":
			kv, err := splitKV(rest)
			if err != nil {
				return nil, fail("%v", err)
			}
			c.goals = append(c.goals, site.Goal{Event: kv["event"], Page: kv["page"], Currency: kv["currency"]})
		case ">":
			if get, ok := strings.CutPrefix(rest, "GET "); ok {
				path, params, _ := strings.Cut(get, " ")
				kv, err := splitKV(params)
				if err != nil {
					return nil, fail("%v", err)
				}
				q := url.Values{}
				for k, v := range kv {
					q.Set(k, v)
				}
				c.exchanges = append(c.exchanges, plausibleExchange{line: n, query: rest, path: path, params: q})
				continue
			}
			if !json.Valid([]byte(rest)) {
				return nil, fail("query is not JSON: %s", rest)
			}
			c.exchanges = append(c.exchanges, plausibleExchange{line: n, query: rest})
		case "<":
			if len(c.exchanges) == 0 || c.exchanges[len(c.exchanges)-1].status != 0 {
				return nil, fail("answer without a query")
			}
			x := &c.exchanges[len(c.exchanges)-1]
			x.status = 200
			if code, body, ok := strings.Cut(rest, " "); ok && len(code) == 3 && code[0] >= '1' && code[0] <= '5' {
				x.status, _ = strconv.Atoi(code)
				rest = body
			}
			if sub, ok := strings.CutPrefix(rest, "~ "); ok {
				x.errorContains = sub
				continue
			}
			if first, ok := strings.CutPrefix(rest, "first "); ok {
				x.firstOnly = true // Plausible's test checks the first result only
				rest = first
			}
			if !json.Valid([]byte(rest)) {
				return nil, fail("answer is not JSON: %s", rest)
			}
			x.want = json.RawMessage(rest)
		case "import":
			kv, err := splitKV(rest)
			if err != nil {
				return nil, fail("%v", err)
			}
			c.importFrom, c.importTo = kv["from"], kv["to"]
		case "pageview", "engagement", "event":
			kv, err := splitKV(rest)
			if err != nil {
				return nil, fail("%v", err)
			}
			name := word
			if word == "event" {
				if name = kv["name"]; name == "" {
					return nil, fail("event without name=")
				}
			}
			c.events = append(c.events, plausibleEvent{line: n, name: name, kv: kv})
		default:
			if imported.TableNamed(word) != nil {
				kv, err := splitKV(rest)
				if err != nil {
					return nil, fail("%v", err)
				}
				c.imported = append(c.imported, plausibleEvent{line: n, name: word, kv: kv})
				continue
			}
			return nil, fail("unknown line %q", line)
		}
	}
	for _, c := range out {
		if len(c.exchanges) == 0 {
			return nil, fmt.Errorf("%s:%d: case %q has no query", path, c.line, c.name)
		}
		for _, x := range c.exchanges {
			if x.status == 0 {
				return nil, fmt.Errorf("%s:%d: query without an answer", path, x.line)
			}
		}
	}
	return out, sc.Err()
}

// splitKV splits `a=1 b="two words"` into a map.
func splitKV(s string) (map[string]string, error) {
	kv := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		k, rest, ok := strings.Cut(s, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \"") {
			return nil, fmt.Errorf("want key=value at %q", s)
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return nil, fmt.Errorf("bad quoted value at %q", rest)
			}
			v, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			v, rest, _ = strings.Cut(rest, " ")
		}
		kv[k] = v
		s = rest
	}
	return kv, nil
}

// loadPlausibleEvents writes a case's events as Plausible's test factory
// stores them: the given values as stored (no parsing of user agents or
// referrers), a visitor per user_id (a new one for each event without),
// sessions made by the sessionizer in timestamp order.
func loadPlausibleEvents(t *testing.T, w analytics.EventWriter, domain string, evs []plausibleEvent, now time.Time) {
	t.Helper()
	hits := make([]analytics.Hit, 0, len(evs))
	anon := uint64(1 << 40)
	for i, e := range evs {
		kv := e.kv
		h := analytics.Hit{ID: uint64(i + 1), Time: now, Site: domain, Name: e.name, Hostname: domain, Path: "/"}
		for k, v := range kv {
			var err error
			unsigned := func(bits int) (n uint64) {
				n, err = strconv.ParseUint(v, 10, bits)
				return n
			}
			switch k {
			case "name":
			case "at":
				h.Time, err = time.Parse("2006-01-02T15:04:05", v)
			case "user":
				h.VisitorID = unsigned(64)
			case "path":
				h.Path = v
			case "host":
				h.Hostname = v
			case "source":
				h.ReferrerSource = v
			case "referrer":
				h.Referrer = v
			case "channel":
				h.Channel = v
			case "utm_source":
				h.UTMSource = v
			case "utm_medium":
				h.UTMMedium = v
			case "utm_campaign":
				h.UTMCampaign = v
			case "utm_content":
				h.UTMContent = v
			case "utm_term":
				h.UTMTerm = v
			case "browser":
				h.Browser = v
			case "browser_version":
				h.BrowserVersion = v
			case "os":
				h.OS = v
			case "os_version":
				h.OSVersion = v
			case "device":
				h.Device = v
			case "screen":
				h.ScreenClass = v
			case "country":
				h.Country = v
			case "region":
				h.Region = v
			case "country_name":
				h.CountryName = v
			case "region_name":
				h.RegionName = v
			case "city_name":
				h.CityName = v
			case "city":
				h.City = uint32(unsigned(32))
			case "time":
				h.EngagedMS = uint32(unsigned(32))
			case "revenue":
				var f float64
				f, err = strconv.ParseFloat(v, 64)
				h.RevenueMilli = int64(math.Round(f * 1000))
			case "currency":
				h.RevenueCurrency = v
			case "interactive":
				h.NonInteractive = v == "false"
			case "scroll":
				h.ScrollDepth = uint8(unsigned(8))
			default:
				if p, ok := strings.CutPrefix(k, "p."); ok {
					h.Props = append(h.Props, analytics.Prop{Key: p, Value: v})
					continue
				}
				t.Fatalf("line %d: unknown field %q", e.line, k)
			}
			if err != nil {
				t.Fatalf("line %d: %s=%s: %v", e.line, k, v, err)
			}
		}
		if h.VisitorID == 0 {
			anon++
			h.VisitorID = anon
		}
		if h.Channel == "" {
			h.Channel = collect.Channel(h.ReferrerSource, h.UTMMedium, h.UTMCampaign, h.UTMSource, "")
		}
		if h.ReferrerSource == "" {
			h.ReferrerSource = analytics.SourceDirect // as the collector stores it
		}
		hits = append(hits, h)
	}
	// The factory's events arrive in any order; the sessionizer wants time
	// order, as the collector gives it.
	sortHits(hits)
	z := collect.NewSessionizer(nil)
	var evOut []analytics.Event
	for i := range hits {
		evOut = append(evOut, z.Add(&hits[i], spool.Pos{Seg: 1, Off: int64(i + 1)}))
	}
	b := &analytics.Batch{Events: evOut, Sessions: z.Flush(), Checkpoint: spool.Pos{Seg: 1, Off: int64(len(hits))}}
	if err := w.WriteBatch(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	z.Committed()
}

// importDefaults are the values of Plausible's factories for imported
// rows, where a line leaves them out.
var importDefaults = map[string]int64{"visitors": 1, "visits": 1, "pageviews": 1, "visit_duration": 10, "entrances": 1, "exits": 1, "events": 1}

// loadPlausibleImport writes a case's imported rows as one complete
// import, through the store's import interface.
func loadPlausibleImport(t *testing.T, st imported.Store, domain string, c plausibleCase, now time.Time) {
	t.Helper()
	ctx := context.Background()
	day := func(s string, def time.Time) int32 {
		if s == "" {
			return imported.Day(def)
		}
		if n, ok := strings.CutSuffix(s, "d"); ok && strings.HasPrefix(n, "-") {
			k, err := strconv.Atoi(n)
			if err != nil {
				t.Fatalf("%s:%d: import date %q: %v", c.file, c.line, s, err)
			}
			return imported.Day(now.AddDate(0, 0, k))
		}
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatalf("%s:%d: import date %q: %v", c.file, c.line, s, err)
		}
		return imported.Day(d)
	}
	imp := imported.Import{ID: time.Now().UnixNano() & (1<<52 - 1), Site: domain, Source: imported.SourcePlausible, Label: c.name, Created: now,
		From: day(c.importFrom, time.Date(2005, 1, 1, 0, 0, 0, 0, time.UTC)), To: day(c.importTo, now)}
	if err := st.BeginImport(ctx, imp); err != nil {
		t.Fatal(err)
	}
	for _, e := range c.imported {
		tb := imported.TableNamed(e.name)
		r := imported.Row{Date: imported.Day(now), Text: make([]string, len(tb.Text)), Nums: make([]int64, len(tb.Nums))}
		for i, col := range tb.Nums {
			if tb.Name != "imported_custom_events" || col.CSV != "pageviews" {
				r.Nums[i] = importDefaults[col.CSV]
			}
		}
		for k, v := range e.kv {
			switch {
			case k == "date":
				r.Date = day(v, now)
			case columnOf(tb.Text, k) >= 0:
				r.Text[columnOf(tb.Text, k)] = v
			case columnOf(tb.Nums, k) >= 0:
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatalf("line %d: %s=%s: %v", e.line, k, v, err)
				}
				r.Nums[columnOf(tb.Nums, k)] = n
			default:
				t.Fatalf("line %d: %s has no column %q", e.line, tb.Name, k)
			}
		}
		imported.Normalize(tb, &r)
		if err := st.AppendRows(ctx, &imp, tb, []imported.Row{r}); err != nil {
			t.Fatal(err)
		}
		imp.Rows++
	}
	imp.Complete = true
	if err := st.FinishImport(ctx, imp); err != nil {
		t.Fatal(err)
	}
}

// columnOf finds a column by its CSV name (or, for columns Waymark adds,
// its store name).
func columnOf(cs []imported.Column, name string) int {
	for i, c := range cs {
		if c.CSV == name || c.CSV == "" && c.Store == name {
			return i
		}
	}
	return -1
}

func sortHits(h []analytics.Hit) {
	for i := 1; i < len(h); i++ {
		for j := i; j > 0 && h[j].Time.Before(h[j-1].Time); j-- {
			h[j], h[j-1] = h[j-1], h[j]
		}
	}
}

// comparePlausible checks an answer against the expected one: a JSON
// array is the expected "results"; an object lists top-level keys whose
// values must be equal (numbers compared as numbers), so that an error's
// "error" must be Plausible's and the keys Waymark adds ("code",
// "field") may follow.
func comparePlausible(status int, body []byte, x plausibleExchange) string {
	if status != x.status {
		return fmt.Sprintf("status %d, want %d: %s", status, x.status, body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		return fmt.Sprintf("answer is not a JSON object: %s", body)
	}
	if x.errorContains != "" {
		if e, _ := got["error"].(string); !strings.Contains(e, x.errorContains) {
			return fmt.Sprintf("error %q does not contain %q", e, x.errorContains)
		}
		return ""
	}
	var want any
	_ = json.Unmarshal(x.want, &want)
	if x.firstOnly {
		rs, _ := got["results"].([]any)
		if len(rs) == 0 {
			return fmt.Sprintf("no results, want the first to be %s", x.want)
		}
		if !reflect.DeepEqual(rs[0], want) {
			g, _ := json.Marshal(rs[0])
			return fmt.Sprintf("first result:\n got %s\nwant %s", g, x.want)
		}
		return ""
	}
	if arr, ok := want.([]any); ok {
		want = map[string]any{"results": arr}
	}
	wm := want.(map[string]any)
	var diffs []string
	for k, w := range wm {
		if !reflect.DeepEqual(got[k], w) {
			g, _ := json.Marshal(got[k])
			ws, _ := json.Marshal(w)
			diffs = append(diffs, fmt.Sprintf("%s:\n got %s\nwant %s", k, g, ws))
		}
	}
	return strings.Join(diffs, "\n")
}

// TestEntryAndExitHostnames: a visit that starts on one host and leaves
// from another is counted under each as Plausible's entry and exit page
// hostname dimensions say, in visit and event queries alike.
func TestEntryAndExitHostnames(t *testing.T) {
	srv, st, _ := newTestServer(t, apptest.Options{})
	now := time.Date(2021, 1, 1, 10, 0, 0, 0, time.UTC)
	st.AddSite(t, &site.Site{Domain: "hosts.test"})
	loadPlausibleEvents(t, st.Events, "hosts.test", []plausibleEvent{
		{name: "pageview", kv: map[string]string{"user": "1", "host": "blog.hosts.test", "at": now.Format("2006-01-02T15:04:05")}},
		{name: "pageview", kv: map[string]string{"user": "1", "host": "app.hosts.test", "path": "/signup", "at": now.Add(time.Minute).Format("2006-01-02T15:04:05")}},
		{name: "pageview", kv: map[string]string{"user": "2", "host": "app.hosts.test", "at": now.Format("2006-01-02T15:04:05")}},
	}, now)
	hdr := map[string]string{"Authorization": "Bearer " + st.AddToken(t, "hosts.test")}
	for _, c := range []struct{ q, want string }{
		{`"metrics":["visits"],"dimensions":["visit:entry_page_hostname"]`, `[{"dimensions":["app.hosts.test"],"metrics":[1]},{"dimensions":["blog.hosts.test"],"metrics":[1]}]`},
		{`"metrics":["visits"],"dimensions":["visit:exit_page_hostname"]`, `[{"dimensions":["app.hosts.test"],"metrics":[2]}]`},
		{`"metrics":["pageviews"],"dimensions":["event:page"],"filters":[["is","visit:exit_page_hostname",["app.hosts.test"]],["is","visit:entry_page_hostname",["blog.hosts.test"]]]`,
			`[{"dimensions":["/"],"metrics":[1]},{"dimensions":["/signup"],"metrics":[1]}]`},
	} {
		_, b := do(t, "POST", srv.URL+"/api/v2/query", `{"site_id":"hosts.test","date_range":["2021-01-01","2021-01-01"],`+c.q+`}`, hdr)
		if !strings.Contains(string(b), `"results":`+c.want) {
			t.Errorf("%s: %s\nwant results %s", c.q, b, c.want)
		}
	}
}
