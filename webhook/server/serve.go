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
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/vault-injector/vault-injector/webhook/config"
)

// MutatePath is where the API server sends admission reviews.
const MutatePath = "/mutate"

// CertSource keeps the serving certificate in cfg.TLSDir (the certs package's Manager).
type CertSource interface {
	Run(ctx context.Context) error
	WaitReady(ctx context.Context) error
}

// Run serves /mutate over TLS, and health, readiness and metrics over plain HTTP, until ctx
// ends. certs, when not nil, runs alongside and the TLS endpoint opens once it has written the
// first certificate.
func Run(ctx context.Context, cfg config.Config, log logr.Logger, certs CertSource) error {
	logf.SetLogger(log)
	ctx = logf.IntoContext(ctx, log)
	g, ctx := errgroup.WithContext(ctx)
	if certs != nil {
		g.Go(func() error { return certs.Run(ctx) })
	}
	srv := webhook.NewServer(webhook.Options{
		Host:    cfg.Host,
		Port:    cfg.Port,
		CertDir: cfg.TLSDir,
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.MinVersion = tls.VersionTLS12 }},
	})
	srv.Register(MutatePath, &webhook.Admission{
		Handler:        &Handler{Defaults: cfg.Inject, Metrics: NewMetrics(ctrlmetrics.Registry)},
		RecoverPanic:   ptr.To(true),
		LogConstructor: requestLogger,
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

	g.Go(func() error {
		if certs != nil {
			if err := certs.WaitReady(ctx); err != nil {
				return fmt.Errorf("waiting for the first serving certificate: %w", err)
			}
		}
		return srv.Start(ctx)
	})
	g.Go(func() error { return serveHTTP(ctx, cfg.HealthAddr, health) })
	if cfg.MetricsAddr != "" {
		metrics := http.NewServeMux()
		metrics.Handle("/metrics", promhttp.HandlerFor(ctrlmetrics.Registry, promhttp.HandlerOpts{}))
		g.Go(func() error { return serveHTTP(ctx, cfg.MetricsAddr, metrics) })
	}
	log.Info("vault-injector webhook starting", "port", cfg.Port, "health", cfg.HealthAddr, "metrics", cfg.MetricsAddr)
	return g.Wait()
}

// requestLogger names each admission once (controller-runtime's default repeats namespace and
// name, and adds fields this webhook does not need); Handle adds generateName when the name is
// not set yet.
func requestLogger(base logr.Logger, req *admission.Request) logr.Logger {
	if req == nil {
		return base
	}
	log := base.WithValues("requestID", req.UID, "namespace", req.Namespace)
	if req.Name != "" {
		log = log.WithValues("name", req.Name)
	}
	return log
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
