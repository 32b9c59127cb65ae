package integration

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBinaryIsLightAndStatic guards the agent's promises: no Kubernetes client libraries in
// its dependency graph, a static binary (no ELF interpreter) and a stripped size under 15 MB.
func TestBinaryIsLightAndStatic(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../../agent").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "k8s.io/") || strings.HasPrefix(p, "sigs.k8s.io/") {
			t.Errorf("the agent depends on %s", p)
		}
	}
	bin := filepath.Join(t.TempDir(), "agent")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "../../agent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the agent binary is dynamically linked")
		}
	}
	st, _ := os.Stat(bin)
	if st.Size() >= 15e6 {
		t.Errorf("stripped binary is %d bytes, goal < 15 MB", st.Size())
	}
	t.Logf("stripped static binary: %d bytes", st.Size())
}
