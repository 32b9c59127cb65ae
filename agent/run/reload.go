package run

import (
	"time"

	"github.com/vault-injector/vault-injector/agent/reload"
	"github.com/vault-injector/vault-injector/internal/atomicdir"
)

// versioned adds the version file of the next generation to a set about to be written. The
// set's hash (what "unchanged" means) is taken without it, or every refresh would publish.
func (r *Runner) versioned(files []atomicdir.File) ([]atomicdir.File, uint64) {
	if r.generation == 0 {
		r.generation = reload.LastGeneration(r.cfg.SecretsDir)
	}
	next := r.generation + 1
	return append(files[:len(files):len(files)], reload.VersionFile(next, time.Now())), next
}

// notify follows a published generation: the version file is counted as a notification, and
// the app is told through its reload annotation, except after this process' first publication
// (the app starts with those files, or an agent restart re-publishes what it already has).
func (r *Runner) notify(first bool) {
	r.m.Reloads.WithLabelValues("file", "success").Inc()
	if first || r.notifier == nil {
		return
	}
	r.notifier.Notify(r.generation)
}
