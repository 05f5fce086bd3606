package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the proxy's Prometheus series.
type Metrics struct {
	decisions *prometheus.CounterVec
	bytesUp   prometheus.Counter
	bytesDown prometheus.Counter
	tunnels   prometheus.Gauge
	parked    prometheus.Gauge
}

// NewMetrics creates the series and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "waymark_proxy_decisions_total",
			Help: "Proxy decisions by outcome (allow, deny, error) and reason."}, []string{"decision", "reason"}),
		bytesUp: prometheus.NewCounter(prometheus.CounterOpts{Name: "waymark_proxy_bytes_up_total",
			Help: "Bytes relayed from clients to destinations."}),
		bytesDown: prometheus.NewCounter(prometheus.CounterOpts{Name: "waymark_proxy_bytes_down_total",
			Help: "Bytes relayed from destinations to clients."}),
		tunnels: prometheus.NewGauge(prometheus.GaugeOpts{Name: "waymark_proxy_tunnels_open",
			Help: "CONNECT tunnels open now."}),
		parked: prometheus.NewGauge(prometheus.GaugeOpts{Name: "waymark_proxy_tunnel_directions_parked",
			Help: "Tunnel directions parked now: quiet, waiting in the proxy's epoll set without a goroutine (two per idle tunnel)."}),
	}
	if reg != nil {
		reg.MustRegister(m.decisions, m.bytesUp, m.bytesDown, m.tunnels, m.parked)
	}
	return m
}

func (m *Metrics) decision(d, reason string) { m.decisions.WithLabelValues(d, reason).Inc() }

func (m *Metrics) bytes(up, down int64) {
	if up > 0 {
		m.bytesUp.Add(float64(up))
	}
	if down > 0 {
		m.bytesDown.Add(float64(down))
	}
}
