package run

import (
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/agent/metrics"
	"github.com/vault-injector/vault-injector/agent/vault"
	"github.com/vault-injector/vault-injector/agent/vault/fakehttp"
	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/background"
	"github.com/vault-injector/vault-injector/test/syncbuf"
	"github.com/vault-injector/vault-injector/test/wait"
)

// httpHarness runs the runner with the real Vault client against a fake Vault HTTP server,
// with token auth, logging JSON into log.
type httpHarness struct {
	cfg *contract.Config
	srv *fakehttp.Server
	m   *metrics.Metrics
	log *syncbuf.Buffer
}

func newHTTPHarness(t *testing.T, tokenTTL int) *httpHarness {
	t.Helper()
	srv := fakehttp.Start(tokenTTL)
	t.Cleanup(srv.Close)
	srv.Put("secret/app", map[string]any{"k": "v1"}, 0)
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("hvs.test"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &contract.Config{
		Version: contract.ConfigVersion, Vault: contract.Vault{Address: srv.URL},
		Auth:       contract.Auth{Method: contract.AuthToken, TokenFile: tok},
		Secrets:    []contract.Secret{{Name: "app", Path: "secret/app", Format: "json", File: "app.json", Perms: 0o400}},
		SecretsDir: filepath.Join(dir, "secrets"), Refresh: dur(time.Hour), InitTimeout: dur(5 * time.Second),
		Backoff: contract.Backoff{Min: dur(5 * time.Millisecond), Max: dur(40 * time.Millisecond)},
	}
	return &httpHarness{cfg: cfg, srv: srv, m: metrics.New(), log: &syncbuf.Buffer{}}
}

func (h *httpHarness) runner(t *testing.T, once bool) *Runner {
	t.Helper()
	if err := h.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	vc, err := vault.New(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Options{Config: h.cfg, Vault: vc, Login: vault.NewMethod(vc, h.cfg.Auth), Metrics: h.m, Log: slog.New(slog.NewJSONHandler(h.log, nil)), Once: once})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRenewalStormBounded runs the whole sidecar against a Vault whose renew-self answers 500:
// over three 2-second token lifetimes the renewals stay within the backoff's bound (the old
// LifetimeWatcher sent thousands), each watch ends with a logged reason, and the agent logs in
// again once per lifetime.
func TestRenewalStormBounded(t *testing.T) {
	h := newHTTPHarness(t, 2)
	h.srv.Fail(fakehttp.RenewSelf, 500)
	start := time.Now()
	stop := background.Start(t, h.runner(t, false).Run).Stop
	wait.For(t, 10*time.Second, "two renewal ends", func() bool {
		return strings.Count(h.log.String(), `"msg":"token renewal ended`) >= 2
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	// Per lifetime: retries from 2/3 of the TTL to the grace period, at most 1/3 of it.
	lifetimes := int(took/(2*time.Second)) + 1
	min, max := h.cfg.Backoff.Min.Duration, h.cfg.Backoff.Max.Duration
	perLifetime := int(math.Ceil(math.Log2(float64(max)/float64(min)))) + int((2*time.Second/3)/(max/2)) + 2
	if n := h.srv.Count(fakehttp.RenewSelf); n > lifetimes*perLifetime {
		t.Errorf("%d renew-self requests in %v; the backoff allows at most %d", n, took, lifetimes*perLifetime)
	}
	if n := h.srv.Count(fakehttp.LookupSelf); n > lifetimes+1 {
		t.Errorf("%d logins in %v (%d token lifetimes)", n, took, lifetimes)
	}
	for _, line := range strings.Split(h.log.String(), "\n") {
		if strings.Contains(line, `"msg":"token renewal ended`) &&
			(!strings.Contains(line, `"reason":"token renewal ended: renewal kept failing`) || !strings.Contains(line, "500")) {
			t.Errorf("renewal end logged without its reason: %s", line)
		}
	}
}
