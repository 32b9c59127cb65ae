package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vault-injector/vault-injector/certs"
	"github.com/vault-injector/vault-injector/test/freeport"
	"github.com/vault-injector/vault-injector/test/images"
	"github.com/vault-injector/vault-injector/test/testbin"
)

// WebhookConfigName is the dev overlay's MutatingWebhookConfiguration.
const WebhookConfigName = "vault-injector"

// Webhook is the webhook running as a process on 127.0.0.1, as the dev overlay expects.
type Webhook struct {
	Port, HealthPort int
	LogFile          string
	CA               []byte
	bin, dir         string
	baseFlags        []string
	cmd              *exec.Cmd
	exited           chan struct{}
}

func startWebhook(ctx context.Context, s *Stack, extra []string) (*Webhook, error) {
	dir := filepath.Join(s.Dir, "webhook")
	bin := filepath.Join(dir, "webhook")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./webhook")
	build.Dir = images.RepoRoot()
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the webhook: %w: %s", err, out)
	}
	dev, err := certs.WriteDevCerts(filepath.Join(dir, "tls"), "127.0.0.1")
	if err != nil {
		return nil, err
	}
	w := &Webhook{bin: bin, dir: dir, CA: dev.CAPEM, LogFile: filepath.Join(dir, "webhook.log")}
	if w.Port, err = freeport.On("127.0.0.1"); err != nil {
		return nil, err
	}
	if w.HealthPort, err = freeport.On("127.0.0.1"); err != nil {
		return nil, err
	}
	w.baseFlags = []string{
		"--tls-self-managed=false", "--tls-dir", dev.Dir, "--host", "127.0.0.1", "--port", strconv.Itoa(w.Port),
		"--health-addr", "127.0.0.1:" + strconv.Itoa(w.HealthPort), "--metrics-addr", "",
		"--vault-addr", s.VaultAddr, "--agent-image", s.AgentImage.Ref(), "--agent-image-pull-policy", "Never",
	}
	return w, w.Start(ctx, extra...)
}

// Start runs the webhook with the base flags plus extra (e.g. --sidecar=classic) and waits
// until /readyz answers.
func (w *Webhook) Start(ctx context.Context, extra ...string) error {
	log, err := os.OpenFile(w.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	w.cmd = exec.Command(w.bin, append(append([]string{"serve"}, w.baseFlags...), extra...)...)
	w.cmd.Stdout, w.cmd.Stderr = log, log
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := w.cmd.Start(); err != nil {
		return err
	}
	w.exited = make(chan struct{})
	go func() { _ = w.cmd.Wait(); close(w.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-w.exited:
			b, _ := os.ReadFile(w.LogFile)
			return fmt.Errorf("webhook exited at start: %s", b)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", w.HealthPort)); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("webhook not ready after 30s (log: %s)", w.LogFile)
}

// Stop ends the webhook process (SIGTERM, then SIGKILL after 10 s).
func (w *Webhook) Stop() error {
	if w.cmd == nil || w.cmd.Process == nil {
		return nil
	}
	select {
	case <-w.exited:
		return nil
	default:
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.exited:
	case <-time.After(10 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.exited
	}
	return nil
}

// registerWebhook applies the dev overlay and points its configuration at the process.
func (s *Stack) registerWebhook(ctx context.Context) error {
	kubectl, err := testbin.Path("kubectl")
	if err != nil {
		return err
	}
	rendered, err := exec.CommandContext(ctx, kubectl, "kustomize", filepath.Join(images.RepoRoot(), "manifests", "overlays", "dev")).Output()
	if err != nil {
		return fmt.Errorf("kubectl kustomize manifests/overlays/dev: %w", err)
	}
	file := filepath.Join(s.Dir, "dev-overlay.yaml")
	if err := os.WriteFile(file, rendered, 0o644); err != nil {
		return err
	}
	if _, err := s.Cluster.Kubectl(ctx, "apply", "-f", file); err != nil {
		return err
	}
	url := fmt.Sprintf("https://127.0.0.1:%d/mutate", s.Webhook.Port)
	patch, err := json.Marshal([]map[string]any{
		{"op": "replace", "path": "/webhooks/0/clientConfig", "value": map[string]any{"url": url, "caBundle": s.Webhook.CA}},
	})
	if err != nil {
		return err
	}
	_, err = s.Cluster.Clientset().AdmissionregistrationV1().MutatingWebhookConfigurations().Patch(
		ctx, WebhookConfigName, types.JSONPatchType, patch, metav1.PatchOptions{})
	return err
}
