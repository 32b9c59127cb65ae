package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/vault-injector/vault-injector/webhook/config"
)

// MutatePath is where the API server sends admission reviews.
const MutatePath = "/mutate"

// CertSource keeps the serving certificate in cfg.TLSDir (the certs package's Manager).
type CertSource interface {
	Run(ctx context.Context) error
	WaitReady(ctx context.Context) error
}

// DrainPeriod is how long the webhook keeps serving after it is asked to stop, answering every
// admission with "Connection: close" and /readyz with 503. The API server calls webhooks over
// HTTP/1.1 keep-alive connections that outlive the replica's removal from the Service; closed
// after a response, each ends cleanly, whereas closing them when the server stops can cut a
// request the API server is just sending (it does not retry admissions). Only then does the
// TLS server stop accepting and finish the requests in flight.
const DrainPeriod = 3 * time.Second

// Run serves /mutate over TLS, and health, readiness and metrics over plain HTTP, until ctx
// ends, then drains for DrainPeriod (not when a part fails: then it stops at once). certs,
// when not nil, runs alongside and the TLS endpoint opens once it has written the first
// certificate.
func Run(ctx context.Context, cfg config.Config, log logr.Logger, certs CertSource) error {
	logf.SetLogger(log)
	stopAsked := ctx
	ctx = logf.IntoContext(ctx, log)
	g, ctx := errgroup.WithContext(ctx)
	if certs != nil {
		g.Go(func() error { return certs.Run(ctx) })
	}
	var draining atomic.Bool
	serveCtx, stopServing := context.WithCancel(logf.IntoContext(context.Background(), log))
	defer stopServing()
	go func() {
		<-ctx.Done()
		if stopAsked.Err() != nil {
			draining.Store(true)
			log.Info("draining before stop", "period", DrainPeriod.String())
			time.Sleep(DrainPeriod)
		}
		stopServing()
	}()
	admissions := &admissionServer{addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		handler: admissionMux(cfg, log, &draining), log: log.WithName("admissions")}

	health := healthMux(&draining, admissions.ready) // a TLS dial: ready only once the webhook really serves

	g.Go(func() error {
		if certs != nil {
			if err := certs.WaitReady(ctx); err != nil {
				return fmt.Errorf("waiting for the first serving certificate: %w", err)
			}
		}
		t, err := newAdmissionTLS(cfg.TLSDir, cfg.ClientCAs)
		if err != nil {
			return err
		}
		return admissions.serve(serveCtx, t)
	})
	g.Go(func() error { return serveHTTP(serveCtx, cfg.HealthAddr, health) })
	if cfg.MetricsAddr != "" {
		metrics := http.NewServeMux()
		metrics.Handle("/metrics", promhttp.HandlerFor(ctrlmetrics.Registry, promhttp.HandlerOpts{}))
		g.Go(func() error { return serveHTTP(serveCtx, cfg.MetricsAddr, metrics) })
	}
	log.Info("vault-injector webhook starting", "port", cfg.Port, "health", cfg.HealthAddr, "metrics", cfg.MetricsAddr)
	return g.Wait()
}

// admissionMux routes /mutate to the Handler, behind the client-certificate check when
// cfg.ClientCAs is set. A controller-runtime webhook server is made only to register it:
// Register instruments it with the controller_runtime_webhook_* metrics. That server is never
// started: admissionServer serves its mux, with the deadlines controller-runtime offers no way
// to set (see tls.go).
func admissionMux(cfg config.Config, log logr.Logger, draining *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	admissionLog := slog.New(logr.ToSlogHandler(log)) // the JSON handler main made, unwrapped
	handler := &Handler{Defaults: cfg.Inject, Metrics: NewMetrics(ctrlmetrics.Registry), Log: admissionLog}
	hook := recoverPanics(admissionLog, handler)
	if cfg.ClientCAs != nil {
		hook = requireClientCert(hook)
	}
	webhook.NewServer(webhook.Options{WebhookMux: mux}).Register(MutatePath, closeWhenDraining(draining, hook))
	return mux
}

// healthMux serves /healthz, and /readyz: ready when ready says so, and not while draining.
func healthMux(draining *atomic.Bool, ready func(*http.Request) error) *http.ServeMux {
	health := http.NewServeMux()
	health.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	health.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			http.Error(w, "draining before stop", http.StatusServiceUnavailable)
			return
		}
		if err := ready(r); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return health
}

// closeWhenDraining makes each response end its connection once the webhook drains.
func closeWhenDraining(draining *atomic.Bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
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
