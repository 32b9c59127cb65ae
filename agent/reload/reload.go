// Package reload is how the app learns of a new generation of the agent's files: the version
// file each generation carries (its counter and time), and a notification, a POST to a URL on
// the pod's loopback or a signal to a process of the shared process namespace.
// Notifications are coalesced (a generation published while one is being delivered is covered
// by one more delivery, not one per generation) and retried with the agent's backoff.
package reload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"syscall"
	"time"

	"github.com/vault-injector/vault-injector/agent/backoff"
	"github.com/vault-injector/vault-injector/agent/metrics"
	"github.com/vault-injector/vault-injector/contract"
)

// maxAttempts bounds the deliveries of one notification: an app that never answers must not
// keep the agent retrying forever (the next generation starts over).
const maxAttempts = 8

// httpTimeout bounds one POST: a reload endpoint answers once it has started reloading.
const httpTimeout = 10 * time.Second

// Notifier delivers notifications in its own goroutine (Run), so a slow app never delays a
// refresh.
type Notifier struct {
	cfg     contract.Reload
	method  string
	bo      backoff.Backoff
	log     *slog.Logger
	m       *metrics.Metrics
	pending chan uint64
	client  *http.Client
	// ProcRoot is where processes are looked up (/proc); tests point it elsewhere.
	ProcRoot string
}

// New returns a Notifier for cfg, or nil when cfg asks for no notification.
func New(cfg *contract.Reload, bo contract.Backoff, log *slog.Logger, m *metrics.Metrics) *Notifier {
	if cfg == nil || (cfg.HTTP == "" && cfg.Signal == "") {
		return nil
	}
	n := &Notifier{cfg: *cfg, method: "http", bo: backoff.Backoff{Min: bo.Min.Duration, Max: bo.Max.Duration},
		log: log, m: m, pending: make(chan uint64, 1), ProcRoot: "/proc",
		// No proxy: the URL is the pod's loopback, which an HTTP_PROXY must not intercept. No
		// redirects: a Location may point anywhere, and the app was told one URL.
		client: &http.Client{Timeout: httpTimeout, Transport: &http.Transport{Proxy: nil},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if cfg.Signal != "" {
		n.method = "signal"
	}
	return n
}

// Notify asks for a notification of generation gen. It never blocks: when one is already
// waiting, that one (delivered after this generation was published) covers both.
func (n *Notifier) Notify(gen uint64) {
	select {
	case n.pending <- gen:
	default:
	}
}

// Run delivers notifications until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case gen := <-n.pending:
			n.deliver(ctx, gen)
		}
	}
}

func (n *Notifier) deliver(ctx context.Context, gen uint64) {
	n.bo.Reset()
	start := time.Now()
	for attempt := 1; ; attempt++ {
		detail, err := n.once(ctx)
		if err == nil {
			n.m.Reloads.WithLabelValues(n.method, metrics.ReloadSuccess).Inc()
			n.log.Info("app notified of new secrets", "method", n.method, "generation", gen, "attempt", attempt,
				"result", detail, "took_ms", time.Since(start).Milliseconds())
			return
		}
		if ctx.Err() != nil {
			return
		}
		if attempt == maxAttempts {
			n.m.Reloads.WithLabelValues(n.method, metrics.ReloadFailure).Inc()
			n.log.Error("notifying the app failed, giving up until the next generation", "method", n.method,
				"generation", gen, "attempts", attempt, "err", err.Error())
			return
		}
		d := n.bo.Next()
		n.log.Warn("notifying the app failed, retrying", "method", n.method, "generation", gen, "attempt", attempt,
			"err", err.Error(), "retry_in", d.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
	}
}

// once delivers one notification and says what happened.
func (n *Notifier) once(ctx context.Context) (string, error) {
	if n.method == "http" {
		return n.post(ctx)
	}
	return n.signal()
}

func (n *Notifier) post(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.cfg.HTTP, http.NoBody)
	if err != nil {
		return "", err
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("POST %s: %w", n.cfg.HTTP, errors.Unwrap(err))
	}
	_ = resp.Body.Close()
	status := fmt.Sprintf("POST %s: %s", n.cfg.HTTP, resp.Status)
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		return "", errors.New(status + " (redirects are not followed: set reload-http to the endpoint itself)")
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", errors.New(status)
	}
	return status, nil
}

var signals = map[string]syscall.Signal{"SIGHUP": syscall.SIGHUP, "SIGUSR1": syscall.SIGUSR1, "SIGUSR2": syscall.SIGUSR2}

func (n *Notifier) signal() (string, error) {
	sig, ok := signals[n.cfg.Signal]
	if !ok {
		return "", fmt.Errorf("signal %q is not supported", n.cfg.Signal)
	}
	pids, err := FindProcesses(n.ProcRoot, n.cfg.Process)
	if err != nil {
		return "", err
	}
	if len(pids) == 0 {
		return "", fmt.Errorf("no process named %q is visible (is shareProcessNamespace on and the app running?)", n.cfg.Process)
	}
	var errs []error
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil {
			errs = append(errs, fmt.Errorf("%s to pid %d: %w", n.cfg.Signal, pid, err))
		}
	}
	if len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	return fmt.Sprintf("%s sent to %q, pids %v", n.cfg.Signal, n.cfg.Process, pids), nil
}
