package reload

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/agent/metrics"
	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/wait"
)

var fastBackoff = contract.Backoff{Min: contract.Duration{Duration: time.Millisecond}, Max: contract.Duration{Duration: 5 * time.Millisecond}}

func counter(t *testing.T, m *metrics.Metrics, method, result string) float64 {
	t.Helper()
	return testCounter(m.Reloads.WithLabelValues(method, result))
}

func TestNotifierRetriesUntilTheAppAnswers(t *testing.T) {
	var calls atomic.Int32
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
		}
	}))
	defer app.Close()
	m := metrics.New()
	n := New(&contract.Reload{HTTP: app.URL + "/-/reload"}, fastBackoff, slog.New(slog.DiscardHandler), m)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Run(ctx)
	n.Notify(2)
	wait.For(t, 5*time.Second, "a successful notification", func() bool { return counter(t, m, "http", metrics.ReloadSuccess) == 1 })
	if got := calls.Load(); got != 3 {
		t.Errorf("%d POSTs, want 3 (two 503s, then 200)", got)
	}
}

// TestNotifierNeverFollowsRedirects: a 307 from the app's endpoint made the agent POST to
// another host and log the original URL as 200 OK. A 3xx is a failed notification.
func TestNotifierNeverFollowsRedirects(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/steal", code)
		}))
		n := New(&contract.Reload{HTTP: app.URL + "/-/reload"}, fastBackoff, slog.New(slog.DiscardHandler), metrics.New())
		detail, err := n.once(context.Background())
		app.Close()
		if err == nil || !strings.Contains(err.Error(), fmt.Sprint(code)) || !strings.Contains(err.Error(), "redirects are not followed") {
			t.Errorf("%d: detail %q, err %v; want a failure naming the status", code, detail, err)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests, want 0", n)
	}
}

func TestNotifierGivesUp(t *testing.T) {
	var calls atomic.Int32
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer app.Close()
	m := metrics.New()
	n := New(&contract.Reload{HTTP: app.URL}, fastBackoff, slog.New(slog.DiscardHandler), m)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Run(ctx)
	n.Notify(2)
	wait.For(t, 5*time.Second, "the notification given up", func() bool { return counter(t, m, "http", metrics.ReloadFailure) == 1 })
	if got := calls.Load(); got != maxAttempts {
		t.Errorf("%d POSTs, want %d", got, maxAttempts)
	}
}

// Generations published while one notification is pending are covered by one more, not one each.
func TestNotifyCoalesces(t *testing.T) {
	n := New(&contract.Reload{HTTP: "http://127.0.0.1:1/"}, fastBackoff, slog.New(slog.DiscardHandler), metrics.New())
	for g := range uint64(5) {
		n.Notify(g)
	}
	if len(n.pending) != 1 {
		t.Fatalf("%d pending notifications, want 1", len(n.pending))
	}
}

func TestNoNotifier(t *testing.T) {
	if New(nil, fastBackoff, nil, nil) != nil || New(&contract.Reload{}, fastBackoff, nil, nil) != nil {
		t.Fatal("a notifier without a method")
	}
}

// fakeProc writes a /proc-like tree: pid -> (comm, argv0, ppid).
func fakeProc(t *testing.T, procs map[int][3]string) string {
	root := t.TempDir()
	for pid, p := range procs {
		dir := filepath.Join(root, fmt.Sprint(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		files := map[string]string{
			"comm":    p[0] + "\n",
			"cmdline": p[1] + "\x00--flag\x00",
			"stat":    fmt.Sprintf("%d (%s) S %s 1 1 0", pid, p[0], p[2]),
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(root, "self"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestFindProcesses(t *testing.T) {
	root := fakeProc(t, map[int][3]string{
		1:  {"pause", "/pause", "0"},
		7:  {"nginx", "nginx: master process", "0"},
		8:  {"nginx", "nginx: worker process", "7"},
		9:  {"nginx", "nginx: worker process", "7"},
		12: {"a-very-long-nam", "/usr/bin/a-very-long-name-server", "1"},
		13: {"sh", "/bin/sh", "1"},
		14: {"weird) S 1 (x", "/app/weird", "1"},
		20: {"vault-injector-", "/usr/local/bin/vault-injector-agent", "0"},
	})
	for _, tc := range []struct {
		name string
		want []int
	}{
		{"nginx", []int{7}}, // the master only: it reloads its workers
		{"a-very-long-name-server", []int{12}},
		{"weird) S 1 (x", []int{14}},
		{"sh", []int{13}},
		{"bash", nil},
	} {
		got, err := FindProcesses(root, tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: pids %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A real process, found by its executable name in /proc, gets the signal. The executable has a
// unique name so no other process of the machine can match.
func TestSignalRealProcess(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("vi-reload-%d", os.Getpid())
	bin := filepath.Join(t.TempDir(), name)
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	// Under nohup SIGHUP is ignored, and an ignored signal stays ignored across exec: catching it
	// here makes the child start with the default action, as an app in a pod does.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cmd := exec.Command(bin, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	m := metrics.New()
	n := New(&contract.Reload{Signal: "SIGHUP", Process: name}, fastBackoff, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	n.deliver(context.Background(), 2)
	err = cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGHUP {
		t.Fatalf("the process ended with %v, want killed by SIGHUP", err)
	}
	if got := counter(t, m, "signal", metrics.ReloadSuccess); got != 1 {
		t.Errorf("reloads_total{signal,success} = %v, want 1", got)
	}
}

func TestVersionFile(t *testing.T) {
	at := time.Date(2026, 11, 28, 21, 30, 0, 5, time.UTC)
	f := VersionFile(7, at)
	if f.Path != contract.VersionFile || f.Mode != 0o444 || string(f.Data) != "7 2026-11-28T21:30:00.000000005Z\n" {
		t.Fatalf("version file %q %o %q", f.Path, f.Mode, f.Data)
	}
	n, got, err := parseVersion(f.Data)
	if err != nil || n != 7 || !got.Equal(at) {
		t.Fatalf("parseVersion = %d, %v, %v", n, got, err)
	}
	dir := t.TempDir()
	if LastGeneration(dir) != 0 {
		t.Fatal("generation without a file")
	}
	if err := os.WriteFile(filepath.Join(dir, contract.VersionFile), f.Data, 0o444); err != nil {
		t.Fatal(err)
	}
	if g := LastGeneration(dir); g != 7 {
		t.Fatalf("LastGeneration = %d, want 7", g)
	}
}

// parseVersion splits a version file's content into the counter and the time, strictly.
func parseVersion(b []byte) (uint64, time.Time, error) {
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, time.Time{}, fmt.Errorf("version file %q: want \"<generation> <time>\"", b)
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("version file generation: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, f[1])
	return n, t, err
}
