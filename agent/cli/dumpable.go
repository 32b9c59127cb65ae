package cli

import "syscall"

// prSetDumpable is prctl(2)'s PR_SET_DUMPABLE (linux/prctl.h); the syscall package has no
// name for it.
const prSetDumpable = 4

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
