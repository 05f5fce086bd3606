package collect

import (
	"net/url"
	"testing"

	"waymark.dev/waymark/internal/analytics"
)

func TestNormalizePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		keep []string
		hash bool
		want string
	}{
		{"https://e.com", nil, false, "/"},
		{"https://e.com/a/b?x=1#frag", nil, false, "/a/b"},
		{"https://e.com/app#/settings", nil, true, "/app#/settings"},
		{"https://e.com/search?q=shoes&utm_source=x&page=2", []string{"q", "page"}, false, "/search?page=2&q=shoes"},
		{"https://e.com/caf%C3%A9", nil, false, "/café"},
	}
	for _, tt := range tests {
		u, _ := url.Parse(tt.in)
		if got := NormalizePath(u, tt.keep, tt.hash); got != tt.want {
			t.Errorf("NormalizePath(%q, %v) = %q, want %q", tt.in, tt.keep, got, tt.want)
		}
	}
}

func TestScreenClassAndLanguage(t *testing.T) {
	t.Parallel()
	for w, want := range map[uint16]string{0: "", 375: "Mobile", 768: "Tablet", 1366: "Laptop", 1920: "Desktop"} {
		if got := ScreenClass(w); got != want {
			t.Errorf("ScreenClass(%d) = %q, want %q", w, got, want)
		}
	}
	for in, want := range map[string]string{"en-us": "en-US", "zh_Hans_CN": "zh-CN", "de": "de", "es-419": "es-419", "": "", "<x>": ""} {
		if got := normalizeLanguage(in); got != want {
			t.Errorf("normalizeLanguage(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSanitize: whatever slips past parsing, a hit reaches the spool as
// valid UTF-8 without NUL bytes (a string the store refuses would stall
// the ingester on its batch).
func TestSanitize(t *testing.T) {
	t.Parallel()
	h := analytics.Hit{Path: "/caf\xe9", Referrer: "a\x00b", Props: []analytics.Prop{{Key: "k\xff", Value: "ok"}}, Language: "en"}
	sanitize(&h)
	if h.Path != "/caf\uFFFD" || h.Referrer != "ab" || h.Props[0].Key != "k\uFFFD" || h.Language != "en" {
		t.Errorf("sanitized: %+v", h)
	}
}

// TestInvalidUTF8Refused: percent-escapes that decode to bytes which are
// not text are refused with a clear error, in both beacon forms.
func TestInvalidUTF8Refused(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"n":"pageview","u":"https://e.com/%FF","d":"e.com"}`,
		`{"n":"pageview","u":"https://e.com/?utm_source=%FE","d":"e.com"}`,
	} {
		if _, err := ParseEvent([]byte(body)); err == nil {
			t.Errorf("ParseEvent(%s) accepted", body)
		}
	}
	q, _ := url.ParseQuery("d=e.com&u=https%3A%2F%2Fe.com%2F%25FF")
	if _, err := ParsePixel(q, ""); err == nil {
		t.Error("ParsePixel accepted a path that is not UTF-8")
	}
}
