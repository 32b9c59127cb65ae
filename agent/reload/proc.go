package reload

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// commLen is the kernel's limit on /proc/<pid>/comm (TASK_COMM_LEN 16, minus the NUL).
const commLen = 15

// FindProcesses returns the pids under procRoot whose executable is named name (its comm, or
// argv[0]'s file name), except this process and those whose parent matches too: a daemon's
// workers (nginx, Apache) are reloaded by their master, which must get the signal once.
func FindProcesses(procRoot, name string) ([]int, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("listing processes in %s: %w", procRoot, err)
	}
	self := os.Getpid()
	parent := map[int]int{}
	match := map[int]bool{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		dir := filepath.Join(procRoot, e.Name())
		ppid, ok := parentOf(dir)
		if !ok {
			continue // gone meanwhile
		}
		parent[pid] = ppid
		match[pid] = named(dir, name)
	}
	var pids []int
	for pid, ok := range match {
		if ok && !match[parent[pid]] {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	return pids, nil
}

func named(dir, name string) bool {
	if b, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
		comm := strings.TrimSuffix(string(b), "\n")
		if comm == name || len(name) > commLen && comm == name[:commLen] {
			return true
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil || len(b) == 0 {
		return false
	}
	argv0, _, _ := strings.Cut(string(b), "\x00")
	return filepath.Base(argv0) == name
}

// parentOf reads the parent pid from stat: "pid (comm) state ppid ...", where comm may hold
// spaces and parentheses, so the fields are counted after the last ')'.
func parentOf(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}
