package atomicdir

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func mustWrite(t *testing.T, dir string, files []File) bool {
	t.Helper()
	changed, err := Write(dir, files)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return changed
}

func readString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading %s: %v", p, err)
	}
	return string(b)
}

func TestWriteLayoutModesAndNesting(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets") // Write creates it
	if Ready(dir) == nil {
		t.Fatal("Ready before the first write")
	}
	changed := mustWrite(t, dir, []File{
		{Path: "db.json", Data: []byte(`{"a":1}`), Mode: 0o400},
		{Path: "tls/ca.pem", Data: []byte("CA"), Mode: 0o440},
		{Path: "tls/deep/key", Data: []byte("K"), Mode: 0o600},
	})
	if !changed {
		t.Fatal("first write reported no change")
	}
	if err := Ready(dir); err != nil {
		t.Fatalf("Ready after write: %v", err)
	}
	for p, want := range map[string]string{"db.json": `{"a":1}`, "tls/ca.pem": "CA", "tls/deep/key": "K"} {
		if got := readString(t, filepath.Join(dir, p)); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	for p, want := range map[string]fs.FileMode{"db.json": 0o400, "tls/ca.pem": 0o440, "tls/deep/key": 0o600} {
		st, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", p, st.Mode().Perm(), want)
		}
	}
	for link, want := range map[string]string{"db.json": "..data/db.json", "tls": "..data/tls"} {
		got, err := os.Readlink(filepath.Join(dir, link))
		if err != nil || got != want {
			t.Errorf("link %s -> %q (%v), want %q", link, got, err, want)
		}
	}
}

func TestWriteOnlyOnChangeAndCleanup(t *testing.T) {
	dir := t.TempDir()
	set1 := []File{{Path: "a", Data: []byte("1"), Mode: 0o400}, {Path: "b/c", Data: []byte("2"), Mode: 0o400}}
	mustWrite(t, dir, set1)
	gen1, _ := os.Readlink(filepath.Join(dir, DataDir))
	if mustWrite(t, dir, set1) {
		t.Error("identical set rewritten")
	}
	if gen, _ := os.Readlink(filepath.Join(dir, DataDir)); gen != gen1 {
		t.Errorf("generation changed on identical set: %s -> %s", gen1, gen)
	}
	// A mode change alone is a change.
	if !mustWrite(t, dir, []File{{Path: "a", Data: []byte("1"), Mode: 0o440}, set1[1]}) {
		t.Error("mode change not written")
	}
	// Dropping b/c removes its top-level link; of the older generations only the one just
	// replaced is kept, for readers that resolved ..data before the swap.
	prev, _ := os.Readlink(filepath.Join(dir, DataDir))
	if !mustWrite(t, dir, []File{{Path: "a", Data: []byte("3"), Mode: 0o400}}) {
		t.Error("content change not written")
	}
	if _, err := os.Lstat(filepath.Join(dir, "b")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale link b still there: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	cur, _ := os.Readlink(filepath.Join(dir, DataDir))
	if want := []string{cur, prev, DataDir, "a"}; !sameSet(names, want) {
		t.Errorf("dir holds %v, want %v: a, ..data, the current and the previous generation", names, want)
	}
	if got := readString(t, filepath.Join(dir, "a")); got != "3" {
		t.Errorf("a = %q", got)
	}
}

func TestWriteRefusesBadPaths(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"", ".", "/abs", "../up", "a/../b", "..data", "..2020_01_01", "dup", "a/b/c"} {
		files := []File{{Path: p, Data: nil, Mode: 0o400}}
		switch p {
		case "dup":
			files = append(files, files[0])
		case "a/b/c":
			// "a/b" is a file, so it cannot also be a directory.
			files = append(files, File{Path: "a/b", Mode: 0o400})
		}
		if _, err := Write(dir, files); err == nil {
			t.Errorf("path %q accepted", p)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused sets left %d entries in the dir", len(entries))
	}
}

func TestEmptySetIsReady(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, nil)
	if err := Ready(dir); err != nil {
		t.Fatalf("empty set not ready: %v", err)
	}
}

// genFile is the content of file name in generation g: large enough that a torn write would be
// visible, and self-describing so a reader can check completeness and the generation.
func genFile(name string, g int) []byte {
	line := fmt.Sprintf("%s gen=%06d\n", name, g)
	return []byte(strings.Repeat(line, 2000) + "END\n")
}

// parseGen returns the generation of a complete file, or an error for a partial or torn one.
func parseGen(name string, b []byte) (int, error) {
	var g int
	if _, err := fmt.Sscanf(string(b), name+" gen=%06d\n", &g); err != nil {
		return 0, fmt.Errorf("%s: unparsable head: %w", name, err)
	}
	if !bytes.Equal(b, genFile(name, g)) {
		return 0, fmt.Errorf("%s: partial or torn content (%d bytes)", name, len(b))
	}
	return g, nil
}

// readStats counts what concurrent readers saw.
type readStats struct {
	done                     atomic.Bool
	bad, perFile, sets, gone atomic.Int64
	firstBad                 atomic.Value
}

func (s *readStats) fail(err error) {
	s.bad.Add(1)
	s.firstBad.CompareAndSwap(nil, err.Error())
}

