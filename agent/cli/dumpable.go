package cli

import "syscall"

// Values of prctl(2) options (linux/prctl.h); the syscall package has no names for them.
const (
	prGetDumpable = 3
	prSetDumpable = 4
)

// notDumpable makes the kernel treat the agent as non-dumpable: its /proc/<pid> entries (root,
// environ, fds, mem) then need CAP_SYS_PTRACE, so an app that shares the pod's process
// namespace and the agent's UID (reload-signal) cannot read the agent's token files or memory
// through them.
func notDumpable() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0); errno != 0 {
		return errno
	}
	return nil
}

func dumpable() (bool, error) {
	r, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prGetDumpable, 0, 0)
	if errno != 0 {
		return false, errno
	}
	return r != 0, nil
}
