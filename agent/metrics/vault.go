package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// VaultMetrics measure the agent's dealings with Vault: how long each request took, and how
// long the token and the soonest lease have left. They are the Vault client's vault.Observer
// (requests, leases); the runner adds the token's expiry from its session. Labels are
// operations and statuses, never a path or a value.
type VaultMetrics struct {
	requests *prometheus.HistogramVec // by operation and status
	expiry   *expiryCollector
}

func newVaultMetrics() *VaultMetrics {
	return &VaultMetrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "vault_request_duration_seconds",
			Help:    "Duration of requests to Vault, by operation and HTTP status (error: Vault not reached).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15}}, []string{"operation", "status"}),
		expiry: &expiryCollector{at: map[string]expiryAt{},
			token: prometheus.NewDesc(ns+"_token_ttl_seconds", "Seconds until the agent's Vault token expires (absent without a token).", nil, nil),
			lease: prometheus.NewDesc(ns+"_lease_ttl_seconds", "Seconds until the soonest lease of a fetched secret ends (absent without leases).", nil, nil)},
	}
}

func (v *VaultMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{v.requests, v.expiry}
}

// Request implements vault.Observer.
func (v *VaultMetrics) Request(op, status string, d time.Duration) {
	v.requests.WithLabelValues(op, status).Observe(d.Seconds())
}

// Expiry implements vault.Observer.
func (v *VaultMetrics) Expiry(kind, id string, at time.Time) { v.expiry.set(kind, id, at) }

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
