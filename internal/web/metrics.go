package web

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"waymark.dev/waymark/internal/admin"
	"waymark.dev/waymark/internal/collect"
)

type metrics struct {
	collectLatency *prometheus.HistogramVec
	mu             sync.RWMutex
	observers      map[observerKey]prometheus.Observer // to skip label lookups per hit
}

// observerKey names one series of collectLatency. A plain map keyed by it
// needs no allocation per lookup, unlike a sync.Map, whose keys are boxed.
type observerKey struct {
	endpoint string
	code     int
}

// droppedCollector exports the collector's drop counts by site and reason.
type droppedCollector struct {
	c    *collect.Collector
	desc *prometheus.Desc
}

func (d droppedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- d.desc }

func (d droppedCollector) Collect(ch chan<- prometheus.Metric) {
	for k, v := range d.c.Stats.Dropped() {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(v), k[0], k[1])
	}
}

func newMetrics(reg *prometheus.Registry, c *collect.Collector, a *admin.Auth) *metrics {
	m := &metrics{
		collectLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "waymark_collect_duration_seconds",
			Help:    "Time to accept a beacon, including the spool fsync.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .5},
		}, []string{"endpoint", "code"}),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.collectLatency)
	if a != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "waymark_admin_password_checks_total",
			Help: "Admin password checks (argon2id evaluations) run."}, func() float64 { return float64(a.PasswordChecks()) }))
	}
	if c != nil {
		reg.MustRegister(droppedCollector{c: c, desc: prometheus.NewDesc("waymark_hits_dropped_total",
			"Valid hits not stored: bots, referrer spam, ignore rules.", []string{"site", "reason"}, nil)})
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "waymark_hits_accepted_total", Help: "Hits made durable in the spool."},
			func() float64 { return float64(c.Stats.Accepted.Load()) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "waymark_hits_invalid_total", Help: "Beacons refused as invalid."},
			func() float64 { return float64(c.Stats.Invalid.Load()) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "waymark_hits_spool_full_total", Help: "Beacons refused with 503 because the spool was full."},
			func() float64 { return float64(c.Stats.Full.Load()) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "waymark_spool_fsyncs_total", Help: "Spool fsyncs; hits accepted per fsync shows the group commit at work."},
			func() float64 { return float64(c.Spool.Syncs()) }))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "waymark_spool_bytes", Help: "Bytes held in the spool."},
			func() float64 { return float64(c.Spool.Size()) }))
	}
	return m
}

func (m *metrics) observe(endpoint string, code int, start time.Time) {
	k := observerKey{endpoint, code}
	m.mu.RLock()
	o, ok := m.observers[k]
	m.mu.RUnlock()
	if !ok {
		o = m.collectLatency.WithLabelValues(endpoint, http.StatusText(code))
		m.mu.Lock()
		if m.observers == nil {
			m.observers = map[observerKey]prometheus.Observer{}
		}
		m.observers[k] = o
		m.mu.Unlock()
	}
	o.Observe(time.Since(start).Seconds())
}
