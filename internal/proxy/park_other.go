//go:build !linux

package proxy

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// parker parks nothing where epoll is missing: every tunnel direction
// keeps a goroutine blocked in its read.
type parker struct{}

func newParker(time.Duration, prometheus.Gauge) *parker { return &parker{} }

func (*parker) park(*pump) bool { return false }
func (*parker) cancel(*tunnel)  {}
func (*parker) parked() int     { return 0 }
