// Package run is the agent's main loop: get a Vault token from its vault.Session, render every
// secret, publish the files atomically, then (as a sidecar) keep them fresh until the context
// ends: re-read static secrets every refresh interval, re-fetch leased ones before their lease
// ends, fetch everything again when the session's token is lost and replaced, and have the
// token revoked on the way out.
package run

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/vault-injector/vault-injector/agent/backoff"
	"github.com/vault-injector/vault-injector/agent/metrics"
	"github.com/vault-injector/vault-injector/agent/reload"
	"github.com/vault-injector/vault-injector/agent/render"
	"github.com/vault-injector/vault-injector/agent/vault"
	"github.com/vault-injector/vault-injector/contract"
)

// Options are the runner's inputs. Config must be valid (contract.Config.Validate).
type Options struct {
	Config *contract.Config
	// Vault serves the reads, with the token the runner's session gets from the handover file
	// or through Login (vault.NewMethod of Config.Auth).
	Vault   vault.Conn
	Login   vault.Method
	Metrics *metrics.Metrics
	Log     *slog.Logger
	// Once renders, hands the token over (classic mode) and returns: the init container.
	Once bool
}

// Runner holds the loop's state. It is used from one goroutine; watchers only send on channels.
type Runner struct {
	cfg     *contract.Config
	vc      vault.Client
	session *vault.Session
	m       *metrics.Metrics
	log     *slog.Logger
	once    bool
	items   []*render.Item
	bo      backoff.Backoff

	cache    map[string]*entry
	expired  chan expiry
	lastGood map[string][]byte
	rendered bool // a complete set has been published

	written   [32]byte // hash of the set last published by this process
	published bool     // written is valid

	watchCtx context.Context // the lease watches' (Run's)
	started  time.Time

	generation uint64           // of the set last published (version file)
	notifier   *reload.Notifier // nil: the app asked for no notification
}

// New checks templates and prepares the secrets dir.
func New(o Options) (*Runner, error) {
	items, err := render.CompileAll(o.Config.Secrets, writeDir(o.Config))
	if err != nil {
		return nil, err
	}
	// Created now, so a bad secrets dir fails at startup rather than at the first render.
	if err := os.MkdirAll(o.Config.SecretsDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating secrets dir %s: %w", o.Config.SecretsDir, err)
	}
	return &Runner{
		cfg: o.Config, vc: o.Vault, session: newSession(o), m: o.Metrics, log: o.Log, once: o.Once, items: items,
		bo:    backoff.Backoff{Min: o.Config.Backoff.Min.Duration, Max: o.Config.Backoff.Max.Duration},
		cache: map[string]*entry{}, expired: make(chan expiry, 16), lastGood: map[string][]byte{},
		started:  time.Now(),
		notifier: reload.New(o.Config.Reload, o.Config.Backoff, o.Log, o.Metrics),
	}, nil
}

// newSession is the runner's token: renewed by the sidecar, left to its TTL by --once (the
// classic sidecar takes it over), counted in the metrics.
func newSession(o Options) *vault.Session {
	m := o.Metrics
	return vault.NewSession(vault.SessionOptions{
		Login: o.Login, Tokens: o.Vault, HandoverFile: o.Config.HandoverFile, Renew: !o.Once,
		Backoff: o.Config.Backoff, Log: o.Log, TokenSink: tokenSink(o.Config), TokenSinkMode: fs.FileMode(contract.TokenSinkPerms),
		Events: vault.SessionEvents{
			LoggedIn: m.Logins.Inc, LoginFailed: m.LoginFailures.Inc,
			Renewed: m.Renewals.WithLabelValues("token").Inc,
			Expires: func(id string, at time.Time) { m.Vault.Expiry("token", id, at) },
		},
	})
}

// writeDir is where templates' writeToFile may write: the secrets dir, except the secrets'
// files, the token file and the version file.
func writeDir(c *contract.Config) render.WriteDir {
	files := []string{contract.VersionFile}
	for _, s := range c.Secrets {
		files = append(files, s.File)
	}
	if c.TokenSink != "" {
		files = append(files, c.TokenSink)
	}
	return render.WriteDir{Dir: c.SecretsDir, Files: files}
}

// tokenSink is the file the session keeps its token in (inject-token), or "".
func tokenSink(c *contract.Config) string {
	if c.TokenSink == "" {
		return ""
	}
	return filepath.Join(c.SecretsDir, filepath.FromSlash(c.TokenSink))
}

// FailedError is returned by a `--once` run that gave up. Its message is the one line the agent
// prints on stderr and in the termination log.
type FailedError struct {
	After time.Duration
	Err   error
}

func (e *FailedError) Error() string {
	return fmt.Sprintf("no complete render after %s: %v", e.After.Round(100*time.Millisecond), e.Err)
}

func (e *FailedError) Unwrap() error { return e.Err }

