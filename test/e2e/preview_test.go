package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/test/images"
)

// The `webhook inject` preview of the README's example Deployment is a Deployment the real API
// server accepts (server-side dry run, full validation of the injected pod template).
func TestPreviewIsAccepted(t *testing.T) {
	ctx, _ := scenario(t, "preview", 2*time.Minute)
	if err := st.Cluster.CreateNamespace(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "go", "run", "./webhook", "inject", "-f", "manifests/examples/app-deployment.yaml")
	cmd.Dir = images.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("webhook inject: %v", err)
	}
	if !strings.Contains(string(out), "name: vault-agent") {
		t.Fatalf("preview did not inject:\n%s", out)
	}
	file := filepath.Join(t.TempDir(), "injected.yaml")
	if err := os.WriteFile(file, out, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := st.Cluster.Kubectl(ctx, "apply", "--dry-run=server", "-f", file)
	if err != nil {
		t.Fatalf("the API server refused the preview: %v", err)
	}
	if !strings.Contains(string(res), "deployment.apps/billing created (server dry run)") {
		t.Errorf("kubectl said: %s", res)
	}
}
