package integration

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/agent/cli"
	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/syncbuf"
	"github.com/vault-injector/vault-injector/test/vaultserver"
)

// TestMain lets the test binary act as the agent process (same wiring as agent/main.go), so
// subprocess tests see real exit codes, stderr and signals without a separate `go build`.
func TestMain(m *testing.M) {
	if os.Getenv("VI_AGENT_PROCESS") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// env is one test's Vault plus a directory for the agent's files.
type env struct {
	t         *testing.T
	vs        *vaultserver.Server
	dir       string
	tokenFile string
}

const readPolicy = `
path "secret/data/*" { capabilities = ["read"] }
path "kv1/*" { capabilities = ["read"] }
path "database/creds/*" { capabilities = ["read"] }
`

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, vs: vaultserver.New(t, vaultserver.Options{}), dir: t.TempDir()}
	e.tokenFile = filepath.Join(e.dir, "vault-token")
	e.seedToken(readPolicy)
	return e
}

// seedToken puts the policy and writes a fresh token with it into the agent's token file.
func (e *env) seedToken(policy string) string {
	e.t.Helper()
	ctx := context.Background()
	if err := e.vs.PutPolicy(ctx, "agent", policy); err != nil {
		e.t.Fatal(err)
	}
	tok, err := e.vs.CreateToken(ctx, "1h", "", "agent")
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(e.tokenFile, []byte(tok+"\n"), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *env) putKV2(path string, data map[string]any) {
	e.t.Helper()
	if _, err := e.vs.MustClient(e.t).KVv2("secret").Put(context.Background(), path, data); err != nil {
		e.t.Fatalf("writing secret/%s: %v", path, err)
	}
}

func d(x time.Duration) contract.Duration { return contract.Duration{Duration: x} }

// config is an agent config with token auth (kubernetes auth needs a cluster: the e2e suite).
func (e *env) config(secrets ...contract.Secret) *contract.Config {
	for i := range secrets {
		if secrets[i].File == "" {
			secrets[i].File = secrets[i].Name
		}
		if secrets[i].Perms == 0 {
			secrets[i].Perms = contract.DefaultPerms
		}
	}
	return &contract.Config{
		Version: contract.ConfigVersion,
		Vault:   contract.Vault{Address: e.vs.Addr},
		Auth:    contract.Auth{Method: contract.AuthToken, TokenFile: e.tokenFile},
		Secrets: secrets, SecretsDir: filepath.Join(e.dir, "secrets"),
		Refresh: d(time.Minute), InitTimeout: d(10 * time.Second),
		Backoff: contract.Backoff{Min: d(20 * time.Millisecond), Max: d(200 * time.Millisecond)},
	}
}

func (e *env) writeConfig(cfg *contract.Config) string {
	e.t.Helper()
	if err := cfg.Validate(); err != nil {
		e.t.Fatalf("test config invalid: %v", err)
	}
	b, _ := json.Marshal(cfg)
	f, err := os.CreateTemp(e.dir, "config-*.json")
	if err != nil {
		e.t.Fatal(err)
	}
	_, _ = f.Write(b)
	_ = f.Close()
	return f.Name()
}

// runOnce runs `run --once` in-process and returns exit code, logs and stderr.
func (e *env) runOnce(cfg *contract.Config) (int, string, string) {
	var out, errb syncbuf.Buffer
	code := cli.Main(context.Background(), []string{"run", "--once", "--config", e.writeConfig(cfg)}, &out, &errb)
	return code, out.String(), errb.String()
}

// sidecar runs `run` in-process until stop (the in-process equivalent of SIGTERM).
type sidecar struct {
	logs   syncbuf.Buffer
	stderr syncbuf.Buffer
	cancel context.CancelFunc
	done   chan int
}

func (e *env) startSidecar(cfg *contract.Config) *sidecar {
	e.t.Helper()
	file := e.writeConfig(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	s := &sidecar{cancel: cancel, done: make(chan int, 1)}
	go func() { s.done <- cli.Main(ctx, []string{"run", "--config", file}, &s.logs, &s.stderr) }()
	e.t.Cleanup(func() { s.stop(e.t) })
	return s
}

func (s *sidecar) stop(t *testing.T) int {
	s.cancel()
	select {
	case code := <-s.done:
		s.done <- code // later calls see the same code
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("sidecar did not stop")
		return -1
	}
}

// process runs the agent as a real child process (see TestMain).
func process(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "VI_AGENT_PROCESS=1")
	return cmd
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fileIs(p, want string) func() bool {
	return func() bool { b, err := os.ReadFile(p); return err == nil && string(b) == want }
}

// metric scrapes one sample from the agent's /metrics ("name" or `name{label="x"}`); -1 if
// the endpoint or the sample is not there yet.
func metric(port int, sample string) float64 {
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

// noLeaks fails if logs or stderr contain any of the given secret values or tokens.
func noLeaks(t *testing.T, output string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(output, s) {
			t.Errorf("agent output contains a secret value or token (%d chars)", len(s))
		}
	}
}

// jsonLines checks that every log line is a JSON object (slog JSON) and returns them.
func jsonLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}
