// Package testbin finds the real server binaries that test/tools/install.sh builds and caches,
// so every test runs the same pinned versions.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// CacheDir is $VI_CACHE, or the repository's git-ignored .cache folder.
func CacheDir() string {
	if d := os.Getenv("VI_CACHE"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", ".cache")
}

// Path returns the cached binary name (vault, kube-apiserver, kubelet, kubectl, ...) or, for
// tools that come from Debian packages (etcd, containerd, runc), the one on PATH.
func Path(name string) (string, error) {
	p := filepath.Join(CacheDir(), "bin", name)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found in %s or on PATH: run test/tools/install.sh (make test does)", name, filepath.Dir(p))
}

// TB is the part of testing.TB that Must uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Must is Path for tests: a missing binary fails the test (never skips it).
func Must(t TB, name string) string {
	t.Helper()
	p, err := Path(name)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}
