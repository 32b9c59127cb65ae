package integration

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/freeport"
	"github.com/vault-injector/vault-injector/test/wait"
)

// TestOnceFailureIsOneStderrLine runs `run --once` as a process with a token that may not read
// the secret: exit 1, and stderr is exactly one line naming the path and Vault's answer.
func TestOnceFailureIsOneStderrLine(t *testing.T) {
	e := newEnv(t)
	e.putKV2("app", map[string]any{"k": "v"})
	e.seedToken(`path "secret/data/other" { capabilities = ["read"] }`)
	cfg := e.config(contract.Secret{Name: "app", Path: "secret/app", Format: "json"})
	cfg.InitTimeout = d(time.Second)
	cmd := process("run", "--once", "--config", e.writeConfig(cfg))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("exit: %v, want code 1; stderr %q", err, stderr.String())
	}
	if el := time.Since(start); el > 6*time.Second {
		t.Errorf("took %v with a 1s init timeout", el)
	}
	line := stderr.String()
	if strings.Count(line, "\n") != 1 {
		t.Fatalf("stderr is not one line: %q", line)
	}
	for _, w := range []string{`secret "app"`, "secret/data/app", "403", "permission denied"} {
		if !strings.Contains(line, w) {
			t.Errorf("stderr %q lacks %q", line, w)
		}
	}
	t.Logf("stderr: %s", line)
	jsonLines(t, stdout.String())
}

// TestClassicHandoverAndSigtermRevoke: the init agent (`run --once`) writes its token to the
// handover file (0600) and leaves it valid; the sidecar reuses it without logging in; SIGTERM
// makes the sidecar revoke it and exit 0 promptly. `ready` tracks the first render.
func TestClassicHandoverAndSigtermRevoke(t *testing.T) {
	e := newEnv(t)
	e.putKV2("app", map[string]any{"k": "classic-secret-value"})
	cfg := e.config(contract.Secret{Name: "app", Path: "secret/app", Format: "raw:k", Perms: 0o440})
	cfg.HandoverFile = filepath.Join(e.dir, "handover", "token")
	cfg.MetricsPort = freeport.For(t, "127.0.0.1")
	cfgFile := e.writeConfig(cfg)
	ctx := context.Background()

	if err := process("ready", "--config", cfgFile).Run(); err == nil {
		t.Fatal("ready before any render")
	}
	if out, err := process("run", "--once", "--config", cfgFile).CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	st, err := os.Stat(cfg.HandoverFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("handover file %v, %v; want mode 0600", st, err)
	}
	handed := readFile(t, cfg.HandoverFile)
	if !e.vs.TokenValid(ctx, handed) {
		t.Fatal("init revoked the token it handed over")
	}
	if err := process("ready", "--config", cfgFile).Run(); err != nil {
		t.Fatalf("not ready after init: %v", err)
	}
	// The sidecar must not need the login token: make logging in impossible.
	if err := os.WriteFile(e.tokenFile, []byte("not-a-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	side := process("run", "--config", cfgFile)
	var logs bytes.Buffer
	side.Stdout, side.Stderr = &logs, &logs
	if err := side.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = side.Process.Kill() }()
	wait.For(t, 10*time.Second, "sidecar render", func() bool {
		return metric(cfg.MetricsPort, `vault_injector_agent_renders_total{secret="app"}`) >= 1
	})
	if n := metric(cfg.MetricsPort, "vault_injector_agent_logins_total"); n != 0 {
		t.Errorf("sidecar logged in %v times despite a valid handed-over token", n)
	}
	start := time.Now()
	if err := side.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := side.Wait(); err != nil {
		t.Fatalf("sidecar exit after SIGTERM: %v\n%s", err, logs.String())
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("shutdown took %v", el)
	}
	if e.vs.TokenValid(ctx, handed) {
		t.Fatal("token still valid after SIGTERM: not revoked")
	}
	noLeaks(t, logs.String(), handed, "classic-secret-value")
}
