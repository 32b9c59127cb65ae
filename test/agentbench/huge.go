package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vault-injector/vault-injector/agent/vault/fakehttp"
	"github.com/vault-injector/vault-injector/contract"
)

// benchHuge measures the agent's peak RSS while a fake Vault answers a read with sizeMiB MiB
// (streamed, no Content-Length), at the default maxSecretBytes and at the largest allowed, and
// with an answer just under the largest limit, which is read, decoded and rendered.
func benchHuge(bin, dir string, sizeMiB int, watch time.Duration) error {
	srv := fakehttp.Start(0)
	defer srv.Close()
	srv.Stream("secret/huge", streamBlob(sizeMiB<<20))
	srv.Stream("secret/fits", streamBlob(contract.MaxMaxSecretBytes-1024))
	fmt.Printf("\n| Vault answer | maxSecretBytes | outcome | peak RSS (VmHWM) |\n|---|---|---|---|\n")
	for _, c := range []struct {
		path  string
		limit int64
		size  string
	}{
		{"secret/huge", 0, fmt.Sprintf("%d MiB", sizeMiB)},
		{"secret/huge", contract.MaxMaxSecretBytes, fmt.Sprintf("%d MiB", sizeMiB)},
		{"secret/fits", contract.MaxMaxSecretBytes, fmt.Sprintf("%.2f MiB", float64(contract.MaxMaxSecretBytes-1024)/(1<<20))},
	} {
		peak, outcome, err := runHuge(bin, filepath.Join(dir, fmt.Sprintf("huge-%s-%d", filepath.Base(c.path), c.limit)), srv.URL, c.path, c.limit, watch)
		if err != nil {
			return err
		}
		limit := "default (1 MiB)"
		if c.limit != 0 {
			limit = fmt.Sprintf("%d MiB", c.limit>>20)
		}
		fmt.Printf("| %s | %s | %s | %.1f MiB |\n", c.size, limit, outcome, float64(peak)/1024)
	}
	return nil
}

func streamBlob(n int) func(w io.Writer) {
	return func(w io.Writer) {
		_, _ = io.WriteString(w, `{"data":{"data":{"blob":"`)
		chunk := strings.Repeat("x", 64<<10)
		for left := n; left > 0; left -= len(chunk) {
			if _, err := io.WriteString(w, chunk[:min(left, len(chunk))]); err != nil {
				return
			}
		}
		_, _ = io.WriteString(w, `"}}}`)
	}
}

// runHuge runs the sidecar for watch (it retries the read with backoff meanwhile) and returns
// its peak RSS in KiB and whether a file was published.
func runHuge(bin, dir, addr, path string, limit int64, watch time.Duration) (int, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, "", err
	}
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("hvs.bench"), 0o600); err != nil {
		return 0, "", err
	}
	d := func(v time.Duration) contract.Duration { return contract.Duration{Duration: v} }
	cfg := contract.Config{
		Version: contract.ConfigVersion, Vault: contract.Vault{Address: addr},
		Auth:       contract.Auth{Method: contract.AuthToken, TokenFile: tok},
		Secrets:    []contract.Secret{{Name: "huge", Path: path, Format: "raw:blob", File: "huge", Perms: 0o400}},
		SecretsDir: filepath.Join(dir, "secrets"), Refresh: d(time.Second), InitTimeout: d(time.Minute),
		Backoff: contract.Backoff{Min: d(100 * time.Millisecond), Max: d(time.Second)}, MaxSecretBytes: limit,
	}
	b, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		return 0, "", err
	}
	cmd := exec.Command(bin, contract.AgentCmdRun, contract.AgentFlagConf, cfgFile)
	if err := cmd.Start(); err != nil {
		return 0, "", err
	}
	defer func() { _ = cmd.Process.Kill() }()
	time.Sleep(watch)
	peak := procStatus(cmd.Process.Pid, "VmHWM")
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	outcome := "refused, nothing written"
	if st, err := os.Stat(filepath.Join(cfg.SecretsDir, "huge")); err == nil {
		outcome = fmt.Sprintf("rendered (%d bytes)", st.Size())
	}
	return peak, outcome, nil
}
