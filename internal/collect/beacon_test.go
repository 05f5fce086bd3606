package collect

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"testing"

	"waymark.dev/waymark/internal/analytics"
)

func TestParseEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		body      string
		want      *Beacon
		wantField string // field named by the error, "" for success
	}{
		{name: "plausible short keys", body: `{"n":"pageview","u":"https://example.com/a?x=1","d":"example.com","r":"https://google.com/","p":{"plan":"pro","n":3,"ok":true}}`,
			want: &Beacon{Name: "pageview", URL: "https://example.com/a?x=1", Domains: []string{"example.com"}, Referrer: "https://google.com/",
				Props: []analytics.Prop{{Key: "n", Value: "3"}, {Key: "ok", Value: "true"}, {Key: "plan", Value: "pro"}}}},
		{name: "plausible long keys", body: `{"name":"Signup","url":"https://example.com/","domain":"a.com, b.com","props":{"k":"v"}}`,
			want: &Beacon{Name: "Signup", URL: "https://example.com/", Domains: []string{"a.com", "b.com"}, Props: []analytics.Prop{{Key: "k", Value: "v"}}}},
		{name: "plausible hash mode", body: `{"n":"pageview","u":"https://example.com/#/cart","d":"example.com","h":1}`,
			want: &Beacon{Name: "pageview", URL: "https://example.com/#/cart", Domains: []string{"example.com"}, HashMode: true}},
		{name: "props as JSON string", body: `{"n":"x","u":"https://e.com/","d":"e.com","m":"{\"a\":\"b\"}"}`,
			want: &Beacon{Name: "x", URL: "https://e.com/", Domains: []string{"e.com"}, Props: []analytics.Prop{{Key: "a", Value: "b"}}}},
		{name: "waymark fields", body: `{"n":"engagement","u":"https://e.com/","d":"e.com","sw":1920,"sh":1080,"vw":1280,"vh":700,"dpr":2,"cd":24,"l":"de-DE","tz":"Europe/Berlin","pid":"a1f","e":1500,"sd":250}`,
			want: &Beacon{Name: "engagement", URL: "https://e.com/", Domains: []string{"e.com"}, ScreenW: 1920, ScreenH: 1080, ViewportW: 1280, ViewportH: 700,
				DPR: 2, ColorDepth: 24, Language: "de-DE", TimeZone: "Europe/Berlin", PageviewID: 0xa1f, EngagedMS: 1500, ScrollDepth: 100}},
		{name: "not JSON", body: `n=pageview`, wantField: "body"},
		{name: "no name", body: `{"u":"https://e.com/","d":"e.com"}`, wantField: "name"},
		{name: "no url", body: `{"n":"pageview","d":"e.com"}`, wantField: "url"},
		{name: "relative url", body: `{"n":"pageview","u":"/a","d":"e.com"}`, wantField: "url"},
		{name: "javascript url", body: `{"n":"pageview","u":"javascript:alert(1)","d":"e.com"}`, wantField: "url"},
		{name: "no domain", body: `{"n":"pageview","u":"https://e.com/"}`, wantField: "domain"},
		{name: "screen too wide", body: `{"n":"pageview","u":"https://e.com/","d":"e.com","sw":70000}`, wantField: "sw"},
		{name: "negative engagement", body: `{"n":"engagement","u":"https://e.com/","d":"e.com","pid":"1","e":-1}`, wantField: "e"},
		// Plausible's tracker sends engagement without a pageview id.
		{name: "engagement without pageview id", body: `{"n":"engagement","u":"https://e.com/","d":"e.com","e":10,"sd":42}`,
			want: &Beacon{Name: "engagement", URL: "https://e.com/", Domains: []string{"e.com"}, EngagedMS: 10, ScrollDepth: 42}},
		{name: "bad pid", body: `{"n":"pageview","u":"https://e.com/","d":"e.com","pid":"xyz"}`, wantField: "pid"},
		// Plausible's rules for props: a bad property is left out, the
		// event is kept (its external_controller_test).
		{name: "nested and array props left out", body: `{"n":"x","u":"https://e.com/","d":"e.com","p":{"a":{"b":1},"w":["x"],"other":"key"}}`,
			want: &Beacon{Name: "x", URL: "https://e.com/", Domains: []string{"e.com"}, Props: []analytics.Prop{{Key: "other", Value: "key"}}}},
		{name: "blank props left out", body: `{"n":"x","u":"https://e.com/","d":"e.com","p":{"foo":"","nil":null," ":"v","ws":"  ","other_key":true}}`,
			want: &Beacon{Name: "x", URL: "https://e.com/", Domains: []string{"e.com"}, Props: []analytics.Prop{{Key: "other_key", Value: "true"}}}},
		{name: "props not object ignored", body: `{"n":"x","u":"https://e.com/","d":"e.com","p":[1]}`,
			want: &Beacon{Name: "x", URL: "https://e.com/", Domains: []string{"e.com"}}},
		{name: "malformed props string ignored", body: `{"n":"x","u":"https://e.com/","d":"e.com","props":"\"show-more:button\""}`,
			want: &Beacon{Name: "x", URL: "https://e.com/", Domains: []string{"e.com"}}},
		{name: "trailing white space", body: `{"name":"pageview","url":"http://www.example.com/path ","domain":"e.com"}`,
			want: &Beacon{Name: "pageview", URL: "http://www.example.com/path", Domains: []string{"e.com"}}},
		{name: "legacy w and screen_width", body: `{"n":"pageview","u":"https://e.com/","d":"e.com","w":300}`,
			want: &Beacon{Name: "pageview", URL: "https://e.com/", Domains: []string{"e.com"}, ScreenW: 300}},
		{name: "screen_width", body: `{"name":"pageview","url":"https://e.com/","domain":"e.com","screen_width":1440}`,
			want: &Beacon{Name: "pageview", URL: "https://e.com/", Domains: []string{"e.com"}, ScreenW: 1440}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEvent([]byte(tt.body))
			if tt.wantField != "" {
				var ie *analytics.InvalidError
				if !errors.As(err, &ie) || ie.Field != tt.wantField {
					t.Fatalf("err = %v, want an InvalidError for field %q", err, tt.wantField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.page == nil || got.page.String() != got.URL {
				t.Errorf("parsed page %v, want %s", got.page, got.URL)
			}
			got.page = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParsePixel(t *testing.T) {
	t.Parallel()
	q := url.Values{"u": {"https://shop.example/p?utm_source=x"}, "d": {"shop.example"}, "sw": {"390"}, "dpr": {"3"}}
	b, err := ParsePixel(q, "")
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != analytics.EventPageview || b.ScreenW != 390 || b.DPR != 3 || b.Domains[0] != "shop.example" {
		t.Errorf("got %+v", b)
	}
	// No u= and no d=: the Referer is the page and its host the site.
	b, err = ParsePixel(url.Values{}, "https://www.Blog.example/post")
	if err != nil || b.URL != "https://www.Blog.example/post" || b.Domains[0] != "blog.example" {
		t.Errorf("referer fallback: %+v, %v", b, err)
	}
	for _, bad := range []url.Values{{}, {"u": {"https://e.com/"}, "d": {"e.com"}, "sw": {"-1"}}, {"u": {"https://e.com/"}, "d": {"e.com"}, "dpr": {"NaN"}}} {
		if _, err := ParsePixel(bad, ""); err == nil {
			t.Errorf("ParsePixel(%v) accepted", bad)
		}
	}
}

func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(`{"n":"pageview","u":"https://e.com/","d":"e.com","p":{"a":"b"},"sw":1,"pid":"ff","e":3}`))
	f.Add([]byte(`{"name":"x","url":"http://a/","domain":"a","props":"{\"a\":1}"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := ParseEvent(body)
		if err != nil {
			return
		}
		// Whatever is accepted is within the documented limits.
		if len(b.URL) > analytics.MaxURLLen || len(b.Name) > analytics.MaxNameLen || len(b.Props) > analytics.MaxProps || b.ScrollDepth > 100 || len(b.Domains) == 0 {
			t.Fatalf("accepted out-of-limit beacon %+v", b)
		}
	})
}

func FuzzParsePixel(f *testing.F) {
	f.Add("u=https%3A%2F%2Fe.com%2F&d=e.com&sw=1&p=%7B%7D", "https://e.com/x")
	f.Add("n=Signup&p=%7B%22a%22%3A1%7D", "")
	f.Fuzz(func(t *testing.T, query, referer string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		b, err := ParsePixel(q, referer)
		if err == nil && (b.URL == "" || len(b.URL) > analytics.MaxURLLen || b.ScrollDepth > 100) {
			t.Fatalf("accepted invalid pixel %+v", b)
		}
	})
}

// The bodies trackers send take the fast path.
func TestDecodeEventJSONFastPath(t *testing.T) {
	for _, body := range []string{
		`{"n":"pageview","u":"https://e.com/a?b=1","d":"e.com","r":null,"sw":1920,"sh":1080,"vw":1280,"vh":720,"dpr":1.5,"cd":24,"l":"de-DE","tz":"Europe/Berlin","pid":"a1b2c3d4e5f60718"}`,
		`{"n":"engagement","u":"https://e.com/","d":"e.com","pid":"ff","e":12345,"sd":87}`,
		`{"n":"Signup","u":"https://e.com/","d":"e.com","p":{"plan":"pro","seats":3,"trial":true},"h":1}`,
		` { "name" : "pageview", "url" : "https://e.com/", "domain" : "e.com", "referrer" : "https://duckduckgo.com/", "props" : {} } `,
	} {
		var fast, slow eventJSON
		if !decodeEventJSON([]byte(body), &fast) {
			t.Errorf("fast path refused %s", body)
			continue
		}
		if err := json.Unmarshal([]byte(body), &slow); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s:\nfast %+v\njson %+v", body, fast, slow)
		}
	}
	// What it leaves to encoding/json, which still reads or refuses it.
	for _, body := range []string{
		`{"N":"pageview"}`, `{"n":"a\"b"}`, `{"x":1}`, `{"sw":"12"}`, `{"n":1}`, "{\"n\":\"\xff\"}",
		`{"n":"a",}`, `{"sw":01}`, `[]`, `null`, `{"n":"a"} x`, `{"p":{"a":"\u00e9"}}`,
	} {
		var fast eventJSON
		if decodeEventJSON([]byte(body), &fast) {
			t.Errorf("fast path took %s", body)
		}
	}
}

// FuzzDecodeEventJSON holds the fast decoder to encoding/json: whatever it
// accepts, encoding/json accepts too and reads the same way.
func FuzzDecodeEventJSON(f *testing.F) {
	f.Add([]byte(`{"n":"pageview","u":"https://e.com/","d":"e.com","p":{"a":"b","c":[1,2.5e3,-0.1]},"sw":1,"pid":"ff","e":3,"h":true}`))
	f.Add([]byte(`{"name":"x","url":"http://a/","domain":"a","props":"{\"a\":1}","m":null,"sd":null,"l":null}`))
	f.Add([]byte(`{"n":"a","n":"b","sw":1E+2,"dpr":0.5}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast eventJSON
		if !decodeEventJSON(body, &fast) {
			return
		}
		var slow eventJSON
		if err := json.Unmarshal(body, &slow); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", body, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\nfast %+v\njson %+v", body, fast, slow)
		}
	})
}

func BenchmarkParseEvent(b *testing.B) {
	body := []byte(`{"n":"pageview","u":"https://demo.example/p/1?utm_source=news","d":"demo.example","r":"https://www.google.com/","sw":1920,"sh":1080,"vw":1280,"vh":720,"dpr":1,"cd":24,"l":"en-US","tz":"Europe/Berlin","pid":"a1b2c3d4e5f60718"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseEvent(body); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseRevenue(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		raw   string
		milli int64
		cur   string
	}{
		{`{"amount":12.5,"currency":"EUR"}`, 12500, "EUR"},
		{`{"amount":"12.50","currency":"usd"}`, 12500, "USD"},
		{`{"amount":"0.0004","currency":"EUR"}`, 0, "EUR"},
		{`{"amount":-3,"currency":"EUR"}`, -3000, "EUR"},
		{`{"amount":1e13,"currency":"EUR"}`, 0, ""},   // over a trillion
		{`{"amount":"lots","currency":"EUR"}`, 0, ""}, // not a number
		{`{"amount":5,"currency":"EURO"}`, 0, ""},     // not a code
		{`{"amount":5,"currency":"E1R"}`, 0, ""},
		{`{"amount":5}`, 0, ""},
		{`[1,2]`, 0, ""},
		{``, 0, ""},
	} {
		m, cur := parseRevenue([]byte(c.raw))
		if m != c.milli || cur != c.cur {
			t.Errorf("%s: %d %q, want %d %q", c.raw, m, cur, c.milli, c.cur)
		}
	}
}
