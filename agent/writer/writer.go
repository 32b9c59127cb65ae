// Package writer publishes a set of files atomically, the way the kubelet updates secret and
// configMap volumes (pkg/volume/util/atomic_writer.go): every render goes into a fresh hidden
// generation directory, a "..data" symlink is swapped to it with one rename, and each
// user-visible name is a symlink through "..data". A reader therefore sees either the old or
// the new content of a file, never a partial one; a reader that opens "..data" once (or
// resolves it once) sees one consistent set.
package writer

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	// DataDir is the symlink to the current generation. It exists only after the first
	// complete write, which makes it the agent's readiness marker.
	DataDir    = "..data"
	dataDirTmp = "..data_tmp"
	// genPrefix starts every generation directory; "..": invisible to globs, and file paths in
	// the config may not start with it (contract.ValidateFilePath).
	genPrefix = ".."
	genLayout = "2006_01_02_15_04_05."
)

// File is one file of a set. Path is relative and clean (contract.ValidateFilePath).
type File struct {
	Path string
	Data []byte
	Mode fs.FileMode
}

// Writer publishes file sets into Dir.
type Writer struct {
	Dir string
}

// New returns a Writer for dir, which it creates if needed.
func New(dir string) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating secrets dir %s: %w", dir, err)
	}
	return &Writer{Dir: dir}, nil
}

// Write publishes files as the new set. It does nothing and reports false when the current set
// already has the same paths, contents and modes, so unchanged secrets never touch the disk
// (and apps watching the files are not woken up).
func (w *Writer) Write(files []File) (bool, error) {
	if err := checkPaths(files); err != nil {
		return false, err
	}
	if w.unchanged(files) {
		return false, nil
	}
	gen, err := w.writeGeneration(files)
	if err != nil {
		return false, err
	}
	prev, _ := os.Readlink(filepath.Join(w.Dir, DataDir))
	if err := w.swap(gen); err != nil {
		_ = os.RemoveAll(filepath.Join(w.Dir, gen))
		return false, err
	}
	if err := w.linkTopLevel(files); err != nil {
		return true, err
	}
	return true, w.removeStale(gen, prev, files)
}

func checkPaths(files []File) error {
	seen := make(map[string]bool, len(files))
	for _, f := range files {
		clean := filepath.Clean(f.Path)
		if f.Path == "" || clean != f.Path || filepath.IsAbs(f.Path) || strings.HasPrefix(f.Path, genPrefix) {
			return fmt.Errorf("file path %q is not a clean relative path", f.Path)
		}
		if seen[f.Path] {
			return fmt.Errorf("file path %q is listed twice", f.Path)
		}
		seen[f.Path] = true
	}
	return nil
}

// unchanged compares files with the current generation (content, mode, and the set of paths).
func (w *Writer) unchanged(files []File) bool {
	cur := filepath.Join(w.Dir, DataDir)
	if _, err := os.Stat(cur); err != nil {
		return false
	}
	n := 0
	err := filepath.WalkDir(cur+"/", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil || n != len(files) {
		return false
	}
	for _, f := range files {
		p := filepath.Join(cur, f.Path)
		st, err := os.Lstat(p)
		if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != f.Mode.Perm() {
			return false
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(b, f.Data) {
			return false
		}
	}
	return true
}

// writeGeneration writes files into a new hidden directory and returns its name.
func (w *Writer) writeGeneration(files []File) (string, error) {
	dir, err := os.MkdirTemp(w.Dir, genPrefix+time.Now().UTC().Format(genLayout))
	if err != nil {
		return "", fmt.Errorf("creating generation dir in %s: %w", w.Dir, err)
	}
	// MkdirTemp makes 0700; apps reading through the symlinks may run as another user of
	// the pod's fsGroup, so the directories must be traversable. File modes guard contents.
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(dir, f.Path), f.Data, f.Mode); err != nil {
			_ = os.RemoveAll(dir)
			return "", err
		}
	}
	return filepath.Base(dir), nil
}

func writeFile(p string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("creating dir for %s: %w", p, err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating %s: %w", p, err)
	}
	_, err = f.Write(data)
	// Chmod after writing: the mode may be read-only for the owner (0400), and the umask
	// must not narrow the configured mode.
	if err == nil {
		err = f.Chmod(mode.Perm())
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

// swap points ..data at gen with a single rename, the step that makes the new set visible.
func (w *Writer) swap(gen string) error {
	tmp := filepath.Join(w.Dir, dataDirTmp)
	_ = os.Remove(tmp)
	if err := os.Symlink(gen, tmp); err != nil {
		return fmt.Errorf("creating %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(w.Dir, DataDir)); err != nil {
		return fmt.Errorf("swapping %s: %w", DataDir, err)
	}
	return nil
}

// linkTopLevel makes each top-level name point through ..data, so nested paths
// ("tls/ca.pem") switch together with everything else.
func (w *Writer) linkTopLevel(files []File) error {
	for top := range topLevel(files) {
		link := filepath.Join(w.Dir, top)
		want := filepath.Join(DataDir, top)
		if got, err := os.Readlink(link); err == nil && got == want {
			continue
		}
		if err := os.RemoveAll(link); err != nil {
			return fmt.Errorf("replacing %s: %w", link, err)
		}
		if err := os.Symlink(want, link); err != nil {
			return fmt.Errorf("linking %s: %w", link, err)
		}
	}
	return nil
}

// removeStale deletes the links of names no longer in the set and every generation but the
// current one (gen) and the one it replaced (prev). Keeping prev until the next write means a
// reader that resolved "..data" just before the swap can still open its file: removing it at
// once (as the kubelet does) made such reads fail with "no such file or directory".
func (w *Writer) removeStale(gen, prev string, files []File) error {
	entries, err := os.ReadDir(w.Dir)
	if err != nil {
		return fmt.Errorf("listing %s: %w", w.Dir, err)
	}
	keep := topLevel(files)
	var errs []error
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == DataDir || name == gen || name == prev:
			continue
		case strings.HasPrefix(name, genPrefix):
			errs = append(errs, os.RemoveAll(filepath.Join(w.Dir, name)))
		case e.Type()&fs.ModeSymlink != 0 && !keep[name]:
			// Only our own links: they all point into ..data.
			if target, err := os.Readlink(filepath.Join(w.Dir, name)); err == nil && strings.HasPrefix(target, DataDir+"/") {
				errs = append(errs, os.Remove(filepath.Join(w.Dir, name)))
			}
		}
	}
	return errors.Join(errs...)
}

func topLevel(files []File) map[string]bool {
	m := make(map[string]bool, len(files))
	for _, f := range files {
		m[strings.SplitN(f.Path, "/", 2)[0]] = true
	}
	return m
}

// Ready reports whether dir holds a complete set: ..data exists and resolves to a directory.
func Ready(dir string) error {
	st, err := os.Stat(filepath.Join(dir, DataDir))
	if err != nil {
		return fmt.Errorf("no complete render yet in %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s in %s is not a directory", DataDir, dir)
	}
	return nil
}
