package analytics

import (
	"net/url"
	"testing"
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
