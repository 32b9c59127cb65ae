package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/agent/vault/fakehttp"
	"github.com/vault-injector/vault-injector/contract"
)

// agentUID is the agent's user in pods; the test runs the agent as it when started as root,
// since root reads a 0044 file anyway.
const agentUID = 65532

// TestUnreadablePermsNotRepublished: with perms 0044 the agent cannot read back its own file.
// Unchanged refreshes must still publish nothing (before: a new generation every refresh,
// because the writer compared by re-reading the files).
func TestUnreadablePermsNotRepublished(t *testing.T) {
	srv := fakehttp.Start(0)
	t.Cleanup(srv.Close)
	srv.Put("secret/app", map[string]any{"k": "v"}, 0)
	dir, err := os.MkdirTemp("", "agent-perms-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	f := agentConfigIn(t, dir, srv, func(c *contract.Config) {
		c.Refresh = contract.Duration{Duration: 20 * time.Millisecond}
		c.Secrets[0].Perms = 0o044
	})
	bin := filepath.Join(dir, "agent.test")
	copyFile(t, os.Args[0], bin)
	cmd := exec.Command(bin)
	if os.Geteuid() == 0 {
		for _, p := range []string{dir, bin, f, filepath.Join(dir, "token")} {
			if err := os.Chown(p, agentUID, agentUID); err != nil {
				t.Fatal(err)
			}
		}
		_ = os.Chmod(dir, 0o755)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: agentUID, Gid: agentUID}}
	}
	cmd.Env = append(os.Environ(), "VI_AGENT_CHILD_ARGS=run --config "+f)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Ten refreshes at least.
	for deadline := time.Now().Add(10 * time.Second); srv.Count(fakehttp.Read) < 10 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var cfg contract.Config
	b, _ := os.ReadFile(f)
	_ = json.Unmarshal(b, &cfg)
	st, err := os.Stat(filepath.Join(cfg.SecretsDir, "app.json"))
	if err != nil || st.Mode().Perm() != 0o044 {
		t.Fatalf("file: %v %v", st, err)
	}
	if n := strings.Count(stdout.String(), `"msg":"secrets written"`); n != 1 {
		t.Errorf("%d sets published for one unchanged secret over %d reads", n, srv.Count(fakehttp.Read))
	}
	if srv.Count(fakehttp.Read) < 5 {
		t.Errorf("only %d reads: the refresh did not run", srv.Count(fakehttp.Read))
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
