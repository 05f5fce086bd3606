package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"waymark.dev/waymark/internal/apptest"
	"waymark.dev/waymark/internal/site"
)

// BenchmarkEventHandler measures one POST /api/event through the whole
// handler (parse, enrich, durable spool append) without the network, with
// many concurrent senders sharing fsyncs as in production.
func BenchmarkEventHandler(b *testing.B) {
	st := apptest.NewStack(b, apptest.Options{SpoolMaxBytes: 1 << 34})
	st.AddSite(b, &site.Site{Domain: "shop.example"})
	h := New(Deps{Log: slog.Default(), Sites: st.Sites, SiteStore: st.State, Collector: st.Collector, Stats: st.Events, Now: time.Now, Registry: prometheus.NewRegistry()})
	body := `{"n":"pageview","u":"https://shop.example/p/1","d":"shop.example","r":"https://www.google.com/","sw":1920,"sh":1080,"tz":"Europe/Berlin"}`
	b.ReportAllocs()
	b.SetParallelism(25)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("POST", "/api/event", strings.NewReader(body))
			r.Header.Set("User-Agent", chromeUA)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusAccepted {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}
