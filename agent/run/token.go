package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ensureToken makes sure the client holds a token: first a handed-over one (classic mode: the
// init container left it in a private in-memory volume), else a fresh login.
func (r *Runner) ensureToken(ctx context.Context) error {
	if r.tokenOK {
		return nil
	}
	via := "handover"
	if !r.useHandover(ctx) {
		via = "login"
		if err := r.vc.Login(ctx); err != nil {
			r.m.LoginFailures.Inc()
			return err
		}
		r.m.Logins.Inc()
		if err := r.writeHandover(); err != nil {
			r.log.Warn("writing the token handover file failed", "file", r.cfg.HandoverFile, "err", err.Error())
		}
	}
	if r.hadToken {
		r.invalidateAll()
	}
	r.hadToken, r.tokenOK = true, true
	r.loggedInAt = time.Now()
	r.log.Info("vault token ready", "via", via)
	if !r.once {
		r.watchToken()
	}
	return nil
}

// useHandover tries the handover file once per process; a missing, unreadable or dead token
// just means logging in.
func (r *Runner) useHandover(ctx context.Context) bool {
	if r.cfg.HandoverFile == "" || r.handoverTried {
		return false
	}
	r.handoverTried = true
	b, err := os.ReadFile(r.cfg.HandoverFile)
	if err != nil {
		r.log.Info("no handed-over token, logging in", "file", r.cfg.HandoverFile)
		return false
	}
	if err := r.vc.UseToken(ctx, strings.TrimSpace(string(b))); err != nil {
		r.log.Info("handed-over token not usable, logging in", "err", err.Error())
		return false
	}
	return true
}

// writeHandover leaves the current token for the next agent of the pod (the classic sidecar, or
// this one after a restart): a temp file and a rename, so a reader never sees half a token.
func (r *Runner) writeHandover() error {
	if r.cfg.HandoverFile == "" {
		return nil
	}
	dir := filepath.Dir(r.cfg.HandoverFile)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".token-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(r.vc.Token()); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), r.cfg.HandoverFile); err != nil {
		return fmt.Errorf("renaming into place: %w", err)
	}
	return nil
}

func (r *Runner) watchToken() {
	if r.tokenCancel != nil {
		r.tokenCancel()
	}
	ctx, cancel := context.WithCancel(r.watchCtx)
	r.tokenCancel = cancel
	r.tokenDone = r.vc.WatchToken(ctx, func() { r.m.Renewals.WithLabelValues("token").Inc() })
}

func (r *Runner) dropToken() {
	r.tokenOK = false
	r.tokenDone = nil
	if r.tokenCancel != nil {
		r.tokenCancel()
		r.tokenCancel = nil
	}
}
