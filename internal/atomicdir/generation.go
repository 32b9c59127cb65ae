package atomicdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// genLayout names generations by time ("..2006_01_02_15_04_05.<random>"), so a listing of
// the directory reads in write order.
const genLayout = "2006_01_02_15_04_05."

// prune removes every entry of the writer's own but ..data and the current generation cur:
// the generation the previous swap replaced, and whatever a killed write left behind.
func prune(dir, cur string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("listing %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, reserved) || name == DataDir || name == cur {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			errs = append(errs, fmt.Errorf("removing old generation: %w", err))
		}
	}
	return errors.Join(errs...)
}

// writeGeneration writes files into a new hidden directory and returns its name. On error it
// removes what it wrote.
func writeGeneration(dir string, files []File) (string, error) {
	gen, err := os.MkdirTemp(dir, reserved+time.Now().UTC().Format(genLayout))
	if err != nil {
		return "", fmt.Errorf("creating generation dir in %s: %w", dir, err)
	}
	// MkdirTemp makes 0700; readers may run as another user (a pod's fsGroup), so the
	// directories must be traversable. File modes guard the contents.
	err = os.Chmod(gen, 0o755)
	for _, f := range files {
		if err != nil {
			break
		}
		err = writeFile(filepath.Join(gen, f.Path), f.Data, f.Mode)
	}
	if err != nil {
		_ = os.RemoveAll(gen)
		return "", err
	}
	return filepath.Base(gen), nil
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
	// must not narrow the requested mode.
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
func swap(dir, gen string) error {
	return replaceLink(dir, dataTmp, DataDir, gen)
}

// linkTopLevel makes each top-level name point through ..data, so nested paths
// ("tls/ca.pem") switch together with everything else. An existing link is replaced with a
// rename, so a name in both sets never disappears.
func linkTopLevel(dir string, files []File) error {
	for top := range topLevel(files) {
		want := filepath.Join(DataDir, top)
		if got, err := os.Readlink(filepath.Join(dir, top)); err == nil && got == want {
			continue
		}
		if err := replaceLink(dir, linkTmp, top, want); err != nil {
			return err
		}
	}
	return nil
}

// replaceLink points dir/name at target through the temporary link dir/tmp and a rename; on
// failure the temporary link is removed.
func replaceLink(dir, tmp, name, target string) error {
	tmpPath := filepath.Join(dir, tmp)
	_ = os.Remove(tmpPath)
	if err := os.Symlink(target, tmpPath); err != nil {
		return fmt.Errorf("creating link for %s in %s: %w", name, dir, err)
	}
	if err := os.Rename(tmpPath, filepath.Join(dir, name)); err != nil {
		_ = os.Remove(tmpPath)
		return fmt.Errorf("replacing %s in %s: %w", name, dir, err)
	}
	return nil
}

// removeDroppedLinks deletes the top-level links of names no longer in the set. Only links
// into ..data are the writer's; anything else in dir is left alone.
func removeDroppedLinks(dir string, files []File) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("listing %s: %w", dir, err)
	}
	keep := topLevel(files)
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if e.Type()&fs.ModeSymlink == 0 || keep[name] || strings.HasPrefix(name, reserved) {
			continue
		}
		if target, err := os.Readlink(filepath.Join(dir, name)); err == nil && strings.HasPrefix(target, DataDir+"/") {
			errs = append(errs, os.Remove(filepath.Join(dir, name)))
		}
	}
	return errors.Join(errs...)
}

// touchReplaced sets the times of every file of the generation just replaced. A watcher of
// such a file (fsnotify on a name through ..data follows the links) gets an attribute event,
// as it would from the deletion it got when replaced generations were removed at once. Best
// effort: the published set is complete whether or not anyone is told.
func touchReplaced(gen string) {
	now := time.Now()
	_ = filepath.WalkDir(gen, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			_ = os.Chtimes(p, now, now)
		}
		return nil
	})
}
