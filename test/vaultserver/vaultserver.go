// Package vaultserver runs a real Vault dev server (the binary test/tools/install.sh builds) on
// 127.0.0.1 with a free port, a private HOME and a known root token. Tests use New, which
// stops the server at cleanup; other harnesses (e2e, benchmarks) use Start and Stop. Stop and
// Restart let outage tests take Vault away and bring it back on the same address.
package vaultserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vault-injector/vault-injector/test/freeport"
	"github.com/vault-injector/vault-injector/test/testbin"
)

// Options configure a server. The zero value is fine.
type Options struct {
	// Binary is the vault executable; default: the cached one (testbin).
	Binary string
	// RootToken; default: random.
	RootToken string
	// Port; default: a free loopback port.
	Port int
	// ListenAddr; default 127.0.0.1. Use another address to reach Vault from pods on a bridge.
	ListenAddr string
	// Dir holds HOME and the server log; default: a new temp dir removed by Stop.
	Dir string
}

// Server is a running dev server. Its state lives in memory: Restart brings back an empty Vault
// (with KV v2 at secret/ again) on the same address and root token.
type Server struct {
	Addr      string // http://127.0.0.1:PORT
	RootToken string
	Dir       string
	LogFile   string

	opts    Options
	ownDir  bool
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	stopped bool
}

// Start launches the server and waits until it serves requests and KV v2 is mounted.
func Start(ctx context.Context, o Options) (*Server, error) {
	var err error
	if o.Binary == "" {
		if o.Binary, err = testbin.Path("vault"); err != nil {
			return nil, err
		}
	}
	if o.RootToken == "" {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		o.RootToken = "root-" + hex.EncodeToString(b)
	}
	if o.ListenAddr == "" {
		o.ListenAddr = "127.0.0.1"
	}
	if o.Port == 0 {
		if o.Port, err = freeport.On(o.ListenAddr); err != nil {
			return nil, err
		}
	}
	s := &Server{RootToken: o.RootToken, opts: o, Dir: o.Dir}
	if s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "vaultserver-"); err != nil {
			return nil, err
		}
		s.ownDir = true
	}
	s.Addr = "http://" + net.JoinHostPort(o.ListenAddr, strconv.Itoa(o.Port))
	s.LogFile = filepath.Join(s.Dir, "vault.log")
	if err := s.launch(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) launch(ctx context.Context) error {
	home := filepath.Join(s.Dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(s.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.opts.Binary, "server", "-dev", "-dev-no-store-token",
		"-dev-root-token-id="+s.RootToken,
		"-dev-listen-address="+net.JoinHostPort(s.opts.ListenAddr, strconv.Itoa(s.opts.Port)))
	// A private HOME: the dev server writes ~/.vault-token and ~/.cache. Nothing of the
	// caller's VAULT_* environment may leak into the server.
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "VAULT_LOG_LEVEL=warn"}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Die with the test process, even if it is killed before cleanup runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.opts.Binary, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited, s.stopped = cmd, exited, false
	s.mu.Unlock()
	return s.waitReady(ctx, exited)
}

// waitReady polls until the server answers and KV v2 at secret/ takes writes (the dev server
// mounts it a few hundred milliseconds after it starts listening).
func (s *Server) waitReady(ctx context.Context, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := s.Client()
	if err != nil {
		return err
	}
	c.SetMaxRetries(0)
	c.SetClientTimeout(2 * time.Second)
	var last error
	for {
		_, last = c.Logical().WriteWithContext(ctx, "secret/data/vaultserver-probe",
			map[string]any{"data": map[string]any{"ok": "1"}})
		if last == nil {
			_, _ = c.Logical().DeleteWithContext(ctx, "secret/metadata/vaultserver-probe")
			return nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(s.LogFile)
			return fmt.Errorf("vault exited during start-up: %s", tail(log, 2000))
		case <-ctx.Done():
			return fmt.Errorf("vault at %s not ready: %w (last error: %v)", s.Addr, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Client returns a new API client for the server, authenticated with the root token.
func (s *Server) Client() (*api.Client, error) {
	cfg := api.DefaultConfig()
	cfg.Address = s.Addr
	cfg.HttpClient = &http.Client{Timeout: 10 * time.Second}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken(s.RootToken)
	return c, nil
}

// Stop terminates the server (SIGTERM, then SIGKILL after 5 s). Call Cleanup (or use New) to
// also remove its directory.
func (s *Server) Stop() error {
	s.mu.Lock()
	cmd, exited, stopped := s.cmd, s.exited, s.stopped
	s.stopped = true
	s.mu.Unlock()
	if cmd == nil || stopped {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return nil
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		return errors.New("vault did not stop on SIGTERM; killed")
	}
}

// Restart stops the server and starts a fresh one on the same address and root token.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.launch(ctx)
}

// Cleanup stops the server and removes its directory if Start created it.
func (s *Server) Cleanup() error {
	err := s.Stop()
	if s.ownDir {
		err = errors.Join(err, os.RemoveAll(s.Dir))
	}
	return err
}
