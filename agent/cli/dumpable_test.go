package cli

import (
	"syscall"
	"testing"
)

// prGetDumpable is prctl(2)'s PR_GET_DUMPABLE.
const prGetDumpable = 3

func dumpable() (bool, error) {
	r, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prGetDumpable, 0, 0)
	if errno != 0 {
		return false, errno
	}
	return r != 0, nil
}

func TestNotDumpable(t *testing.T) {
	if err := notDumpable(); err != nil {
		t.Fatal(err)
	}
	if d, err := dumpable(); err != nil || d {
		t.Fatalf("dumpable after notDumpable: %v, %v", d, err)
	}
}
