package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/agent/vault/fakehttp"
	"github.com/vault-injector/vault-injector/contract"
)

// TestMain lets a test run the agent as a child process (the test binary itself), for renders
// that spin forever: a goroutine cannot be stopped, so only a process contains them.
func TestMain(m *testing.M) {
	if args := os.Getenv("VI_AGENT_CHILD_ARGS"); args != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		code := Main(ctx, strings.Split(args, " "), os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// child starts the agent in a child process; wait returns its exit code, stderr and how long
// it ran. A child still running after 10 s is killed and fails the test.
func child(t *testing.T, args ...string) (cmd *exec.Cmd, wait func() (int, string, time.Duration)) {
	t.Helper()
	cmd = exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "VI_AGENT_CHILD_ARGS="+strings.Join(args, " "))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return cmd, func() (int, string, time.Duration) {
		select {
		case err := <-done:
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatal(err)
			}
			return cmd.ProcessState.ExitCode(), stderr.String(), time.Since(start)
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			err := <-done
			t.Fatalf("the agent still runs after 10 s (spinning template not stopped), killed (%v); stderr: %s", err, stderr.String())
			return 0, "", 0
		}
	}
}

const spin = `{{ range 100000000000 }}{{ end }}`

func spinConfig(t *testing.T, srv *fakehttp.Server, edit func(*contract.Config)) string {
	return agentConfig(t, srv, func(c *contract.Config) {
		c.Secrets = append(c.Secrets, contract.Secret{Name: "spin", Path: "secret/app", Template: spin, File: "spin", Perms: 0o400})
		edit(c)
	})
}

// TestRenderTimeoutExits: a sidecar whose template spins past renderTimeout exits 1 with a
// line naming the secret (before: 100 % of a core, forever).
func TestRenderTimeoutExits(t *testing.T) {
	srv := fakehttp.Start(0)
	t.Cleanup(srv.Close)
	srv.Put("secret/app", map[string]any{"k": "v"}, 0)
	f := spinConfig(t, srv, func(c *contract.Config) { c.RenderTimeout = contract.Duration{Duration: 300 * time.Millisecond} })
	_, wait := child(t, "run", "--config", f)
	code, stderr, took := wait()
	if code != ExitFail || !strings.Contains(stderr, `secret "spin": the template ran for more than 300ms (renderTimeout)`) {
		t.Errorf("exit %d after %v, stderr %q", code, took, stderr)
	}
}

// TestOnceHonoursInitTimeout: `run --once` gives up at initTimeout even while a template spins.
func TestOnceHonoursInitTimeout(t *testing.T) {
	srv := fakehttp.Start(0)
	t.Cleanup(srv.Close)
	srv.Put("secret/app", map[string]any{"k": "v"}, 0)
	f := spinConfig(t, srv, func(c *contract.Config) { c.InitTimeout = contract.Duration{Duration: 400 * time.Millisecond} })
	_, wait := child(t, "run", "--once", "--config", f)
	code, stderr, took := wait()
	if code != ExitFail || took > 5*time.Second ||
		!strings.Contains(stderr, `secret "spin": the template was still running when initTimeout was reached`) {
		t.Errorf("exit %d after %v, stderr %q", code, took, stderr)
	}
}

// TestSIGTERMStopsSpinningSidecar: SIGTERM ends a sidecar stuck in a template, exit 0, and the
// token is revoked.
func TestSIGTERMStopsSpinningSidecar(t *testing.T) {
	srv := fakehttp.Start(0)
	t.Cleanup(srv.Close)
	srv.Put("secret/app", map[string]any{"k": "v"}, 0)
	f := spinConfig(t, srv, func(c *contract.Config) {})
	cmd, wait := child(t, "run", "--config", f)
	// "app" renders first, then "spin" starts and never ends.
	deadline := time.Now().Add(5 * time.Second)
	for srv.Count(fakehttp.Read) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	code, stderr, _ := wait()
	if code != ExitOK || srv.Count(fakehttp.RevokeSelf) != 1 {
		t.Errorf("exit %d, %d revocations, stderr %q", code, srv.Count(fakehttp.RevokeSelf), stderr)
	}
}

// TestOnceAbandonedKeepsLastFailure: when initTimeout ends a retry mid-render, the error still
// names the failure before it, which is what the user has to fix.
func TestOnceAbandonedKeepsLastFailure(t *testing.T) {
	srv := fakehttp.Start(0)
	t.Cleanup(srv.Close)
	f := agentConfig(t, srv, func(c *contract.Config) {
		// Missing at first (a 404), then present and spinning.
		c.Secrets = []contract.Secret{{Name: "late", Path: "secret/late", File: "late", Perms: 0o400,
			Template: `{{ with secret "secret/late" }}` + spin + `{{ end }}`}}
		c.InitTimeout = contract.Duration{Duration: 2 * time.Second}
	})
	_, wait := child(t, "run", "--once", "--config", f)
	deadline := time.Now().Add(5 * time.Second)
	for srv.Count(fakehttp.Read) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	srv.Put("secret/late", map[string]any{"k": "v"}, 0)
	code, stderr, _ := wait()
	if code != ExitFail || !strings.Contains(stderr, `secret "late": the template was still running when initTimeout was reached; the attempt before failed:`) ||
		!strings.Contains(stderr, "404") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
