package web

import (
	"net/url"
	"testing"
)

func TestParseView(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		query string
		ok    bool
		want  string // the view's canonical query string
	}{
		{"", true, ""},
		{"period=7d", true, "period=7d"},
		{"period=30d", true, ""},
		{"from=2024-03-01&to=2024-03-31", true, "from=2024-03-01&to=2024-03-31"},
		{"from=2024-03-31&to=2024-03-01", false, ""},
		{"from=2024-03-01", false, ""},
		{"period=decade", false, ""},
		{"compare=1&f=is~visit:source~Google", true, "compare=1&f=is~visit%3Asource~Google"},
		{"f=contains~event:page~%2Fblog~x", true, "f=contains~event%3Apage~%2Fblog~x"},
		{"f=is~event:props:plan~pro", true, "f=is~event%3Aprops%3Aplan~pro"},
		{"f=like~visit:source~G", false, ""},
		{"f=is~visit:nope~G", false, ""},
		{"f=is~visit:source~", false, ""},
		{"f=is~visit:source", false, ""},
	} {
		t.Run(c.query, func(t *testing.T) {
			q, _ := url.ParseQuery(c.query)
			v, err := parseView(q)
			if (err == nil) != c.ok {
				t.Errorf("%q: error %v, want ok=%v", c.query, err, c.ok)
				return
			}
			if c.ok && v.values().Encode() != c.want {
				t.Errorf("%q: canonical %q, want %q", c.query, v.values().Encode(), c.want)
			}
		})
	}
	v, _ := parseView(url.Values{"f": {"is~visit:source~Google", "is~visit:browser~Firefox"}})
	v = v.withFilter(viewFilter{Dim: "visit:source", Op: "is", Value: "Bing"})
	if len(v.Filters) != 2 || v.Filters[1].Value != "Bing" {
		t.Errorf("a second filter on the same dimension should replace the first: %+v", v.Filters)
	}
	if v = v.withoutFilter(0); len(v.Filters) != 1 || v.Filters[0].Dim != "visit:source" {
		t.Errorf("withoutFilter: %+v", v.Filters)
	}
}

// FuzzParseView: any query string gives a view or an error, never a panic,
// and a view's own address reads back as the same view.
func FuzzParseView(f *testing.F) {
	for _, s := range []string{"", "period=7d&compare=1", "from=2024-01-01&to=2024-01-02", "f=is~visit:source~a~b", "f=contains~event:props:~x", "f=%ff~%00~"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		v, err := parseView(q)
		if err != nil {
			return
		}
		again, err := parseView(v.values())
		if err != nil {
			t.Fatalf("the view of %q does not read back: %v", raw, err)
		}
		if again.values().Encode() != v.values().Encode() {
			t.Fatalf("%q: %q reads back as %q", raw, v.values().Encode(), again.values().Encode())
		}
		_ = v.filterJSON()
		_ = v.dateRange()
	})
}

func TestParseStep(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"/pricing": "Visit /pricing", "Signup": "Signup", "page /a*": "Visit /a*", "event Sign up": "Sign up", "  /x  ": "Visit /x"} {
		g, err := parseStep(in)
		if err != nil || g.Name() != want {
			t.Errorf("parseStep(%q) = %v, %v; want %s", in, g.Name(), err, want)
		}
	}
	if _, err := parseStep("  "); err == nil {
		t.Error("an empty step is accepted")
	}
}
