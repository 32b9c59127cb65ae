package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// Deadlines of the /mutate server, well inside the API server's timeoutSeconds (10 in the
// shipped configuration), which it sends the whole request within. controller-runtime's
// webhook server has a 32s header timeout and none for the body, and no way to set either:
// a connection stalled 150s in the middle of a body was still served. So the webhook serves
// controller-runtime's webhook mux (its request metrics included) with this server instead.
const (
	// requestHeaderTimeout bounds the TLS handshake and the request headers.
	requestHeaderTimeout = 3 * time.Second
	// requestReadTimeout bounds the whole request, body included (per stream on HTTP/2).
	requestReadTimeout = 5 * time.Second
	// responseWriteTimeout bounds the answer, so a client that never reads it frees the handler.
	responseWriteTimeout = 10 * time.Second
	// idleTimeout keeps the API server's keep-alive connections, as controller-runtime did.
	idleTimeout = 90 * time.Second
	// maxHeaderBytes: the API server's request headers are a few hundred bytes; net/http's
	// default (1 MiB) lets each connection hold that much while its headers trickle in.
	maxHeaderBytes = 64 << 10
	// maxReadFrameSize is HTTP/2's smallest: Go's default, 1 MiB, is a buffer each connection
	// allocates when a frame announces that size, before its bytes arrive.
	maxReadFrameSize = 16 << 10
)

// admissionTLS is the TLS side of /mutate: the serving certificate, reloaded when the files in
// dir change, and when clientCAs is set, the CAs a client certificate is verified against.
type admissionTLS struct {
	config  *tls.Config
	watcher *certwatcher.CertWatcher
}

// newAdmissionTLS loads tls.crt and tls.key from dir. A client certificate is asked for and
// verified against clientCAs when given, but not required at the handshake: the readiness
// check dials without one, and requireClientCert refuses such requests on /mutate.
func newAdmissionTLS(dir string, clientCAs *x509.CertPool) (*admissionTLS, error) {
	w, err := certwatcher.New(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	if err != nil {
		return nil, fmt.Errorf("loading the serving certificate from %s: %w", dir, err)
	}
	cfg := &tls.Config{
		NextProtos:     []string{"h2", "http/1.1"},
		MinVersion:     tls.VersionTLS12,
		GetCertificate: w.GetCertificate,
	}
	if clientCAs != nil {
		cfg.ClientCAs, cfg.ClientAuth = clientCAs, tls.VerifyClientCertIfGiven
	}
	return &admissionTLS{config: cfg, watcher: w}, nil
}

// newAdmissionServer is the HTTP server of /mutate, with the deadlines and limits above.
func newAdmissionServer(ctx context.Context, h http.Handler, log logr.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: requestHeaderTimeout,
		ReadTimeout:       requestReadTimeout,
		WriteTimeout:      responseWriteTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		HTTP2:             &http.HTTP2Config{MaxReadFrameSize: maxReadFrameSize},
		// TLS handshake failures and the like, which net/http would print unstructured.
		ErrorLog: slog.NewLogLogger(logr.ToSlogHandler(log.WithName("http")), slog.LevelInfo),
	}
}

// admissionServer serves the /mutate mux over TLS.
type admissionServer struct {
	addr      string // to listen on
	handler   http.Handler
	log       logr.Logger
	listening atomic.Pointer[string] // the address it listens on, once it does
}

// serve serves with t until ctx ends, then finishes the requests in flight.
func (s *admissionServer) serve(ctx context.Context, t *admissionTLS) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	go func() {
		if err := t.watcher.Start(ctx); err != nil {
			s.log.Error(err, "serving certificate watcher failed")
		}
	}()
	srv := newAdmissionServer(ctx, s.handler, s.log)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil {
			s.log.Error(err, "stopping the admission server")
		}
	}()
	addr := ln.Addr().String()
	s.listening.Store(&addr)
	s.log.Info("serving admissions", "address", addr)
	if err := srv.Serve(tls.NewListener(ln, t.config)); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-stopped
	return nil
}

// ready is the readiness check of the admission server: a TLS handshake with it, as a client
// without a certificate, so it passes only once the server really serves.
func (s *admissionServer) ready(*http.Request) error {
	addr := s.listening.Load()
	if addr == nil {
		return errors.New("the admission server is not listening yet")
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // a reachability check that sends no data
	conn, err := d.Dial("tcp", *addr)
	if err != nil {
		return fmt.Errorf("the admission server is not reachable: %w", err)
	}
	return conn.Close()
}

// requireClientCert refuses, before reading any of the body, a request that presented no
// certificate verified against --client-ca-file (one signed by another CA fails the TLS
// handshake already). The answer is a Status, which the API server's client shows as its
// message; the connection is closed after it.
func requireClientCert(h http.Handler) http.Handler {
	refusal, err := json.Marshal(metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
		Code: http.StatusUnauthorized, Reason: metav1.StatusReasonUnauthorized,
		Message: "vault-injector accepts admission requests only with a client certificate signed by its --client-ca-file: " +
			"give the API server one in its admission configuration (docs/install.md, \"Only the API server\")",
	})
	if err != nil { // a Status of strings always encodes
		panic(err)
	}
	length := strconv.Itoa(len(refusal))
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.TLS == nil || len(req.TLS.VerifiedChains) == 0 {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", length)
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write(refusal)
			return
		}
		h.ServeHTTP(w, req)
	})
}
