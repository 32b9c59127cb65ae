package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func invoke(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageAndVersion(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"run", "--bogus"}} {
		if code, _, stderr := invoke(args...); code != ExitUsage || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want usage error", args, code, stderr)
		}
	}
	if code, out, _ := invoke("version"); code != 0 || !strings.HasPrefix(out, prog+" ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestBadConfigIsOneLine(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.json")
	_ = os.WriteFile(f, []byte(`{"version":"v0","auth":{"method":"bogus"},"secrets":[{"name":"-x"}]}`), 0o600)
	tl := filepath.Join(t.TempDir(), "termination-log")
	_ = os.WriteFile(tl, nil, 0o600)
	TerminationLog = tl
	defer func() { TerminationLog = "/dev/termination-log" }()
	code, _, stderr := invoke("run", "--config", f)
	if code != ExitFail || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("exit %d, stderr %q; want 1 and one line", code, stderr)
	}
	for _, w := range []string{"version", "auth.method", "secret name", "secretsDir"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr %q lacks %q", stderr, w)
		}
	}
	if b, _ := os.ReadFile(tl); string(b) != stderr {
		t.Errorf("termination log %q, want the stderr line", b)
	}
	// The startup probe must not overwrite the termination message.
	_ = os.WriteFile(tl, []byte("kept\n"), 0o600)
	if code, _, _ := invoke("ready", "--config", f); code != ExitFail {
		t.Errorf("ready with a bad config: exit %d", code)
	}
	if b, _ := os.ReadFile(tl); string(b) != "kept\n" {
		t.Errorf("ready wrote the termination log: %q", b)
	}
}
