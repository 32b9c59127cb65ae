// Package postgres runs a throwaway PostgreSQL server from the Debian packages, for Vault's
// database secrets engine in tests (a real leased, renewable secret). It listens on 127.0.0.1
// with a free port, keeps everything in a temp dir, and runs as the "postgres" user (PostgreSQL
// refuses to run as root, and the tests do).
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/test/freeport"
)

// BinDir is where Debian's postgresql package puts the server binaries.
var BinDir = "/usr/lib/postgresql/15/bin"

// Server is a running PostgreSQL with a superuser Vault can manage roles with.
type Server struct {
	Host, User, Password string
	Port                 int
	Dir                  string

	cmd    *exec.Cmd
	exited chan struct{}
}

// URL is a connection URL for the superuser.
func (s *Server) URL() string {
	return fmt.Sprintf("postgresql://%s:%s@%s/postgres?sslmode=disable", s.User, s.Password, net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
}

// Start initialises a cluster and starts the server.
func Start(ctx context.Context) (*Server, error) {
	cred, err := serverUser()
	if err != nil {
		return nil, err
	}
	pw := make([]byte, 12)
	_, _ = rand.Read(pw)
	s := &Server{Host: "127.0.0.1", User: "vaultadmin", Password: hex.EncodeToString(pw)}
	if s.Dir, err = os.MkdirTemp("", "postgres-"); err != nil {
		return nil, err
	}
	if err := s.start(ctx, cred); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

func serverUser() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("no postgres or nobody user to run PostgreSQL as")
}

func (s *Server) start(ctx context.Context, cred *syscall.Credential) error {
	// The temp dir must be traversable by the server user; data and socket dirs are its own.
	if err := os.Chmod(s.Dir, 0o755); err != nil {
		return err
	}
	data, sock, pwfile := filepath.Join(s.Dir, "data"), filepath.Join(s.Dir, "sock"), filepath.Join(s.Dir, "pw")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
		if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o644); err != nil {
		return err
	}
	initdb := s.command(cred, "initdb", "-D", data, "-U", s.User, "--pwfile="+pwfile, "--auth-local=trust",
		"--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, out)
	}
	_ = os.Remove(pwfile)
	var err error
	if s.Port, err = freeport.On("127.0.0.1"); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(s.Dir, "postgres.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	s.cmd = s.command(cred, "postgres", "-D", data, "-h", s.Host, "-p", strconv.Itoa(s.Port), "-k", sock,
		"-c", "fsync=off", "-c", "max_connections=50")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	return s.waitReady(ctx)
}

func (s *Server) command(cred *syscall.Credential, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(BinDir, name), args...)
	cmd.Dir = s.Dir
	cmd.Env = []string{"PATH=" + BinDir + ":/usr/bin:/bin", "LC_ALL=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	return cmd
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := exec.CommandContext(ctx, filepath.Join(BinDir, "pg_isready"), "-q", "-h", s.Host, "-p", strconv.Itoa(s.Port)).Run()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(filepath.Join(s.Dir, "postgres.log"))
			return fmt.Errorf("postgres exited during start-up: %s", log)
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Query runs sql with psql as user/password and returns its unaligned output: tests use it to
// prove that rendered credentials really log in.
func (s *Server) Query(ctx context.Context, user, password, sql string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(BinDir, "psql"),
		"-h", s.Host, "-p", strconv.Itoa(s.Port), "-U", user, "-d", "postgres", "-tAc", sql)
	cmd.Env = []string{"PGPASSWORD=" + password, "PGCONNECT_TIMEOUT=5", "LC_ALL=C"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql as %s: %w: %s", user, err, out)
	}
	return string(out), nil
}

// Stop stops the server (fast shutdown) and removes its directory.
func (s *Server) Stop() error {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	return os.RemoveAll(s.Dir)
}

// New is Start for tests, with Stop at cleanup.
func New(t testing.TB) *Server {
	t.Helper()
	s, err := Start(context.Background())
	if err != nil {
		t.Fatalf("starting postgres: %v", err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}
