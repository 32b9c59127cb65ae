package run

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/wait"
)

func generation(t *testing.T, cfg *contract.Config) uint64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cfg.SecretsDir, contract.VersionFile))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		t.Fatalf("version file %q: want \"<generation> <time>\"", b)
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(time.RFC3339Nano, f[1]); err != nil {
		t.Fatal(err)
	}
	return n
}

// The app hears of a new generation once, never of the first render nor of unchanged refreshes,
// and two secrets changing in one refresh give one notification.
func TestReloadHTTPOncePerNewGeneration(t *testing.T) {
	var posts atomic.Int32
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
		}
	}))
	defer app.Close()
	f := testVault()
	f.Put("database/creds/app", 0, map[string]any{"password": "pw1"}, 0) // static: re-read each refresh
	h := &harness{cfg: testConfig(t), f: f}
	h.cfg.Refresh = dur(100 * time.Millisecond)
	h.cfg.Reload = &contract.Reload{HTTP: app.URL + "/-/reload"}
	startSidecar(t, h)

	wait.For(t, 5*time.Second, "first render", func() bool { return generation(t, h.cfg) == 1 })
	time.Sleep(500 * time.Millisecond) // several unchanged refreshes
	if n, g := posts.Load(), generation(t, h.cfg); n != 0 || g != 1 {
		t.Fatalf("after the first render and unchanged refreshes: %d POSTs, generation %d; want 0 and 1", n, g)
	}
	f.Put("database/creds/app", 0, map[string]any{"password": "pw2"}, 0)
	f.Put("secret/app", 2, map[string]any{"data": map[string]any{"k": "v2"}}, 0)
	wait.For(t, 5*time.Second, "the app notified", func() bool { return posts.Load() >= 1 })
	time.Sleep(500 * time.Millisecond)
	if n, g := posts.Load(), generation(t, h.cfg); n != 1 || g != 2 {
		t.Fatalf("after one change of two secrets: %d POSTs, generation %d; want 1 and 2", n, g)
	}
	if !fileIs(h.cfg, "db/password", "pw2")() {
		t.Fatal("db/password not updated")
	}
	if got := value(t, h.m.Reloads.WithLabelValues("http", "success")); got != 1 {
		t.Errorf("reloads_total{http,success} = %v, want 1", got)
	}
	if got := value(t, h.m.Reloads.WithLabelValues("file", "success")); got != 2 {
		t.Errorf("reloads_total{file,success} = %v, want 2 (one per generation)", got)
	}
}

// A restarted agent counts on from the generation it finds, and does not notify for its own
// first publication.
func TestVersionCountsOnAfterRestart(t *testing.T) {
	var posts atomic.Int32
	app := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { posts.Add(1) }))
	defer app.Close()
	h := &harness{cfg: testConfig(t), f: testVault()}
	h.cfg.Reload = &contract.Reload{HTTP: app.URL}
	stop := startSidecar(t, h)
	wait.For(t, 5*time.Second, "first render", func() bool { return generation(t, h.cfg) == 1 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	h.m = nil
	startSidecar(t, h)
	wait.For(t, 5*time.Second, "second process' render", func() bool { return generation(t, h.cfg) == 2 })
	time.Sleep(200 * time.Millisecond)
	if n := posts.Load(); n != 0 {
		t.Fatalf("%d POSTs after a restart's first render, want 0", n)
	}
}
