package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	"k8s.io/utils/ptr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/vault-injector/vault-injector/webhook/config"
)

// MutatePath is where the API server sends admission reviews.
const MutatePath = "/mutate"

// Run serves /mutate over TLS, and health, readiness and metrics over plain HTTP, until ctx
// ends. beforeServe (may be nil) runs first, e.g. to put the first certificate in place.
func Run(ctx context.Context, cfg config.Config, log logr.Logger, beforeServe func(context.Context) error) error {
	logf.SetLogger(log)
	ctx = logf.IntoContext(ctx, log)
	if beforeServe != nil {
		if err := beforeServe(ctx); err != nil {
			return err
		}
	}
	srv := webhook.NewServer(webhook.Options{
		Host:    cfg.Host,
		Port:    cfg.Port,
		CertDir: cfg.TLSDir,
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.MinVersion = tls.VersionTLS12 }},
	})
	srv.Register(MutatePath, &webhook.Admission{
		Handler:      &Handler{Defaults: cfg.Inject, Metrics: NewMetrics(ctrlmetrics.Registry)},
		RecoverPanic: ptr.To(true),
	})

	health := http.NewServeMux()
	health.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	ready := srv.StartedChecker() // a TLS dial: ready only once the webhook really serves
	health.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ready(r); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Start(ctx) })
	g.Go(func() error { return serveHTTP(ctx, cfg.HealthAddr, health) })
	if cfg.MetricsAddr != "" {
		metrics := http.NewServeMux()
		metrics.Handle("/metrics", promhttp.HandlerFor(ctrlmetrics.Registry, promhttp.HandlerOpts{}))
		g.Go(func() error { return serveHTTP(ctx, cfg.MetricsAddr, metrics) })
	}
	log.Info("vault-injector webhook starting", "port", cfg.Port, "health", cfg.HealthAddr, "metrics", cfg.MetricsAddr)
	return g.Wait()
}

// serveHTTP serves h on addr until ctx ends.
func serveHTTP(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(shutdown)
	}()
	if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
