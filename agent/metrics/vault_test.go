package metrics

import (
	"context"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestVaultReloadAndBuildMetrics(t *testing.T) {
	m := New()
	m.SetBuildInfo("v1.2.3")
	now := time.Now()
	m.Vault.Expiry("token", "token#1", now.Add(30*time.Second))
	m.Vault.Expiry("token", "token#2", now.Add(time.Hour)) // the new login's token, before the old watch ends
	m.Vault.Expiry("lease", "lease#3", now.Add(10*time.Minute))
	m.Vault.Expiry("lease", "lease#4", now.Add(2*time.Minute))
	m.Vault.Expiry("lease", "lease#4", time.Time{}) // no longer watched
	m.Vault.Request("read", "200", 30*time.Millisecond)
	m.Reloads.WithLabelValues("http", ReloadSuccess).Inc()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := m.ServePod(ctx, 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if host, _, _ := net.SplitHostPort(addr); host != "::" && host != "0.0.0.0" {
		t.Fatalf("pod mode listens on %s, want every address", addr)
	}
	_, port, _ := net.SplitHostPort(addr)
	_, body := get(t, "http://127.0.0.1:"+port+"/metrics")
	for _, want := range []string{
		`vault_injector_agent_build_info{goversion="go`, `version="v1.2.3"} 1`,
		`vault_injector_agent_vault_request_duration_seconds_count{operation="read",status="200"} 1`,
		`vault_injector_agent_reloads_total{method="http",result="success"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for name, want := range map[string]float64{"token_ttl_seconds": 3600, "lease_ttl_seconds": 600} {
		got := gaugeValue(t, body, "vault_injector_agent_"+name)
		if got > want || got < want-60 {
			t.Errorf("%s = %v, want about %v", name, got, want)
		}
	}
	m.Vault.Expiry("token", "token#2", time.Time{})
	m.Vault.Expiry("token", "token#1", time.Time{})
	_, body = get(t, "http://127.0.0.1:"+port+"/metrics")
	if strings.Contains(body, "vault_injector_agent_token_ttl_seconds ") {
		t.Error("token_ttl_seconds reported without a token")
	}
}

func gaugeValue(t *testing.T, body, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics lacks %s", name)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
