// Package atomicdir publishes a set of files in a directory the way the kubelet updates Secret
// and ConfigMap volumes (pkg/volume/util/atomic_writer.go): each set goes into a fresh hidden
// generation directory, a "..data" symlink is swapped to it with one rename, and each
// top-level name is a symlink through "..data" ("tls" -> "..data/tls").
//
// What a reader gets:
//   - Each file is whole: its old content or its new content, never a partial write.
//   - A reader that resolves "..data" once (opens it as a directory, or os.OpenRoot, and opens
//     the files relative to that) sees one generation. That generation survives the swap that
//     replaces it and is removed when the write after that begins; a reader still holding it
//     then fails to open files with "no such file or directory", it never sees another
//     generation's data.
//   - A reader that opens files separately by their names (dir/tls.crt, then dir/tls.key)
//     resolves "..data" each time, so a swap in between gives it files of two generations. Such
//     a reader must check that what it read belongs together and read again if not.
//
// At most two generations are on the volume at any moment: before writing a new one, Write
// removes the one replaced by the previous swap, and a failed write removes what it made. So a
// volume sized for twice the set never fills up, and the last published set is never touched
// by a failed write. Watchers that follow the links (inotify on dir/tls.crt watches the
// generation's file) used to learn of a swap from the replaced file's deletion; as it is now
// kept, its times are touched at the swap instead, which they see as an attribute change. Publishing is atomic for concurrent readers only: nothing is fsynced, the
// directories this is meant for (in-memory emptyDirs, a pod's cert dir) do not outlive a crash.
//
// The directory belongs to the writer: every entry starting with ".." other than "..data" and
// the generation it points to is a leftover of an earlier write and is removed. There must be
// one writer per directory at a time.
//
// WriteFile gives a single file that changes on its own the same guarantee (whole old or whole
// new) with a temporary file and a rename; it owns nothing but that file.
package atomicdir

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

const (
	// DataDir is the symlink to the current generation. It exists only after the first
	// complete write, so it doubles as a "files are there" marker (see Ready).
	DataDir = "..data"
	// reserved starts every name of the writer's own (generations, temporary links); file
	// paths may not start with it.
	reserved = ".."
	dataTmp  = "..data_tmp"
	linkTmp  = "..link_tmp"
)

// File is one file of a set. Path is relative, clean, and does not start with "..".
type File struct {
	Path string
	Data []byte
	Mode fs.FileMode
}

// Write publishes files as the set in dir, creating dir if needed. It does nothing and reports
// false when the published set already has the same paths, contents and modes, so an unchanged
// set never touches the disk (and watchers of the files are not woken up). On error the
// previously published set is intact; changed is true when the new set was published but
// tidying up after it failed.
func Write(dir string, files []File) (changed bool, err error) {
	if err := checkPaths(files); err != nil {
		return false, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("creating dir %s: %w", dir, err)
	}
	cur, _ := os.Readlink(filepath.Join(dir, DataDir))
	if cur != "" && unchanged(dir, files) {
		return false, nil
	}
	// Make room before writing: the generation replaced by the previous swap (and leftovers of
	// a write that was killed) go now, so the volume holds the current set and the new one,
	// never three. Carry on if that fails: there may still be room.
	pruneErr := prune(dir, cur)
	gen, err := writeGeneration(dir, files)
	if err != nil {
		return false, errors.Join(err, pruneErr)
	}
	if err := swap(dir, gen); err != nil {
		_ = os.RemoveAll(filepath.Join(dir, gen))
		return false, errors.Join(err, pruneErr)
	}
	// Published. From here on errors are about the names outside ..data; the next Write
	// repairs them (unchanged checks the links too).
	if err := linkTopLevel(dir, files); err != nil {
		return true, errors.Join(err, pruneErr)
	}
	if cur != "" {
		touchReplaced(filepath.Join(dir, cur))
	}
	return true, errors.Join(pruneErr, removeDroppedLinks(dir, files))
}

// Ready reports whether dir holds a published set: ..data exists and resolves to a directory.
func Ready(dir string) error {
	st, err := os.Stat(filepath.Join(dir, DataDir))
	if err != nil {
		return fmt.Errorf("no complete set yet in %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s in %s is not a directory", DataDir, dir)
	}
	return nil
}

// checkPaths refuses what would escape the generation, clash with the writer's own names, or
// fail halfway through a write (a path that is also the parent of another).
func checkPaths(files []File) error {
	seen := make(map[string]bool, len(files))
	for _, f := range files {
		if f.Path == "" || f.Path == "." || filepath.Clean(f.Path) != f.Path || !filepath.IsLocal(f.Path) ||
			strings.HasPrefix(f.Path, reserved) {
			return fmt.Errorf("file path %q is not a clean relative path", f.Path)
		}
		if seen[f.Path] {
			return fmt.Errorf("file path %q is listed twice", f.Path)
		}
		seen[f.Path] = true
	}
	for _, f := range files {
		for d := filepath.Dir(f.Path); d != "."; d = filepath.Dir(d) {
			if seen[d] {
				return fmt.Errorf("file path %q is inside file %q", f.Path, d)
			}
		}
	}
	return nil
}

// unchanged compares files with the published set (contents, modes, the set of paths) and
// checks that every top-level link is in place.
func unchanged(dir string, files []File) bool {
	cur := filepath.Join(dir, DataDir)
	n := 0
	err := filepath.WalkDir(cur+"/", func(_ string, d fs.DirEntry, err error) error {
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
	for top := range topLevel(files) {
		if got, err := os.Readlink(filepath.Join(dir, top)); err != nil || got != filepath.Join(DataDir, top) {
			return false
		}
	}
	return true
}

func topLevel(files []File) map[string]bool {
	m := make(map[string]bool, len(files))
	for _, f := range files {
		m[strings.SplitN(f.Path, "/", 2)[0]] = true
	}
	return m
}
