package atomicdir

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of size bytes, like a memory-backed emptyDir with a sizeLimit,
// and unmounts it at cleanup. It skips the test when mounting is not permitted (not root, or no
// CAP_SYS_ADMIN in this namespace): the scenario needs a volume that really fills up.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			t.Skipf("cannot mount a tmpfs here (%v): the full-volume scenario needs one", err)
		}
		t.Fatalf("mounting tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

// secret is n KiB of content that says which version it is.
func secret(version string, kib int) []File {
	return []File{{Path: "db.json", Data: bytes.Repeat([]byte(version), kib*1024/len(version)), Mode: 0o400}}
}

// generations lists the generation directories in dir.
func generations(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var gens []string
	for _, e := range entries {
		if e.Name() != DataDir && strings.HasPrefix(e.Name(), reserved) {
			gens = append(gens, e.Name())
		}
	}
	return gens
}

func freeBytes(t *testing.T, dir string) uint64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Bavail * uint64(st.Bsize)
}

// TestFullVolumeKeepsRefreshing is the agent's "full volume" failure: an 800k volume and a 296k
// secret. Keeping the replaced generation while writing the next one needed three sets on the
// volume, so the third write failed with ENOSPC, and every retry after it: the files were never
// refreshed again. With the stale generation removed first, two sets are enough.
func TestFullVolumeKeepsRefreshing(t *testing.T) {
	dir := mountTmpfs(t, "800k")
	for i, v := range []string{"v1", "v2", "v3", "v4", "v5", "v6"} {
		if _, err := Write(dir, secret(v, 296)); err != nil {
			t.Fatalf("write %d of a 296k secret on an 800k volume: %v", i+1, err)
		}
		if got := readString(t, filepath.Join(dir, "db.json")); !strings.HasPrefix(got, v) {
			t.Fatalf("after write %d db.json starts %q, want %q", i+1, got[:2], v)
		}
		if gens := generations(t, dir); len(gens) > 2 {
			t.Fatalf("after write %d the volume holds %d generations: %v", i+1, len(gens), gens)
		}
	}
}

// TestFailedWriteCostsNothing fills the volume with a set too large for it: the write fails
// with ENOSPC, the last good files stay, nothing of the attempt is left on the volume, and the
// next set that fits is written.
func TestFailedWriteCostsNothing(t *testing.T) {
	dir := mountTmpfs(t, "800k")
	mustWrite(t, dir, secret("v1", 296))
	mustWrite(t, dir, secret("v2", 296))
	good, _ := os.Readlink(filepath.Join(dir, DataDir))

	_, err := Write(dir, secret("v3", 600)) // 296k current + 600k > 800k
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writing 600k next to 296k on an 800k volume: %v, want ENOSPC", err)
	}
	if got := readString(t, filepath.Join(dir, "db.json")); !strings.HasPrefix(got, "v2") || len(got) != len(secret("v2", 296)[0].Data) {
		t.Fatalf("the last good file changed after a failed write (%d bytes, %q...)", len(got), got[:2])
	}
	if gens := generations(t, dir); len(gens) != 1 || gens[0] != good {
		t.Fatalf("after the failed write the volume holds %v, want only the current %s", gens, good)
	}
	if _, err := os.Lstat(filepath.Join(dir, dataTmp)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary link left behind: %v", err)
	}
	// Nothing but the current set is left: another 296k set still fits, and again.
	if free := freeBytes(t, dir); free < 400*1024 {
		t.Fatalf("only %d bytes free after the failed write: it left data behind", free)
	}
	for _, v := range []string{"v4", "v5"} {
		mustWrite(t, dir, secret(v, 296))
		if got := readString(t, filepath.Join(dir, "db.json")); !strings.HasPrefix(got, v) {
			t.Fatalf("db.json starts %q, want %q", got[:2], v)
		}
	}
}

// TestWatcherOfFileSeesSwap watches a published name the way fsnotify does (inotify follows the
// links, so the watch is on the current generation's file): the swap must produce an event on
// it even though that file is kept for in-flight readers.
func TestWatcherOfFileSeesSwap(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, dir, []File{{Path: "tls.crt", Data: []byte("1"), Mode: 0o644}})
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	mask := uint32(syscall.IN_MODIFY | syscall.IN_ATTRIB | syscall.IN_DELETE_SELF | syscall.IN_MOVE_SELF)
	if _, err := syscall.InotifyAddWatch(fd, filepath.Join(dir, "tls.crt"), mask); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, dir, []File{{Path: "tls.crt", Data: []byte("2"), Mode: 0o644}})
	buf := make([]byte, 4096)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if n, err := syscall.Read(fd, buf); n >= syscall.SizeofInotifyEvent {
			return
		} else if err != nil && !errors.Is(err, syscall.EAGAIN) {
			t.Fatal(err)
		}
	}
	t.Fatal("no inotify event on the watched file after the swap")
}
