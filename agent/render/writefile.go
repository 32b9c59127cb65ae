package render

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/internal/atomicdir"
)

// WriteDir is where writeToFile may write: Dir (the agent's secrets dir) except the secrets'
// own files (Files, relative), which belong to the atomic generations.
type WriteDir struct {
	Dir   string
	Files []string
}

// writeToFile is consul-template's `writeToFile "path" "owner" "group" "mode" ["flags"]
// "content"`, confined to the secrets dir: the file is replaced whole (temporary file and
// rename), so a reader never sees half of it; "append" appends to what is there, "newline"
// adds a line break. The agent runs as a non-root UID and cannot chown: owner and group must be
// empty or its own IDs. It prints nothing.
func (it *Item) writeToFile(p, owner, group, mode string, args ...string) (string, error) {
	if it.wdir == nil {
		return "", safef("writeToFile is not available here: the agent has no secrets dir to write in")
	}
	if len(args) != 1 && len(args) != 2 {
		return "", safef("writeToFile takes a path, owner, group, mode, optional flags and the content (%d arguments given)", 4+len(args))
	}
	content, flags := args[len(args)-1], ""
	if len(args) == 2 {
		flags = args[0]
	}
	rel, err := contract.WriteToFileTarget(p, it.wdir.Dir, it.wdir.Files)
	if err != nil {
		if it.computed(p, nil) {
			return "", safef("writeToFile: a path computed by the template was refused; write under %s, outside the secrets' own files", it.wdir.Dir)
		}
		return "", safef("%v", err)
	}
	if err := checkOwner("owner", owner, os.Getuid()); err != nil {
		return "", err
	}
	if err := checkOwner("group", group, os.Getgid()); err != nil {
		return "", err
	}
	m, err := contract.ParseWriteToFileMode(mode)
	if err != nil {
		return "", safef("%v", err)
	}
	if err := contract.CheckWriteToFileFlags(flags); err != nil {
		return "", safef("%v", err)
	}
	return "", it.writeFile(rel, p, []byte(content), fs.FileMode(m), hasFlag(flags, "append"), hasFlag(flags, "newline"))
}

func (it *Item) writeFile(rel, p string, data []byte, mode fs.FileMode, appendTo, newline bool) error {
	target := filepath.Join(it.wdir.Dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return safef("writeToFile %q: creating its directory failed", p)
	}
	// The directories below the secrets dir are the agent's own (the secrets' files are kept
	// out), but refuse a link anyway: the write must not leave the volume.
	if st, err := os.Lstat(filepath.Dir(target)); err != nil || st.Mode()&fs.ModeSymlink != 0 {
		return safef("writeToFile %q: its directory is a symbolic link or missing: refused", p)
	}
	if appendTo {
		old, err := os.ReadFile(target)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return safef("writeToFile %q: reading the file to append to failed", p)
		}
		data = append(old, data...)
	}
	if newline {
		data = append(data, '\n')
	}
	if len(data) > MaxOutput {
		return safef("writeToFile %q: the file would be %d bytes, over the limit of %d", p, len(data), MaxOutput)
	}
	if err := atomicdir.WriteFile(target, data, mode); err != nil {
		return safef("writeToFile %q: writing failed", p)
	}
	return nil
}

func checkOwner(what, v string, own int) error {
	if v == "" || v == itoa(own) {
		return nil
	}
	return safef("writeToFile %s %q: the agent runs as a non-root user (%s %d) and cannot give a file to another; leave it empty (\"\") or use %d",
		what, v, what, own, own)
}

func itoa(n int) string { return strconv.Itoa(n) }

func hasFlag(flags, f string) bool {
	for _, w := range strings.FieldsFunc(flags, func(r rune) bool { return r == ',' || r == ' ' }) {
		if w == f {
			return true
		}
	}
	return false
}