// Run runs until done: after the first render with Once, or until ctx ends as a sidecar. A
// sidecar returns nil on ctx end (SIGTERM is the normal way out).
func (r *Runner) Run(ctx context.Context) error {
	wctx, stopWatchers := context.WithCancel(ctx)
	defer stopWatchers()
	r.watchCtx = wctx
	if r.once {
		return r.runOnce(ctx)
	}
	if err := r.firstRender(ctx); err != nil {
		stopWatchers()
		r.session.Revoke()
		if fatal(err) {
			return err
		}
		return nil
	}
	r.ready()
	if r.notifier != nil {
		go r.notifier.Run(wctx)
	}
	return r.loop(ctx)
}

func (r *Runner) runOnce(ctx context.Context) error {
	ictx, cancel := context.WithTimeout(ctx, r.cfg.InitTimeout.Duration)
	defer cancel()
	if err := r.firstRender(ictx); err != nil {
		// Nothing usable was published: the token (and any lease it created) is garbage.
		r.session.Revoke()
		return &FailedError{After: time.Since(r.started), Err: err}
	}
	r.ready()
	// The token is not revoked: revoking would also revoke the dynamic secrets' leases the app
	// is about to use. It ends with its TTL, or lives on in the classic-mode sidecar.
	return nil
}

func (r *Runner) ready() {
	r.m.SetReady()
	r.log.Info("first render complete", "secrets", len(r.items), "dir", r.cfg.SecretsDir,
		"since_start_ms", ms(time.Since(r.started)), "since_login_ms", ms(time.Since(r.session.Since())))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// firstRender retries until a complete set is published or ctx ends; it returns the last real
// failure (not the context's), which is what the user has to fix.
func (r *Runner) firstRender(ctx context.Context) error {
	var last error
	for {
		err := r.attempt(ctx)
		if err == nil {
			r.bo.Reset()
			return nil
		}
		if stuck(err) {
			var ae *AbandonedError
			if errors.As(err, &ae) && last != nil {
				// Time ran out mid-retry: the failure before is what the user has to fix.
				return fmt.Errorf("%w; the attempt before failed: %w", err, last)
			}
			return err
		}
		if ctx.Err() != nil {
			return firstNonNil(last, err)
		}
		last = err
		d := r.bo.Next()
		r.log.Warn("first render failed, retrying", "err", err.Error(), "retry_in", d.String())
		select {
		case <-ctx.Done():
			return last
		case <-time.After(d):
		}
	}
}

// stuck reports a render abandoned by the watchdog or by the end of ctx: its goroutine may
// still be running, so the runner must not render again.
func stuck(err error) bool {
	var ae *AbandonedError
	return fatal(err) || errors.As(err, &ae)
}

// fatal reports an error that ends the agent even as a sidecar.
func fatal(err error) bool {
	var te *RenderTimeoutError
	return errors.As(err, &te)
}

func firstNonNil(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// attempt gets a token if needed and renders once. A 403 may mean the token died (revoked, or
// Vault restarted): the session checks, and drops it if so, so the next attempt logs in again.
func (r *Runner) attempt(ctx context.Context) error {
	replaced, err := r.session.Ensure(ctx)
	if replaced {
		// Even with an error (the token file could not be written): the new token is in use.
		r.invalidateAll()
	}
	if err != nil {
		return err
	}
	err = r.cycle(ctx)
	if err != nil && vault.HasStatus(err, 403) && ctx.Err() == nil {
		r.session.Check(ctx)
	}
	return err
}

// loop keeps the files fresh until ctx ends. After a failure the next attempt waits for the
// backoff delay even if events arrive meanwhile (they are only recorded), so no event stream
// can drive requests to a failing Vault faster than the backoff.
func (r *Runner) loop(ctx context.Context) error {
	refresh := time.NewTicker(r.cfg.Refresh.Duration)
	defer refresh.Stop()
	var retry <-chan time.Time
	for {
		retrying := false
		select {
		case <-ctx.Done():
			r.session.Revoke()
			return nil
		case <-r.session.Lost(): //nolint:errcheck // the session logged why; the attempt below logs in again
		case ex := <-r.expired:
			r.markExpired(ex)
		case <-refresh.C:
			r.markStatic()
		case <-retry:
			retrying = true
		}
		if retry != nil && !retrying {
			continue
		}
		retry = nil
		err := r.attempt(ctx)
		switch {
		case err == nil:
			r.bo.Reset()
		case fatal(err):
			r.session.Revoke()
			return err
		case ctx.Err() == nil:
			d := r.bo.Next()
			retry = time.After(d)
			r.log.Warn("refresh failed, keeping the last good files", "err", err.Error(), "retry_in", d.String())
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// errJoinOneLine is errors.Join for messages that must stay on one line.
func errJoinOneLine(errs []error) error {
	if len(errs) <= 1 {
		return errors.Join(errs...)
	}
	return multiError(errs)
}

type multiError []error

func (m multiError) Error() string {
	s := m[0].Error()
	for _, e := range m[1:] {
		s += "; " + e.Error()
	}
	return s
}

func (m multiError) Unwrap() []error { return m }
