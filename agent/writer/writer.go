// Package writer publishes the agent's rendered files into its secrets dir with
// internal/atomicdir (a "..data" symlink swapped to a fresh generation; see there for what
// readers get and how much room the volume needs). What is agent-specific stays here: the
// secrets dir exists from startup, and "..data" is the agent's readiness marker.
package writer

import (
	"fmt"
	"os"

	"github.com/vault-injector/vault-injector/internal/atomicdir"
)

// DataDir is the symlink to the current generation. It exists only after the first complete
// write, which makes it the agent's readiness marker.
const DataDir = atomicdir.DataDir

// File is one file of a set. Path is relative and clean (contract.ValidateFilePath); Mode is
// the file's configured perms.
type File = atomicdir.File

// Writer publishes file sets into Dir.
type Writer struct {
	Dir string
}

// New returns a Writer for dir, which it creates now, so a bad secrets dir fails at startup
// rather than at the first render.
func New(dir string) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating secrets dir %s: %w", dir, err)
	}
	return &Writer{Dir: dir}, nil
}

// Write publishes files as the new set; unchanged sets are not written (false). On error the
// last published set is intact.
func (w *Writer) Write(files []File) (bool, error) {
	return atomicdir.Write(w.Dir, files)
}

// Ready reports whether dir holds a complete render: the readiness of `agent ready` and
// /healthz.
func Ready(dir string) error {
	return atomicdir.Ready(dir)
}
