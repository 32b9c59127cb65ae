// Package vaultagent renders templates with the real Vault Agent (`vault agent`, the binary
// test/tools/install.sh builds), as vault-k8s' init container does: token auth from a file,
// exit_after_auth, one template stanza per file. Tests compare its files with vault-injector's
// byte for byte.
package vaultagent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Template is one template stanza: contents rendered into Dir/File.
type Template struct {
	File     string
	Contents string
	Perms    string // "" = Vault Agent's default
}

// Render runs `vault agent` once against addr with the Vault token in tokenFile and writes
// every template under dir. It returns the agent's log on failure.
func Render(ctx context.Context, binary, addr, tokenFile, dir string, templates []Template) error {
	work, err := os.MkdirTemp("", "vaultagent-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	var stanzas []map[string]any
	for _, t := range templates {
		s := map[string]any{"destination": filepath.Join(dir, t.File), "contents": t.Contents,
			"create_dest_dirs": true, "left_delimiter": "{{", "right_delimiter": "}}"}
		if t.Perms != "" {
			s["perms"] = t.Perms
		}
		stanzas = append(stanzas, s)
	}
	// The shape vault-k8s writes for its init container (agent-inject/agent/config.go).
	cfg := map[string]any{
		"exit_after_auth": true,
		"pid_file":        filepath.Join(work, "pid"),
		"vault":           map[string]any{"address": addr},
		"auto_auth": map[string]any{"method": []any{map[string]any{"type": "token_file",
			"config": map[string]any{"token_file_path": tokenFile}}}},
		"template_config": map[string]any{"exit_on_retry_failure": true},
		"template":        stanzas,
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	conf := filepath.Join(work, "agent.json")
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "agent", "-config="+conf)
	cmd.Env = []string{"HOME=" + work, "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("vault agent: %w\n%s", err, tail(string(out)))
	}
	for _, t := range templates {
		if _, err := os.Stat(filepath.Join(dir, t.File)); err != nil {
			return fmt.Errorf("vault agent exited without writing %s:\n%s", t.File, tail(string(out)))
		}
	}
	return nil
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}
