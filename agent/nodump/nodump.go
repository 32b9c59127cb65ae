// Package nodump makes the agent process non-dumpable as it starts. The kernel then guards its
// /proc/<pid> entries (root, environ, fd, mem) with CAP_SYS_PTRACE instead of a UID match, so a
// process with the agent's UID (the app, with reload-signal, which shares the process
// namespace) cannot read the agent's projected Vault token through /proc/<pid>/root, nor its
// memory. agent/main.go imports it: its init runs during package initialization, before main
// and before any flag or file is read, so every subcommand, the startup probe `ready` included,
// is covered from its first microseconds (the Go runtime's start and the initialization of the
// standard packages before it are the only window left, with nothing of the agent's loaded).
package nodump

import "syscall"

// Values of prctl(2) options (linux/prctl.h); the syscall package has no names for them.
const (
	prGetDumpable = 3
	prSetDumpable = 4
)

// Err is why the process could not be made non-dumpable, or nil; the agent logs it.
var Err = set()

func set() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0); errno != 0 {
		return errno
	}
	return nil
}

// Dumpable reports the process's dumpable flag.
func Dumpable() (bool, error) {
	r, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prGetDumpable, 0, 0)
	if errno != 0 {
		return false, errno
	}
	return r != 0, nil
}
