package server

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts decisions. Request counts and latency come from controller-runtime's own
// webhook metrics (controller_runtime_webhook_*), served on the same /metrics.
type Metrics struct {
	injections *prometheus.CounterVec
	denials    *prometheus.CounterVec
	skips      *prometheus.CounterVec
}

// NewMetrics registers the injector's counters with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		injections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vault_injector_injections_total", Help: "Pods injected, by shape (native-sidecar, classic-sidecar, init-only).",
		}, []string{"shape"}),
		denials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vault_injector_denials_total", Help: "Pods refused, by reason.",
		}, []string{"reason"}),
		skips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vault_injector_skips_total", Help: "Requests allowed unchanged, by reason.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.injections, m.denials, m.skips)
	return m
}

func (m *Metrics) inject(shape string) { m.injections.WithLabelValues(shape).Inc() }
func (m *Metrics) deny(reason string)  { m.denials.WithLabelValues(reason).Inc() }
func (m *Metrics) skip(reason string)  { m.skips.WithLabelValues(reason).Inc() }
