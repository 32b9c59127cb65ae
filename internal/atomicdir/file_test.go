package atomicdir

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestWriteFileReplacesWithMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "token")
	for _, tc := range []struct {
		data string
		mode fs.FileMode
	}{{"first", 0o600}, {"second", 0o400}, {"third", 0o644}} {
		if err := WriteFile(p, []byte(tc.data), tc.mode); err != nil {
			t.Fatalf("WriteFile %s: %v", tc.data, err)
		}
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := readString(t, p); got != tc.data || st.Mode().Perm() != tc.mode {
			t.Errorf("%q mode %v, want %q mode %v", got, st.Mode().Perm(), tc.data, tc.mode)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestWriteFileErrorNamesTheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing-dir", "token")
	err := WriteFile(p, []byte("x"), 0o600)
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("err = %v, want one naming %s", err, p)
	}
	// A directory in the way of the rename: the temporary file must not stay behind.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "token"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(dir, "token"), []byte("x"), 0o600); err == nil {
		t.Error("replacing a directory succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left after a failed rename: %v", entries)
	}
}

// A reader racing the writer sees one whole version or another, never a partial file.
func TestWriteFileReaderSeesWholeFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	versions := []string{strings.Repeat("a", 64<<10), strings.Repeat("b", 64<<10)}
	if err := WriteFile(p, []byte(versions[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			b, err := os.ReadFile(p)
			if err != nil || (string(b) != versions[0] && string(b) != versions[1]) {
				t.Errorf("read %d bytes, err %v: a partial or missing file", len(b), err)
				return
			}
		}
	}()
	for i := range 200 {
		if err := WriteFile(p, []byte(versions[i%2]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
}
