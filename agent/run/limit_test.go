package run

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/internal/atomicdir"
	"github.com/vault-injector/vault-injector/test/background"
	"github.com/vault-injector/vault-injector/test/wait"
)

// TestOversizedAnswerKeepsLastGoodFiles: a secret that grows past maxSecretBytes fails with an
// error naming it and the limit, and its last good file stays (before: the agent read the
// whole answer and published it).
func TestOversizedAnswerKeepsLastGoodFiles(t *testing.T) {
	h := newHTTPHarness(t, 0)
	h.cfg.Refresh = dur(30 * time.Millisecond)
	h.cfg.MaxSecretBytes = 64 << 10
	background.Start(t, h.runner(t, false).Run)
	want := "{\n  \"k\": \"v1\"\n}\n"
	wait.For(t, 5*time.Second, "first render", fileIs(h.cfg, "app.json", want))
	gen, _ := os.Readlink(filepath.Join(h.cfg.SecretsDir, atomicdir.DataDir))

	h.srv.Stream("secret/app", func(w io.Writer) {
		_, _ = io.WriteString(w, `{"data":{"data":{"k":"`+strings.Repeat("x", 1<<20)+`"}}}`)
	})
	wait.For(t, 5*time.Second, "refusals", func() bool { return value(t, h.m.Failures.WithLabelValues("app")) >= 2 })
	if !fileIs(h.cfg, "app.json", want)() {
		t.Error("the last good file was replaced")
	}
	if now, _ := os.Readlink(filepath.Join(h.cfg.SecretsDir, atomicdir.DataDir)); now != gen {
		t.Error("a new generation was published")
	}
	logs := h.log.String()
	if !strings.Contains(logs, `secret \"app\": read secret/data/app: Vault's answer is larger than 65536 bytes (maxSecretBytes)`) {
		t.Errorf("no refusal naming the secret in the log:\n%s", logs)
	}
}
