package run

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vault-injector/vault-injector/agent/metrics"
	"github.com/vault-injector/vault-injector/agent/vault"
	"github.com/vault-injector/vault-injector/agent/vault/fake"
	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/internal/atomicdir"
	"github.com/vault-injector/vault-injector/test/background"
	"github.com/vault-injector/vault-injector/test/wait"
)

func dur(d time.Duration) contract.Duration { return contract.Duration{Duration: d} }

func testConfig(t *testing.T) *contract.Config {
	dir := t.TempDir()
	return &contract.Config{
		Version: contract.ConfigVersion,
		Auth:    contract.Auth{Path: "auth/kubernetes", Role: "app", TokenFile: "/dev/null"},
		Secrets: []contract.Secret{
			{Name: "db", Path: "database/creds/app", Format: "raw:password", File: "db/password", Perms: 0o400},
			{Name: "app", Path: "secret/app", Format: "json", File: "app.json", Perms: 0o440},
		},
		SecretsDir: filepath.Join(dir, "secrets"), Refresh: dur(time.Hour), InitTimeout: dur(2 * time.Second),
		Backoff:      contract.Backoff{Min: dur(5 * time.Millisecond), Max: dur(20 * time.Millisecond)},
		HandoverFile: filepath.Join(dir, "handover", "token"),
	}
}

func testVault() *fake.Client {
	f := fake.New()
	f.Put("database/creds/app", 0, map[string]any{"username": "u", "password": "pw1"}, 60)
	f.Put("secret/app", 2, map[string]any{"data": map[string]any{"k": "v1"}}, 0)
	return f
}

type harness struct {
	cfg *contract.Config
	f   *fake.Client
	m   *metrics.Metrics
}

