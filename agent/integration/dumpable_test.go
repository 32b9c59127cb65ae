package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/wait"
)

// agentUID is the agent's UID in injected pods, and the app's with reload-signal.
const agentUID = 65532

// TestAgentNotDumpableInItsMountNamespace: a process with the agent's UID, outside the agent's
// mount namespace (the app's container), read the agent's projected Vault token through
// /proc/<pid>/root in 13-15 of 15 starts: `agent ready` never made itself non-dumpable, and
// `agent run` only after parsing its flags. Each subcommand runs here as the real binary, as
// UID 65532, in a mount namespace of its own whose private tmpfs holds a token, and blocks
// reading its config from a FIFO: by then the same UID from this namespace must be refused.
// (The agent is non-dumpable from its package initialization on, a few milliseconds into the
// process, so no test can observe it before that without racing; this one does not race.)
func TestAgentNotDumpableInItsMountNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root to create a mount namespace and switch UIDs (CI runs as root)")
	}
	bin := buildAgent(t)
	for _, args := range [][]string{{contract.AgentCmdReady}, {contract.AgentCmdRun}, {contract.AgentCmdRun, contract.AgentFlagOnce}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			pid, out := startInMountNamespace(t, bin, args)
			wait.Until(t, 10*time.Second, func() error {
				if !waitsForConfig(pid) {
					return fmt.Errorf("pid %d is not the agent waiting for its config yet; output: %s", pid, out)
				}
				return nil
			})
			b, err := readAs(agentUID, fmt.Sprintf("/proc/%d/root/run/vi-agent-token/token", pid))
			if err == nil {
				t.Fatalf("a process with the agent's UID read the agent's token through /proc/%d/root: %q", pid, b)
			}
			if !strings.Contains(strings.ToLower(err.Error()), "permission denied") {
				t.Fatalf("reading through /proc/%d/root: %v (want permission denied)", pid, err)
			}
			// An exiting process has no memory map left and the kernel skips the check: the
			// refusal means something only while the agent still waits.
			if !waitsForConfig(pid) {
				t.Fatalf("the agent no longer waits for its config: %s", out)
			}
		})
	}
}

// waitsForConfig reports whether pid runs the agent with one thread blocked opening the FIFO.
func waitsForConfig(pid int) bool {
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || !strings.HasSuffix(exe, "/agent") {
		return false
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", pid))
	for _, w := range tasks {
		if b, _ := os.ReadFile(w); string(b) == "wait_for_partner" {
			return true
		}
	}
	return false
}

// startInMountNamespace runs the agent as agentUID in a new mount namespace with a private
// tmpfs at /run/vi-agent-token holding a token, its config a FIFO nobody writes.
func startInMountNamespace(t *testing.T, bin string, args []string) (int, *strings.Builder) {
	t.Helper()
	fifo := filepath.Join(sharedDir(t), "config.json")
	if err := syscall.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`mkdir -p /run/vi-agent-token && mount -t tmpfs -o mode=0700,uid=%d tmpfs /run/vi-agent-token &&
		echo hvs.TOKEN > /run/vi-agent-token/token && chown %d /run/vi-agent-token/token &&
		exec setpriv --reuid=%d --regid=%d --clear-groups %s %s --config %s`,
		agentUID, agentUID, agentUID, agentUID, bin, strings.Join(args, " "), fifo)
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// unshare execs sh, which execs setpriv, which execs the agent: one pid throughout.
	return cmd.Process.Pid, out
}

// readAs reads file as uid from this mount namespace, in a child process.
func readAs(uid int, file string) (string, error) {
	cmd := exec.Command("cat", file)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	b, err := cmd.CombinedOutput()
	if err != nil {
		return "", errors.New(strings.TrimSpace(string(b)) + ": " + err.Error())
	}
	return string(b), nil
}

// sharedDir is a temporary directory every UID can reach (t.TempDir's parent is private).
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vi-agent-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// buildAgent builds the agent binary as the image ships it.
func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(sharedDir(t), "agent")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "../../agent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	return bin
}

// TestNoDumpIsInitializedEarly: the agent becomes non-dumpable during package initialization,
// before os, flag, the Vault client or net/http are initialized, so before any file, flag or
// token is read (GODEBUG=inittrace=1 prints the order).
func TestNoDumpIsInitializedEarly(t *testing.T) {
	cmd := exec.Command(buildAgent(t), "version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	pos := map[string]int{}
	for i, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "init" {
			pos[f[1]] = i + 1
		}
	}
	nd := pos["github.com/vault-injector/vault-injector/agent/nodump"]
	if nd == 0 {
		t.Fatalf("agent/nodump is not initialized:\n%s", b)
	}
	for _, later := range []string{"os", "flag", "net/http", "github.com/hashicorp/vault/api"} {
		if p := pos[later]; p == 0 || p < nd {
			t.Errorf("%s is initialized at %d, agent/nodump at %d: it must come first", later, p, nd)
		}
	}
}
