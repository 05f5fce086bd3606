package web

import (
	"encoding/json"
	"net/url"
	"reflect"
	"regexp"
	"testing"
)

func TestParseV1Filters(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want string // the v2 filters as JSON; "" for an error
	}{
		{"visit:browser==Chrome", `[["is","visit:browser",["Chrome"]]]`},
		{"visit:os == Mac;visit:os_version==10.5", `[["is","visit:os",["Mac"]],["is","visit:os_version",["10.5"]]]`},
		{"event:goal==Signup|Visit /blog**", `[["is","event:goal",["Signup","Visit /blog**"]]]`},
		{`event:page==/a\|b|/c`, `[["is","event:page",["/a|b","/c"]]]`},
		{"event:page!=/blog/*", `[["matches_not","event:page",["^/blog/[^/]*$"]]]`},
		{"visit:referrer==**a.com**", `[["matches","visit:referrer",["^.*a\\.com.*$"]]]`},
		{"event:page~blog;event:page!~draft", `[["contains","event:page",["blog"]],["contains_not","event:page",["draft"]]]`},
		{"visit:source==Direct / None", `[["is","visit:source",["Direct / None"]]]`},
		{"badproperty==bar", ""},
		{"visit:browser", ""},
		{"==Chrome", ""},
	} {
		got, err := parseV1Filters(c.in)
		if c.want == "" {
			if err == nil {
				t.Errorf("%q: no error, got %v", c.in, got)
			}
			continue
		}
		b, _ := json.Marshal(got)
		if err != nil || string(b) != c.want {
			t.Errorf("%q = %s, %v; want %s", c.in, b, err, c.want)
		}
	}
}

func TestParseV1(t *testing.T) {
	t.Parallel()
	req, err := parseV1("breakdown", url.Values{"property": {"visit:os_version"}, "period": {"custom"}, "date": {"2021-01-01, 2021-01-31"},
		"metrics": {"visitors,bounce_rate"}, "limit": {"5"}, "page": {"3"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(req.qr.Dimensions, []string{"visit:os_version", "visit:os"}) || string(req.qr.DateRange) != `["2021-01-01","2021-01-31"]` ||
		*req.qr.Pagination.Limit != 5 || req.qr.Pagination.Offset != 10 {
		t.Errorf("breakdown request: %+v", req.qr)
	}
	for _, bad := range []url.Values{
		{"interval": {"fortnight"}},
		{"period": {"custom"}, "date": {"2021-01-01"}},
		{"metrics": {"scroll_depth"}},
		{"compare": {"year_over_year"}},
	} {
		if _, err := parseV1("timeseries", bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// FuzzParseV1Filters: any filters parameter is refused or gives filters
// whose wildcard patterns compile.
func FuzzParseV1Filters(f *testing.F) {
	for _, s := range []string{"visit:browser==Chrome", "event:page==/blog/**;visit:source!=Google|Bing", `event:page==/a\|b`, "event:page~x", ";;", "visit:os==*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fs, err := parseV1Filters(s)
		if err != nil {
			return
		}
		for _, f := range fs {
			parts := f.([]any)
			if parts[0] == "matches" || parts[0] == "matches_not" {
				for _, p := range parts[2].([]string) {
					if _, err := regexp.Compile(p); err != nil {
						t.Fatalf("%q gave a pattern that does not compile: %q", s, p)
					}
				}
			}
		}
	})
}
