package certs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// dataLink is the symlink swapped to publish a new set of files, as the kubelet does for
// Secret volumes (pkg/volume/util/atomic_writer.go): a reader never sees tls.crt from one
// rotation and tls.key from another, so the cert watcher never loads a mismatched pair.
const dataLink = "..data"

// writeFiles publishes files in dir atomically: dir/<name> -> ..data/<name>, ..data -> a fresh
// directory. It reports whether anything changed (identical content is left alone, so an idle
// resync does not make the webhook's cert watcher reload).
func writeFiles(dir string, files map[string][]byte) (bool, error) {
	if same(dir, files) {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("creating cert dir: %w", err)
	}
	oldTarget, _ := os.Readlink(filepath.Join(dir, dataLink))
	fresh, err := os.MkdirTemp(dir, "..certs-")
	if err != nil {
		return false, fmt.Errorf("creating cert dir version: %w", err)
	}
	// MkdirTemp makes 0700; the webhook may run as another user than a debugging sidecar.
	if err := os.Chmod(fresh, 0o755); err != nil {
		return false, fmt.Errorf("opening cert dir version: %w", err)
	}
	for name, b := range files {
		mode := os.FileMode(0o644)
		if name == KeyKey {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(fresh, name), b, mode); err != nil {
			return false, fmt.Errorf("writing %s: %w", name, err)
		}
	}
	if err := swapLink(dir, dataLink, filepath.Base(fresh)); err != nil {
		return false, err
	}
	for name := range files {
		want := filepath.Join(dataLink, name)
		if got, _ := os.Readlink(filepath.Join(dir, name)); got == want {
			continue
		}
		if err := swapLink(dir, name, want); err != nil {
			return false, err
		}
	}
	if oldTarget != "" && oldTarget != filepath.Base(fresh) {
		// Best effort: a leftover directory is harmless, only untidy.
		_ = os.RemoveAll(filepath.Join(dir, oldTarget))
	}
	return true, nil
}

// swapLink atomically points dir/name at target (rename over the old entry).
func swapLink(dir, name, target string) error {
	tmp := filepath.Join(dir, name+".tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("linking %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("publishing %s: %w", name, err)
	}
	return nil
}

func same(dir string, files map[string][]byte) bool {
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			return false
		}
	}
	return true
}
