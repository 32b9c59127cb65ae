package atomicdir

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile replaces the single file path with data and mode through a temporary file in the
// same directory and a rename, so a reader opens the old file or the new one, never half of
// either. For a file that stands alone (a handed-over token, a key pair's parts written in a
// chosen order); a set whose files must change together needs Write. The directory must
// exist. As with Write nothing is fsynced: the files this is for live on in-memory volumes or
// are throwaway, and do not outlive a crash.
func WriteFile(path string, data []byte, mode fs.FileMode) error {
	// A hidden name, so a listing of the directory does not show a half-written file.
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // a no-op after the rename
	// CreateTemp makes the file 0600, so no one else can read it before the chmod. Chmod after
	// writing: the mode may be read-only for the owner (0400), and the umask must not narrow it.
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode.Perm())
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
