package run

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/vault-injector/vault-injector/agent/vault"
	"github.com/vault-injector/vault-injector/internal/atomicdir"
)

// entry is a fetched secret, reused across renders until it goes stale: static secrets at
// every refresh tick, leased ones when their lease watcher says the lease is ending.
type entry struct {
	s      *vault.Secret
	stale  bool
	cancel context.CancelFunc // stops the lease watcher
}

type expiry struct {
	key string
	e   *entry
	err error // the last renewal error, if renewal failed rather than reached its limit
}

// cycle renders every secret and publishes the set if anything changed. Before the first
// complete render every secret must succeed (readiness means "all files are there"); after it,
// a failing secret keeps its last good content while the others are updated, and the failure
// is returned so the loop retries.
func (r *Runner) cycle(ctx context.Context) error {
	src := &source{r: r, ctx: ctx}
	files := make([]atomicdir.File, 0, len(r.items))
	good := map[string][]byte{}
	var errs []error
	for _, it := range r.items {
		c := it.Config()
		b, err := r.renderGuarded(ctx, it, src)
		if stuck(err) {
			// Its goroutine may still run and use the cache: nothing more this cycle.
			r.m.Failures.WithLabelValues(c.Name).Inc()
			return err
		}
		if err != nil {
			r.m.Failures.WithLabelValues(c.Name).Inc()
			errs = append(errs, err)
			prev, ok := r.lastGood[c.Name]
			if !ok {
				continue
			}
			b = prev
		} else {
			good[c.Name] = b
		}
		files = append(files, atomicdir.File{Path: c.File, Data: b, Mode: fs.FileMode(c.Perms)})
	}
	if len(errs) > 0 && !r.rendered {
		return errJoinOneLine(errs)
	}
	first := !r.rendered
	changed, err := r.publish(files)
	if err != nil {
		return fmt.Errorf("writing files in %s: %w", r.cfg.SecretsDir, err)
	}
	r.rendered = true
	now := time.Now()
	for name, b := range good {
		r.lastGood[name] = b
		r.m.Renders.WithLabelValues(name).Inc()
		r.m.LastSuccess.WithLabelValues(name).Set(float64(now.UnixNano()) / 1e9)
	}
	if changed {
		r.m.FileWrites.Inc()
		r.log.Info("secrets written", "files", len(files), "dir", r.cfg.SecretsDir, "generation", r.generation)
		r.notify(first)
	}
	return errJoinOneLine(errs)
}

// publish writes files unless they are the set this agent last published, compared by a hash
// kept in memory: atomicdir's own check re-reads the published files, which fails when their
// perms deny the owner read (0044), so every refresh published a new generation.
func (r *Runner) publish(files []atomicdir.File) (bool, error) {
	sum := setHash(files)
	if r.published && sum == r.written {
		return false, nil
	}
	withVersion, gen := r.versioned(files)
	changed, err := atomicdir.Write(r.cfg.SecretsDir, withVersion)
	// After an error, whatever is on disk is unknown: the next cycle writes again.
	r.written, r.published = sum, err == nil
	if err == nil {
		r.generation = gen
	}
	return changed, err
}

// setHash identifies a file set: paths, modes and contents, in order.
func setHash(files []atomicdir.File) [sha256.Size]byte {
	h := sha256.New()
	for _, f := range files {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(f.Data)))
		fmt.Fprintf(h, "%s\x00%o\x00", f.Path, f.Mode)
		h.Write(n[:])
		h.Write(f.Data)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// source serves the renderer from the cache, fetching what is missing or stale.
type source struct {
	r     *Runner
	ctx   context.Context
	clock *fetchClock // time spent on Vault, excluded from the render's budget
}

func (s *source) Secret(path string, data map[string]any) (*vault.Secret, error) {
	key := path
	if data != nil {
		b, _ := json.Marshal(data) // sorted keys: a stable key per distinct write
		key = path + "?" + string(b)
	}
	if e := s.r.cache[key]; e != nil && !e.stale {
		return e.s, nil
	}
	var sec *vault.Secret
	var err error
	if s.clock != nil {
		s.clock.begin()
		defer s.clock.end()
	}
	if data == nil {
		sec, err = s.r.vc.Read(s.ctx, path)
	} else {
		sec, err = s.r.vc.Write(s.ctx, path, data)
	}
	if err != nil {
		return nil, err
	}
	s.r.store(key, sec)
	return sec, nil
}

func (r *Runner) store(key string, s *vault.Secret) {
	if old := r.cache[key]; old != nil && old.cancel != nil {
		old.cancel()
	}
	e := &entry{s: s}
	r.cache[key] = e
	if !s.Leased() || r.once {
		return
	}
	ctx, cancel := context.WithCancel(r.watchCtx)
	e.cancel = cancel
	done := r.vc.WatchLease(ctx, s, func() { r.m.Renewals.WithLabelValues("lease").Inc() })
	go func() {
		select {
		case err := <-done:
			select {
			case r.expired <- expiry{key: key, e: e, err: err}:
			case <-ctx.Done():
			}
		case <-ctx.Done():
		}
	}()
}

func (r *Runner) markExpired(ex expiry) {
	if e := r.cache[ex.key]; e == ex.e {
		e.stale = true
		r.log.Info("lease ending, fetching the secret again", "path", r.loggablePath(ex.key), "reason", errString(ex.err))
	}
}

// loggablePath is the path of a cache key unless a template computed it from secret data.
func (r *Runner) loggablePath(key string) string {
	path, _, _ := strings.Cut(key, "?")
	for _, it := range r.items {
		if it.Names(path) {
			return path
		}
	}
	return "(a path computed by a template)"
}

// markStatic makes secrets without a lease stale: the refresh interval re-reads them.
func (r *Runner) markStatic() {
	for _, e := range r.cache {
		if !e.s.Leased() {
			e.stale = true
		}
	}
}

// invalidateAll follows a new login: leases belong to the old token and die with it.
func (r *Runner) invalidateAll() {
	for _, e := range r.cache {
		e.stale = true
	}
}
