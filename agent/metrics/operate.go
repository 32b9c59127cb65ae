package metrics

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reload results (label "result" of reloads_total).
const (
	ReloadSuccess = "success"
	ReloadFailure = "failure"
)

// Operate are the metrics of issue 13: reload notifications, Vault request durations, token and
// lease expiry, build info. Labels are operations, statuses, methods and results, never a path
// or a value.
type Operate struct {
	Reloads       *prometheus.CounterVec   // by method (file, http, signal) and result
	VaultRequests *prometheus.HistogramVec // by operation and status
	expiry        *expiryCollector
	build         *prometheus.GaugeVec
}

func newOperate() (*Operate, []prometheus.Collector) {
	o := &Operate{
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "reloads_total",
			Help: "Notifications of a new generation of files, by method (file, http, signal) and result."}, []string{"method", "result"}),
		VaultRequests: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "vault_request_duration_seconds",
			Help:    "Duration of requests to Vault, by operation and HTTP status (error: Vault not reached).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15}}, []string{"operation", "status"}),
		expiry: &expiryCollector{at: map[string]expiryAt{},
			token: prometheus.NewDesc(ns+"_token_ttl_seconds", "Seconds until the agent's Vault token expires (absent without a token).", nil, nil),
			lease: prometheus.NewDesc(ns+"_lease_ttl_seconds", "Seconds until the soonest lease of a fetched secret ends (absent without leases).", nil, nil)},
	}
	o.build = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "build_info",
		Help: "Always 1; the labels say which agent runs."}, []string{"version", "goversion"})
	return o, []prometheus.Collector{o.Reloads, o.VaultRequests, o.expiry, o.build}
}

// SetBuildInfo publishes the agent's version in build_info.
func (o *Operate) SetBuildInfo(version string) {
	o.build.Reset()
	o.build.WithLabelValues(version, runtime.Version()).Set(1)
}

// ServePod is Serve on every address of the pod (--agent-metrics=pod), so Prometheus can
// scrape the pod IP. Same endpoints: health and counters, never a value.
func (m *Metrics) ServePod(ctx context.Context, port int, log *slog.Logger) (string, error) {
	return m.serve(ctx, "", port, log)
}

// Request implements vault.Observer.
func (o *Operate) Request(op, status string, d time.Duration) {
	o.VaultRequests.WithLabelValues(op, status).Observe(d.Seconds())
}

// Expiry implements vault.Observer.
func (o *Operate) Expiry(kind, id string, at time.Time) { o.expiry.set(kind, id, at) }

type expiryAt struct {
	kind string
	at   time.Time
}

// expiryCollector computes the seconds left at scrape time from the expiry times it was told.
type expiryCollector struct {
	mu           sync.Mutex
	at           map[string]expiryAt
	token, lease *prometheus.Desc
}

func (c *expiryCollector) set(kind, id string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at.IsZero() {
		delete(c.at, id)
		return
	}
	c.at[id] = expiryAt{kind: kind, at: at}
}

func (c *expiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.token; ch <- c.lease }

// Collect reports the newest token (a new login's watch may overlap the old one's end) and the
// soonest lease.
func (c *expiryCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	var token, lease time.Time
	for _, e := range c.at {
		switch {
		case e.kind == "token" && e.at.After(token):
			token = e.at
		case e.kind == "lease" && (lease.IsZero() || e.at.Before(lease)):
			lease = e.at
		}
	}
	c.mu.Unlock()
	if !token.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.token, prometheus.GaugeValue, max(0, time.Until(token).Seconds()))
	}
	if !lease.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.lease, prometheus.GaugeValue, max(0, time.Until(lease).Seconds()))
	}
}
