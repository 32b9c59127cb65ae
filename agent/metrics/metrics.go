// Package metrics holds the agent's Prometheus metrics (renders, logins, renewals, file
// generations and reload notifications here; Vault requests and expiries in VaultMetrics) and
// its HTTP endpoint (/healthz, /metrics), on the loopback address unless asked for the pod's.
// Labels carry secret names, operations and results, never paths' contents or values.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const ns = "vault_injector_agent"

// Reload results (label "result" of reloads_total).
const (
	ReloadSuccess = "success"
	ReloadFailure = "failure"
)

// Metrics are the agent's counters. A fresh registry per instance keeps tests independent.
type Metrics struct {
	Registry      *prometheus.Registry
	Renders       *prometheus.CounterVec // by secret: successful renders
	Failures      *prometheus.CounterVec // by secret: failed fetches or renders
	LastSuccess   *prometheus.GaugeVec   // by secret: unix time of the last successful render
	Logins        prometheus.Counter
	LoginFailures prometheus.Counter
	Renewals      *prometheus.CounterVec // by kind: token, lease
	FileWrites    prometheus.Counter     // new file generations published
	Reloads       *prometheus.CounterVec // by method (file, http, signal) and result
	Vault         *VaultMetrics

	build *prometheus.GaugeVec
	ready atomic.Bool
}

// New registers every metric, plus the Go and process collectors (RSS, fds).
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Renders: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "renders_total",
			Help: "Successful renders of a secret."}, []string{"secret"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "render_failures_total",
			Help: "Failed fetches or renders of a secret (the last good file stays)."}, []string{"secret"}),
		LastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "last_success_timestamp_seconds",
			Help: "Unix time of the last successful render of a secret."}, []string{"secret"}),
		Logins: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "logins_total",
			Help: "Successful Vault logins (a reused handed-over token is not a login)."}),
		LoginFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "login_failures_total",
			Help: "Failed Vault logins."}),
		Renewals: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "renewals_total",
			Help: "Successful renewals of the agent's token or of a secret's lease."}, []string{"kind"}),
		FileWrites: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "file_writes_total",
			Help: "File sets published (only when some content changed)."}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "reloads_total",
			Help: "Notifications of a new generation of files, by method (file, http, signal) and result."}, []string{"method", "result"}),
		Vault: newVaultMetrics(),
		build: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "build_info",
			Help: "Always 1; the labels say which agent runs."}, []string{"version", "goversion"}),
	}
	m.Registry.MustRegister(m.Vault.collectors()...)
	m.Registry.MustRegister(m.Renders, m.Failures, m.LastSuccess, m.Logins, m.LoginFailures, m.Renewals,
		m.FileWrites, m.Reloads, m.build, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// SetBuildInfo publishes the agent's version in build_info.
func (m *Metrics) SetBuildInfo(version string) {
	m.build.Reset()
	m.build.WithLabelValues(version, runtime.Version()).Set(1)
}

// SetReady marks the first complete render; /healthz answers 503 until then.
func (m *Metrics) SetReady() { m.ready.Store(true) }

// Handler serves /healthz and /metrics.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !m.ready.Load() {
			http.Error(w, "waiting for the first complete render", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	return mux
}

// Serve listens on 127.0.0.1:port only (the endpoint is for probes and a scraper in the pod's
// network namespace, not for the cluster) until ctx ends. It returns the bound address.
func (m *Metrics) Serve(ctx context.Context, port int, log *slog.Logger) (string, error) {
	return m.serve(ctx, "127.0.0.1", port, log)
}

// ServePod is Serve on every address of the pod (--agent-metrics=pod), so Prometheus can
// scrape the pod IP. Same endpoints: health and counters, never a value.
func (m *Metrics) ServePod(ctx context.Context, port int, log *slog.Logger) (string, error) {
	return m.serve(ctx, "", port, log)
}

func (m *Metrics) serve(ctx context.Context, host string, port int, log *slog.Logger) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return "", fmt.Errorf("metrics listener on port %d: %w", port, err)
	}
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr().String(), nil
}
