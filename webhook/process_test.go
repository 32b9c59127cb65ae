package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/certs"
	"github.com/vault-injector/vault-injector/test/freeport"
)

// childArgsEnv, when set, makes this test binary run `webhook` with the arguments it holds
// (one per line) instead of the tests: the real Main in a process of its own, whose memory a
// test can read from /proc without counting its own.
const childArgsEnv = "VI_WEBHOOK_CHILD_ARGS"

// webhookBinEnv names a built webhook binary (`make build`'s bin/webhook) to run instead, so the
// figures can be measured on exactly what ships.
const webhookBinEnv = "VI_WEBHOOK_BIN"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(childArgsEnv); ok {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		code := Main(ctx, strings.Split(args, "\n"), os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// webhookProcess is `webhook serve` running in its own process on loopback, with a throwaway
// serving CA.
type webhookProcess struct {
	pid     int
	addr    string // host:port of /mutate
	health  string // base URL of /healthz and /readyz
	roots   *x509.CertPool
	logFile string
}

// startWebhookProcess starts the webhook with the flags of a local run plus extra, waits until
// it is ready and stops it when the test ends.
func startWebhookProcess(t *testing.T, extra ...string) *webhookProcess {
	t.Helper()
	dir := t.TempDir()
	dev, err := certs.WriteDevCerts(filepath.Join(dir, "tls"), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	port, health := freeport.For(t, "127.0.0.1"), freeport.For(t, "127.0.0.1")
	args := append([]string{"serve", "--tls-self-managed=false", "--tls-dir", dev.Dir,
		"--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--health-addr", fmt.Sprintf("127.0.0.1:%d", health), "--metrics-addr", "",
		"--vault-addr", "https://vault:8200", "--agent-image", "agent:v1"}, extra...)
	p := &webhookProcess{addr: fmt.Sprintf("127.0.0.1:%d", port), health: fmt.Sprintf("http://127.0.0.1:%d", health),
		roots: x509.NewCertPool(), logFile: filepath.Join(dir, "webhook.log")}
	p.roots.AppendCertsFromPEM(dev.CAPEM)
	log, err := os.Create(p.logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+strings.Join(args, "\n"))
	if bin := os.Getenv(webhookBinEnv); bin != "" {
		cmd = exec.Command(bin, args...)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.pid = cmd.Process.Pid
	var waitErr error
	exited := make(chan struct{}) // closed once the process is gone; waitErr says how
	go func() { waitErr = cmd.Wait(); log.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second): // the drain takes DrainPeriod
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("the webhook did not stop within 20s of SIGTERM")
		}
		if waitErr != nil && !t.Failed() {
			t.Errorf("the webhook exited with %v", waitErr)
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.logFile)
			t.Logf("webhook log (last 4 KiB):\n%s", tail(b, 4<<10))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.health + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(p.logFile)
			t.Fatalf("webhook exited before it was ready: %v\n%s", waitErr, b)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("webhook not ready after 30s")
		}
	}
}

// tlsConfig is a client's TLS configuration that trusts the webhook's serving CA.
func (p *webhookProcess) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: p.roots, MinVersion: tls.VersionTLS12}
}

// memory reads the process's resident set now (VmRSS) and at its peak (VmHWM), in bytes.
func (p *webhookProcess) memory(t *testing.T) (rss, peak int) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		t.Fatalf("reading the webhook's memory: %v", err)
	}
	field := func(name string) int {
		m := regexp.MustCompile(name + `:\s+(\d+) kB`).FindSubmatch(status)
		if m == nil {
			t.Fatalf("no %s in /proc/%d/status", name, p.pid)
		}
		kb, _ := strconv.Atoi(string(m[1]))
		return kb << 10
	}
	return field("VmRSS"), field("VmHWM")
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func mib(n int) float64 { return float64(n) / (1 << 20) }
