package reload

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/internal/atomicdir"
)

// VersionFile is the file written into generation gen: one line, the counter and the UTC time,
// e.g. "7 2026-11-28T21:30:00.123456789Z". Readable by everyone: it says when, never what.
func VersionFile(gen uint64, at time.Time) atomicdir.File {
	line := strconv.FormatUint(gen, 10) + " " + at.UTC().Format(time.RFC3339Nano) + "\n"
	return atomicdir.File{Path: contract.VersionFile, Data: []byte(line), Mode: 0o444}
}

// LastGeneration reads the counter of the generation published in dir (0 if none), so an agent
// that restarts counts on instead of starting over at 1.
func LastGeneration(dir string) uint64 {
	b, err := os.ReadFile(filepath.Join(dir, contract.VersionFile))
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(strings.Fields(string(b) + " x")[0], 10, 64)
	if err != nil {
		return 0
	}
	return n
}