func newRunner(t *testing.T, h *harness, once bool) *Runner {
	t.Helper()
	if h.m == nil {
		h.m = metrics.New()
	}
	r, err := New(Options{Config: h.cfg, Vault: h.f, Login: h.f, Metrics: h.m, Log: slog.New(slog.DiscardHandler), Once: once})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// startSidecar runs the loop in the background until the test ends or stop is called.
func startSidecar(t *testing.T, h *harness) (stop func() error) {
	t.Helper()
	return background.Start(t, newRunner(t, h, false).Run).Stop
}

func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

func fileIs(cfg *contract.Config, name, want string) func() bool {
	return func() bool {
		b, err := os.ReadFile(filepath.Join(cfg.SecretsDir, name))
		return err == nil && string(b) == want
	}
}

func TestOnceRendersAndHandsOver(t *testing.T) {
	h := &harness{cfg: testConfig(t), f: testVault()}
	if err := newRunner(t, h, true).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !fileIs(h.cfg, "db/password", "pw1")() || !fileIs(h.cfg, "app.json", "{\n  \"k\": \"v1\"\n}\n")() {
		t.Fatal("files not rendered")
	}
	if err := atomicdir.Ready(h.cfg.SecretsDir); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(h.cfg.HandoverFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("handover file: %v, %v", st, err)
	}
	if b, _ := os.ReadFile(h.cfg.HandoverFile); string(b) != h.f.Token() {
		t.Error("handover file does not hold the token")
	}
	if len(h.f.Revoked()) != 0 {
		t.Error("--once revoked its token: the handed-over token and the leases would die")
	}
	if got := value(t, h.m.Logins); got != 1 {
		t.Errorf("logins = %v", got)
	}
}

func TestOnceGivesUpWithOneLineReason(t *testing.T) {
	h := &harness{cfg: testConfig(t), f: testVault()}
	h.cfg.InitTimeout = dur(150 * time.Millisecond)
	h.f.Fail("secret/app", &vault.Error{Op: "read", Path: "secret/data/app", Status: 403, Errors: []string{"1 error occurred:\n\t* permission denied\n\n"}})
	start := time.Now()
	err := newRunner(t, h, true).Run(context.Background())
	var fe *FailedError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want FailedError", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("gave up after %v, want about the init timeout", time.Since(start))
	}
	msg := err.Error()
	for _, w := range []string{`secret "app"`, "secret/data/app", "403", "permission denied"} {
		if !strings.Contains(msg, w) {
			t.Errorf("%q lacks %q", msg, w)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("message is not one line: %q", msg)
	}
	if atomicdir.Ready(h.cfg.SecretsDir) == nil {
		t.Error("a partial set was published")
	}
	if len(h.f.Revoked()) != 1 {
		t.Error("token of a failed init not revoked")
	}
}

func TestSidecarReusesHandedOverToken(t *testing.T) {
	for _, valid := range []bool{true, false} {
		h := &harness{cfg: testConfig(t), f: testVault()}
		_ = os.MkdirAll(filepath.Dir(h.cfg.HandoverFile), 0o700)
		_ = os.WriteFile(h.cfg.HandoverFile, []byte("init-token\n"), 0o600)
		if valid {
			h.f.AddToken("init-token")
		}
		stop := startSidecar(t, h)
		wait.For(t, 5*time.Second, "first render", func() bool { return atomicdir.Ready(h.cfg.SecretsDir) == nil })
		want := 1.0
		if valid {
			want = 0
		}
		if got := value(t, h.m.Logins); got != want {
			t.Errorf("handover valid=%v: %v logins, want %v", valid, got, want)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if rev := h.f.Revoked(); len(rev) != 1 || (valid && rev[0] != "init-token") {
			t.Errorf("revoked %v at shutdown", rev)
		}
	}
}

func TestSidecarRefreshLeaseAndRelogin(t *testing.T) {
	h := &harness{cfg: testConfig(t), f: testVault()}
	h.cfg.Refresh = dur(30 * time.Millisecond)
	startSidecar(t, h)
	wait.For(t, 5*time.Second, "first render", fileIs(h.cfg, "db/password", "pw1"))

	// Static secret: picked up at the next refresh tick.
	h.f.Put("secret/app", 2, map[string]any{"data": map[string]any{"k": "v2"}}, 0)
	wait.For(t, 5*time.Second, "refreshed static secret", fileIs(h.cfg, "app.json", "{\n  \"k\": \"v2\"\n}\n"))
	// Leased secret: not re-read by refresh ticks, only when its lease ends.
	h.f.Put("database/creds/app", 0, map[string]any{"password": "pw2"}, 60)
	time.Sleep(100 * time.Millisecond)
	if !fileIs(h.cfg, "db/password", "pw1")() || h.f.Reads("database/creds/app") != 1 {
		t.Fatalf("leased secret re-read before its lease ended (%d reads)", h.f.Reads("database/creds/app"))
	}
	h.f.ExpireLease("database/creds/app")
	wait.For(t, 5*time.Second, "re-fetched leased secret", fileIs(h.cfg, "db/password", "pw2"))

	// Token end: log in again, and fetch leased secrets again (their leases died with the token).
	h.f.Put("database/creds/app", 0, map[string]any{"password": "pw3"}, 60)
	h.f.ExpireToken()
	wait.For(t, 5*time.Second, "re-login", func() bool { return value(t, h.m.Logins) == 2 })
	wait.For(t, 5*time.Second, "leased secret after re-login", fileIs(h.cfg, "db/password", "pw3"))
}

func TestFailedRefreshKeepsLastGoodFiles(t *testing.T) {
	h := &harness{cfg: testConfig(t), f: testVault()}
	h.cfg.Refresh = dur(20 * time.Millisecond)
	startSidecar(t, h)
	wait.For(t, 5*time.Second, "first render", fileIs(h.cfg, "app.json", "{\n  \"k\": \"v1\"\n}\n"))
	gen, _ := os.Readlink(filepath.Join(h.cfg.SecretsDir, atomicdir.DataDir))

	h.f.Fail("secret/app", &vault.Error{Op: "read", Path: "secret/data/app", Err: errors.New("connection refused")})
	wait.For(t, 5*time.Second, "failures counted", func() bool { return value(t, h.m.Failures.WithLabelValues("app")) >= 3 })
	if !fileIs(h.cfg, "app.json", "{\n  \"k\": \"v1\"\n}\n")() || !fileIs(h.cfg, "db/password", "pw1")() {
		t.Fatal("last good files lost")
	}
	if now, _ := os.Readlink(filepath.Join(h.cfg.SecretsDir, atomicdir.DataDir)); now != gen {
		t.Error("unchanged content was rewritten")
	}
	// The failing secret does not hold back the others.
	h.f.Put("database/creds/app", 0, map[string]any{"password": "pw2"}, 60)
	h.f.ExpireLease("database/creds/app")
	wait.For(t, 5*time.Second, "other secret updated", fileIs(h.cfg, "db/password", "pw2"))
	if !fileIs(h.cfg, "app.json", "{\n  \"k\": \"v1\"\n}\n")() {
		t.Fatal("failing secret's last good file lost")
	}
	h.f.Fail("secret/app", nil)
	h.f.Put("secret/app", 2, map[string]any{"data": map[string]any{"k": "v3"}}, 0)
	wait.For(t, 5*time.Second, "recovery", fileIs(h.cfg, "app.json", "{\n  \"k\": \"v3\"\n}\n"))
}

func TestSidecarStopsBeforeFirstRender(t *testing.T) {
	h := &harness{cfg: testConfig(t), f: testVault()}
	h.f.Fail("secret/app", &vault.Error{Op: "read", Path: "secret/data/app", Status: 500})
	stop := startSidecar(t, h)
	wait.For(t, 5*time.Second, "a failure", func() bool { return value(t, h.m.Failures.WithLabelValues("app")) >= 1 })
	if err := stop(); err != nil {
		t.Fatalf("sidecar stopped with %v, want nil (SIGTERM is normal)", err)
	}
	if len(h.f.Revoked()) != 1 {
		t.Error("token not revoked")
	}
}

func TestBrokenTemplateFailsAtStart(t *testing.T) {
	cfg := testConfig(t)
	cfg.Secrets[1].Template = "{{ with secret \"x\" }}"
	_, err := New(Options{Config: cfg, Vault: fake.New(), Login: fake.New(), Metrics: metrics.New(), Log: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), `secret "app"`) {
		t.Fatalf("err = %v", err)
	}
}

// The render budget counts the template's own time, not Vault's: a slow Vault is retried with
// backoff, it does not make the agent exit.
func TestRenderBudgetExcludesVaultTime(t *testing.T) {
	h := &harness{cfg: testConfig(t), f: testVault()}
	h.cfg.RenderTimeout = dur(50 * time.Millisecond)
	h.cfg.Secrets[1].Template = `{{ .Data.data.k }}{{ with secret "secret/app" }}{{ .Data.data.k }}{{ end }}`
	h.f.Delay(80 * time.Millisecond)
	if err := newRunner(t, h, true).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !fileIs(h.cfg, "app.json", "v1v1")() {
		t.Error("not rendered")
	}
}

// The secrets dir is made at start, so a bad one fails before any Vault request, and it is not
// ready before the first complete set.
func TestNewCreatesSecretsDir(t *testing.T) {
	h := &harness{cfg: testConfig(t), f: testVault()}
	newRunner(t, h, true)
	if st, err := os.Stat(h.cfg.SecretsDir); err != nil || !st.IsDir() {
		t.Fatalf("secrets dir not created: %v", err)
	}
	if atomicdir.Ready(h.cfg.SecretsDir) == nil {
		t.Error("ready before the first render")
	}
	h.cfg.SecretsDir = filepath.Join(h.cfg.HandoverFile, "under-a-file")
	_ = os.MkdirAll(filepath.Dir(h.cfg.HandoverFile), 0o700)
	_ = os.WriteFile(h.cfg.HandoverFile, nil, 0o600)
	if _, err := New(Options{Config: h.cfg, Vault: h.f, Login: h.f, Metrics: metrics.New(), Log: slog.New(slog.DiscardHandler)}); err == nil ||
		!strings.Contains(err.Error(), "creating secrets dir") {
		t.Errorf("a secrets dir that cannot be made: %v", err)
	}
}

// A new token replacing a lost one makes every secret be fetched again, static ones included:
// leases die with the token that created them, and nothing else would re-read a static secret
// before the next refresh (an hour here).
func TestNewTokenFetchesEverythingAgain(t *testing.T) {
	h := &harness{cfg: testConfig(t), f: testVault()}
	startSidecar(t, h)
	wait.For(t, 5*time.Second, "first render", fileIs(h.cfg, "db/password", "pw1"))
	h.f.Put("secret/app", 2, map[string]any{"data": map[string]any{"k": "v2"}}, 0)
	h.f.Put("database/creds/app", 0, map[string]any{"password": "pw2"}, 60)
	time.Sleep(2 * fake.TokenTTL) // renewals go on, and change nothing
	if h.f.Reads("secret/app") != 1 || value(t, h.m.Logins) != 1 {
		t.Fatalf("%d reads, %v logins before the token was lost", h.f.Reads("secret/app"), value(t, h.m.Logins))
	}
	h.f.ExpireToken()
	wait.For(t, 5*time.Second, "re-login", func() bool { return value(t, h.m.Logins) == 2 })
	wait.For(t, 5*time.Second, "static secret fetched again", fileIs(h.cfg, "app.json", "{\n  \"k\": \"v2\"\n}\n"))
	wait.For(t, 5*time.Second, "leased secret fetched again", fileIs(h.cfg, "db/password", "pw2"))
	if got := value(t, h.m.Renewals.WithLabelValues("token")); got < 1 {
		t.Errorf("renewals_total{kind=token} = %v, want the renewals counted", got)
	}
}
