package certs

import (
	"fmt"
	"os"

	"github.com/vault-injector/vault-injector/internal/atomicdir"
)

// writeFiles publishes files in dir with internal/atomicdir: dir/<name> -> ..data/<name>,
// ..data -> the current generation. It reports whether anything changed (identical content is
// left alone, so an idle resync does not make the webhook's cert watcher reload).
//
// Each file is whole, but the webhook's cert watcher opens tls.crt and tls.key separately, so a
// load that straddles a swap can get a certificate and a key of two rotations. The watcher then
// fails that load, keeps serving the pair it has, and loads again on the next file event or
// poll; it never serves a mismatched pair.
func writeFiles(dir string, files map[string][]byte) (bool, error) {
	set := make([]atomicdir.File, 0, len(files))
	for name, b := range files {
		mode := os.FileMode(0o644)
		if name == KeyKey {
			mode = 0o600
		}
		set = append(set, atomicdir.File{Path: name, Data: b, Mode: mode})
	}
	changed, err := atomicdir.Write(dir, set)
	if err != nil {
		return changed, fmt.Errorf("writing cert dir: %w", err)
	}
	return changed, nil
}
