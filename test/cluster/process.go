package cluster

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Proc is one process the harness started. Start (the kernel's start time in clock ticks)
// guards every kill: a recycled PID never matches, so tear-down only ever signals what it
// started.
type Proc struct {
	Name  string `json:"name"`
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
	Log   string `json:"log"`
}

// spawn starts a component with its output in logDir/<name>.log, in a session of its own so it
// outlives `cluster up` and a terminal's Ctrl-C reaches only the caller. The caller must keep
// the returned Proc in the state before doing anything else.
func spawn(logDir, name, bin string, args []string, env []string) (Proc, error) {
	logFile := filepath.Join(logDir, name+".log")
	out, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Proc{}, err
	}
	defer func() { _ = out.Close() }()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return Proc{}, fmt.Errorf("starting %s: %w", name, err)
	}
	p := Proc{Name: name, PID: cmd.Process.Pid, Log: logFile}
	p.Start, _ = startTime(p.PID)
	// Reap it when it exits so it never lingers as a zombie of a long test process; liveness
	// checks go through /proc, not through this handle.
	go func() { _ = cmd.Wait() }()
	return p, nil
}

// procStat returns the state letter and start time of pid from /proc/<pid>/stat.
func procStat(pid int) (state byte, start uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name may contain spaces and parentheses; fields resume after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	return fields[0][0], start, err
}

func startTime(pid int) (uint64, error) {
	_, start, err := procStat(pid)
	return start, err
}

// alive reports whether p still runs: same PID and start time, and not a zombie.
func (p Proc) alive() bool {
	if p.PID <= 0 {
		return false
	}
	state, start, err := procStat(p.PID)
	return err == nil && start == p.Start && state != 'Z'
}

// stop sends SIGTERM, waits up to grace, then SIGKILLs and waits for the process to go.
func (p Proc) stop(grace time.Duration) {
	if !p.alive() {
		return
	}
	_ = syscall.Kill(p.PID, syscall.SIGTERM)
	if waitGone(p, grace) {
		return
	}
	_ = syscall.Kill(p.PID, syscall.SIGKILL)
	waitGone(p, 10*time.Second)
}

func waitGone(p Proc, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for p.alive() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// procsWithArg lists the processes that have arg as one of their command-line arguments: the
// containerd shims of one run carry its socket path, and every component of a run carries a
// path inside its run dir.
func procsWithArg(match func(arg string) bool) []Proc {
	entries, _ := os.ReadDir("/proc")
	var out []Proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		for _, arg := range strings.Split(string(b), "\x00") {
			if match(arg) {
				start, err := startTime(pid)
				if err == nil {
					out = append(out, Proc{Name: filepath.Base(strings.SplitN(string(b), "\x00", 2)[0]), PID: pid, Start: start})
				}
				break
			}
		}
	}
	return out
}
