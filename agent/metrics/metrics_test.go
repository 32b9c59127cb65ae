package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoint(t *testing.T) {
	m := New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := m.Serve(ctx, 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("listening on %s, want loopback only", addr)
	}
	if code, _ := get(t, "http://"+addr+"/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("healthz before ready: %d", code)
	}
	m.SetReady()
	if code, _ := get(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Errorf("healthz after ready: %d", code)
	}
	m.Renders.WithLabelValues("db").Inc()
	m.Logins.Inc()
	m.LastSuccess.WithLabelValues("db").SetToCurrentTime()
	_, body := get(t, "http://"+addr+"/metrics")
	for _, want := range []string{`vault_injector_agent_renders_total{secret="db"} 1`, "vault_injector_agent_logins_total 1",
		`vault_injector_agent_last_success_timestamp_seconds{secret="db"}`, "process_resident_memory_bytes"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
