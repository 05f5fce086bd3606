package proxy

import (
	"bytes"
	"log/slog"
	"net/netip"
	"regexp"
	"testing"
	"time"

	"waymark.dev/waymark/internal/threats"
)

// TestAuditLinesMatchSlog: the fast audit writer writes exactly the
// lines slog's JSONHandler wrote, escapes included, but for the time.
func TestAuditLinesMatchSlog(t *testing.T) {
	start := time.Date(2026, 12, 3, 4, 0, 0, 0, time.UTC)
	for _, q := range []*request{
		{start: start, user: "alice", client: "127.0.0.1", method: "GET", proto: "HTTP/1.1", dest: Destination{Host: "example.com", Port: 80},
			ip: netip.MustParseAddr("93.184.215.14"), status: 200, up: 12, down: 3456},
		{start: start, user: "bob", client: "::1", method: "CONNECT", proto: "HTTP/2.0", dest: Destination{Host: "xn--80ak6aa92e.com", Port: 443},
			decision: "deny", reason: ReasonThreatWarningContinued, threat: &threats.Verdict{List: "phishing", Match: `a"b\c<d>&e`, Source: "feed:x\n\t\x01"}},
		{start: start, method: "G\xffET", proto: "HTTP/1.0", dest: Destination{Host: "h\u2028\u2029é"}, decision: "error", reason: ReasonUpstream, status: 502},
	} {
		for _, d := range []time.Duration{0, 1440 * time.Microsecond, 25 * time.Minute} {
			var fast, slow bytes.Buffer
			now := start.Add(d)
			a := &Server{AuditLines: NewAuditLines(&fast), Now: func() time.Time { return now }, Metrics: NewMetrics(nil)}
			b := &Server{Audit: slog.New(slog.NewJSONHandler(&slow, nil)).With("component", "proxy_audit"), Now: func() time.Time { return now }, Metrics: NewMetrics(nil)}
			q1, q2 := *q, *q
			a.audit(&q1)
			b.audit(&q2)
			stamp := regexp.MustCompile(`"time":"[^"]*"`)
			got, want := stamp.ReplaceAllString(fast.String(), `"time":""`), stamp.ReplaceAllString(slow.String(), `"time":""`)
			if got != want {
				t.Errorf("fast line\n%s differs from slog's\n%s", got, want)
			}
			if _, err := time.Parse(time.RFC3339Nano, regexp.MustCompile(`"time":"([^"]*)"`).FindStringSubmatch(fast.String())[1]); err != nil {
				t.Errorf("time: %v", err)
			}
		}
	}
}

// BenchmarkAuditLine is one audit line, through slog and the fast writer.
func BenchmarkAuditLine(b *testing.B) {
	q := &request{start: time.Now(), user: "alice", client: "127.0.0.1", method: "GET", proto: "HTTP/1.1", dest: Destination{Host: "example.com", Port: 80},
		ip: netip.MustParseAddr("93.184.215.14"), status: 200, up: 12, down: 3456, decision: "allow"}
	var sink bytes.Buffer
	for _, fast := range []bool{false, true} {
		name := "slog"
		s := &Server{Audit: slog.New(slog.NewJSONHandler(&sink, nil)).With("component", "proxy_audit"), Now: time.Now, Metrics: NewMetrics(nil)}
		if fast {
			name, s.AuditLines = "fast", NewAuditLines(&sink)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sink.Reset()
				s.audit(q)
			}
		})
	}
}

// FuzzAuditLine: for any strings the fast writer's line is slog's.
func FuzzAuditLine(f *testing.F) {
	f.Add("alice", "example.com", `a"b\c`, "feed\n")
	f.Add("", "h\u2028\xff", "<&>", "\x00\x1f")
	stamp := regexp.MustCompile(`"time":"[^"]*"`)
	f.Fuzz(func(t *testing.T, user, host, match, source string) {
		q := &request{start: time.Unix(0, 0), user: user, client: "127.0.0.1", method: "GET", proto: "HTTP/1.1", dest: Destination{Host: host, Port: 80},
			decision: "warn", threat: &threats.Verdict{List: "lookalike", Match: match, Source: source}}
		var fast, slow bytes.Buffer
		now := func() time.Time { return time.Unix(1, 0) }
		q1, q2 := *q, *q
		(&Server{AuditLines: NewAuditLines(&fast), Now: now, Metrics: NewMetrics(nil)}).audit(&q1)
		(&Server{Audit: slog.New(slog.NewJSONHandler(&slow, nil)).With("component", "proxy_audit"), Now: now, Metrics: NewMetrics(nil)}).audit(&q2)
		if got, want := stamp.ReplaceAllString(fast.String(), ""), stamp.ReplaceAllString(slow.String(), ""); got != want {
			t.Fatalf("fast %s\nslog %s", got, want)
		}
	})
}
