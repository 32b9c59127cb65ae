// Command agentbench measures the agent against a real Vault dev server: the stripped static
// binary size, the time from process start (and from login) to the first complete render, and
// the peak and steady resident memory, for 1, 10 and 100 secrets. It lives with the test
// helpers it imports (test/vaultserver), outside the agent's tree. Run from the repository root
// (it builds ./agent):
//
//	VI_CACHE=$HOME/.cache/vault-injector go run ./test/agentbench
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/freeport"
	"github.com/vault-injector/vault-injector/test/vaultserver"
)

type result struct {
	secrets                   int
	startToRender, sinceLogin []float64 // ms
	peakRSS, steadyRSS        []int     // KiB
}

func main() {
	counts := flag.String("secrets", "1,10,100", "secret counts to measure")
	runs := flag.Int("runs", 5, "agent starts per secret count")
	steady := flag.Duration("steady", 3*time.Second, "how long to watch memory after the first render")
	huge := flag.Int("huge", 100, "size in MiB of the oversized Vault answer to measure memory against (0: skip)")
	flag.Parse()
	if err := bench(*counts, *runs, *steady, *huge); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func bench(counts string, runs int, steady time.Duration, huge int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "agent-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "vault-injector-agent")
	if err := buildAgent(bin); err != nil {
		return err
	}
	st, err := os.Stat(bin)
	if err != nil {
		return err
	}
	fmt.Printf("agent binary (static, stripped): %.2f MB (%d bytes)\n", float64(st.Size())/1e6, st.Size())
	if huge > 0 {
		if err := benchHuge(bin, dir, huge, 4*time.Second); err != nil {
			return err
		}
	}
	if counts == "" {
		return nil
	}
	vs, err := vaultserver.Start(ctx, vaultserver.Options{})
	if err != nil {
		return err
	}
	defer func() { _ = vs.Cleanup() }()
	if err := seed(ctx, vs, 100); err != nil {
		return err
	}
	fmt.Println()
	fmt.Println("| secrets | start→first render (median) | login→first render (median) | peak RSS (max) | steady RSS (max) |")
	fmt.Println("|---|---|---|---|---|")
	for _, f := range strings.Split(counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return err
		}
		res := result{secrets: n}
		for i := 0; i < runs; i++ {
			// A token per run: each agent revokes its own at SIGTERM.
			tokenFile, err := agentToken(ctx, vs, filepath.Join(dir, fmt.Sprintf("token-%d-%d", n, i)))
			if err != nil {
				return err
			}
			if err := runAgent(bin, vs.Addr, tokenFile, filepath.Join(dir, fmt.Sprintf("run-%d-%d", n, i)), n, steady, &res); err != nil {
				return fmt.Errorf("%d secrets, run %d: %w", n, i, err)
			}
		}
		fmt.Printf("| %d | %.1f ms | %.1f ms | %.1f MiB | %.1f MiB |\n", n, median(res.startToRender), median(res.sinceLogin),
			float64(slices.Max(res.peakRSS))/1024, float64(slices.Max(res.steadyRSS))/1024)
	}
	return nil
}

// buildAgent builds the binary the way the image does: static, trimmed, stripped.
func buildAgent(out string) error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./agent")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the agent: %w: %s", err, b)
	}
	return nil
}

// seed writes n KV v2 secrets and a policy that may read them.
func seed(ctx context.Context, vs *vaultserver.Server, n int) error {
	c, err := vs.Client()
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		data := map[string]any{"username": fmt.Sprintf("user-%d", i), "password": strings.Repeat("p", 32), "url": "postgres://db:5432/app"}
		if _, err := c.KVv2("secret").Put(ctx, fmt.Sprintf("bench/s%d", i), data); err != nil {
			return err
		}
	}
	return vs.PutPolicy(ctx, "bench", `path "secret/data/bench/*" { capabilities = ["read"] }`)
}

// agentToken writes a fresh token with the bench policy into file.
func agentToken(ctx context.Context, vs *vaultserver.Server, file string) (string, error) {
	tok, err := vs.CreateToken(ctx, "24h", "", "bench")
	if err != nil {
		return "", err
	}
	return file, os.WriteFile(file, []byte(tok), 0o600)
}

func runAgent(bin, addr, tokenFile, dir string, n int, steady time.Duration, res *result) error {
	cfgFile, secretsDir, err := writeConfig(addr, tokenFile, dir, n)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, contract.AgentCmdRun, contract.AgentFlagConf, cfgFile)
	logs, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill() }()
	sinceLogin := make(chan float64, 1)
	go scanLogs(logs, sinceLogin)
	marker := filepath.Join(secretsDir, "..data")
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Since(start) > 30*time.Second {
			return fmt.Errorf("no first render after 30s")
		}
		time.Sleep(200 * time.Microsecond)
	}
	res.startToRender = append(res.startToRender, float64(time.Since(start).Microseconds())/1000)
	select {
	case ms := <-sinceLogin:
		res.sinceLogin = append(res.sinceLogin, ms)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("no 'first render complete' log line")
	}
	steadyMax := 0
	for end := time.Now().Add(steady); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		steadyMax = max(steadyMax, procStatus(cmd.Process.Pid, "VmRSS"))
	}
	res.peakRSS = append(res.peakRSS, procStatus(cmd.Process.Pid, "VmHWM"))
	res.steadyRSS = append(res.steadyRSS, steadyMax)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	return cmd.Wait()
}

// writeConfig writes the config of an agent with n secrets, token auth and the metrics
// endpoint on, into dir; it returns the file and the secrets dir.
func writeConfig(addr, tokenFile, dir string, n int) (string, string, error) {
	metricsPort, err := freeport.On("127.0.0.1")
	if err != nil {
		return "", "", err
	}
	cfg := contract.Config{
		Version: contract.ConfigVersion, Vault: contract.Vault{Address: addr},
		Auth:       contract.Auth{Method: contract.AuthToken, TokenFile: tokenFile},
		SecretsDir: filepath.Join(dir, "secrets"), MetricsPort: metricsPort,
		Refresh: contract.Duration{Duration: time.Second}, InitTimeout: contract.Duration{Duration: time.Minute},
		Backoff: contract.Backoff{Min: contract.Duration{Duration: 100 * time.Millisecond}, Max: contract.Duration{Duration: time.Second}},
	}
	for i := 0; i < n; i++ {
		cfg.Secrets = append(cfg.Secrets, contract.Secret{Name: fmt.Sprintf("s%d", i), Path: fmt.Sprintf("secret/bench/s%d", i),
			Format: contract.FormatJSON, File: fmt.Sprintf("s%d.json", i), Perms: contract.DefaultPerms})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	cfgFile := filepath.Join(dir, "config.json")
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		return "", "", err
	}
	return cfgFile, cfg.SecretsDir, nil
}

// scanLogs finds the agent's "first render complete" line and its since_login_ms field.
func scanLogs(r io.Reader, out chan<- float64) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "first render complete" {
			if v, ok := m["since_login_ms"].(float64); ok {
				out <- v
			}
		}
	}
}

// procStatus reads a "kB" field of /proc/<pid>/status (VmRSS: now, VmHWM: peak).
func procStatus(pid int, field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb
		}
	}
	return 0
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