// readFiles reads every file through its own link: each must be complete.
func (s *readStats) readFiles(dir string, names []string) {
	for !s.done.Load() {
		for _, n := range names {
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err == nil {
				_, err = parseGen(n, b)
			}
			if err != nil {
				s.fail(err)
			}
			s.perFile.Add(1)
		}
	}
}

// readSets pins ..data and reads the whole set: all files must be of one generation.
func (s *readStats) readSets(dir string, names []string) {
	for !s.done.Load() {
		gens, err := readSet(dir, names)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// The pinned generation was deleted mid-read: the reader gets an error and
			// retries; it never sees mixed data.
			s.gone.Add(1)
		case err != nil:
			s.fail(err)
		case slices.Min(gens) != slices.Max(gens):
			s.fail(fmt.Errorf("mixed set: generations %v", gens))
		default:
			s.sets.Add(1)
		}
	}
}

// TestConcurrentReaderNeverSeesPartialOrMixed rotates the set >=100 times while two readers
// check everything they read (see readFiles and readSets).
func TestConcurrentReaderNeverSeesPartialOrMixed(t *testing.T) {
	dir := t.TempDir()
	names := []string{"a.txt", "nested/b.txt", "nested/deep/c.txt"}
	set := func(g int) []File {
		var files []File
		for _, n := range names {
			files = append(files, File{Path: n, Data: genFile(n, g), Mode: 0o400})
		}
		return files
	}
	mustWrite(t, dir, set(0))

	const rotations = 150
	var st readStats
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); st.readFiles(dir, names) }()
	go func() { defer wg.Done(); st.readSets(dir, names) }()
	for g := 1; g <= rotations; g++ {
		if !mustWrite(t, dir, set(g)) {
			t.Fatalf("rotation %d not written", g)
		}
		time.Sleep(200 * time.Microsecond)
	}
	st.done.Store(true)
	wg.Wait()

	if n := st.bad.Load(); n > 0 {
		t.Fatalf("%d bad reads; first: %v", n, st.firstBad.Load())
	}
	if st.perFile.Load() < rotations || st.sets.Load() < rotations/2 {
		t.Fatalf("readers too slow to prove anything: %d file reads, %d set reads", st.perFile.Load(), st.sets.Load())
	}
	gens, err := readSet(dir, names)
	if err != nil || gens[0] != rotations {
		t.Fatalf("final set %v, %v; want generation %d", gens, err, rotations)
	}
	t.Logf("%d rotations: %d file reads, %d set reads, %d retried after cleanup", rotations, st.perFile.Load(), st.sets.Load(), st.gone.Load())
}

func readSet(dir string, names []string) ([]int, error) {
	root, err := os.OpenRoot(filepath.Join(dir, DataDir))
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var gens []int
	for _, n := range names {
		b, err := root.ReadFile(n)
		if err != nil {
			return nil, err
		}
		g, err := parseGen(n, b)
		if err != nil {
			return nil, err
		}
		gens = append(gens, g)
	}
	return gens, nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestWriteRemovesLeftoversOfKilledWrite: a writer killed mid-write leaves a partial generation
// and a temporary link; the next write removes them, and leaves alone what is not its own.
func TestWriteRemovesLeftoversOfKilledWrite(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, []File{{Path: "a", Data: []byte("1"), Mode: 0o400}})
	partial := filepath.Join(dir, "..2020_01_01_00_00_00.123")
	if err := os.MkdirAll(filepath.Join(partial, "nested"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(partial, "nested", "half"), []byte("x"), 0o400); err != nil {
		t.Fatal(err)
	}
	for _, tmp := range []string{dataTmp, linkTmp} {
		if err := os.Symlink("..2020_01_01_00_00_00.123", filepath.Join(dir, tmp)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "not-ours"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/hostname", filepath.Join(dir, "elsewhere")); err != nil {
		t.Fatal(err)
	}
	prev, _ := os.Readlink(filepath.Join(dir, DataDir))
	mustWrite(t, dir, []File{{Path: "b", Data: []byte("2"), Mode: 0o400}})
	cur, _ := os.Readlink(filepath.Join(dir, DataDir))
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{DataDir, cur, prev, "b", "elsewhere", "not-ours"}; !sameSet(names, want) {
		t.Errorf("dir holds %v, want %v", names, want)
	}
}

// TestWriteRepairsMissingLink: an unchanged set whose top-level link is gone (a write that
// failed after the swap) is written again, so the name comes back.
func TestWriteRepairsMissingLink(t *testing.T) {
	dir := t.TempDir()
	set := []File{{Path: "a", Data: []byte("1"), Mode: 0o400}, {Path: "t/b", Data: []byte("2"), Mode: 0o400}}
	mustWrite(t, dir, set)
	if err := os.Remove(filepath.Join(dir, "t")); err != nil {
		t.Fatal(err)
	}
	if !mustWrite(t, dir, set) {
		t.Fatal("set with a missing link reported unchanged")
	}
	if got := readString(t, filepath.Join(dir, "t", "b")); got != "2" {
		t.Errorf("t/b = %q", got)
	}
	if mustWrite(t, dir, set) {
		t.Error("repaired set rewritten")
	}
}
