package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-injector/vault-injector/test/images"
)

// ProductNamespace is where every install flavour puts the webhook.
const ProductNamespace = "vault-injector"

// Product is the shipped install (kustomize base or Helm chart) running as pods behind its
// Service, with self-managed TLS, exactly as a platform team installs it: only the image names
// and the Vault address differ. While it lives, the dev registration of the webhook process is
// removed (both use the same object names); Uninstall puts it back.
type Product struct {
	// Manifests is the rendered install, as applied.
	Manifests string
	s         *Stack
}

// productOverlay is the platform team's own kustomization from docs/install.md,
// pointing at this repository's base.
const productOverlay = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - %s
images:
  - name: vault-injector/webhook
    newName: %s
    newTag: %s
patches:
  - target: {kind: Deployment, name: vault-injector}
    patch: |-
      - op: replace
        path: /spec/template/spec/containers/0/args/0
        value: --vault-addr=%s
      - op: replace
        path: /spec/template/spec/containers/0/args/1
        value: --agent-image=%s
`

// InstallKustomize runs `kubectl apply --server-side -k` on an overlay of manifests/base that
// sets only the images and the Vault address, then waits for the rollout.
func (s *Stack) InstallKustomize(ctx context.Context) (*Product, error) {
	dir := filepath.Join(s.Dir, "my-install")
	webhook := images.Webhook("./webhook")
	name, _, _ := strings.Cut(webhook.Ref(), ":")
	// kustomize accepts only relative paths to other kustomizations.
	base, err := filepath.Rel(dir, filepath.Join(images.RepoRoot(), "manifests", "base"))
	if err != nil {
		return nil, err
	}
	overlay := fmt.Sprintf(productOverlay, base, name, images.Tag, s.VaultAddr, s.AgentImage.Ref())
	if err := writeFile(filepath.Join(dir, "kustomization.yaml"), overlay); err != nil {
		return nil, err
	}
	rendered, err := s.Cluster.Kubectl(ctx, "kustomize", dir)
	if err != nil {
		return nil, err
	}
	return s.install(ctx, string(rendered), "-k", dir)
}

// InstallHelm renders the chart as `helm install vault-injector manifests/helm/vault-injector
// --namespace vault-injector --create-namespace --set ...` would (the helm library; there is no
// helm binary here), labels the namespace for Pod Security as docs/install.md says, and applies it.
func (s *Stack) InstallHelm(ctx context.Context) (*Product, error) {
	webhook := images.Webhook("./webhook")
	repo, _, _ := strings.Cut(webhook.Ref(), ":")
	agentRepo, _, _ := strings.Cut(s.AgentImage.Ref(), ":")
	rendered, err := renderChart(map[string]any{
		"vault":      map[string]any{"addr": s.VaultAddr},
		"image":      map[string]any{"repository": repo, "tag": images.Tag},
		"agentImage": map[string]any{"repository": agentRepo, "tag": images.Tag},
	})
	if err != nil {
		return nil, err
	}
	file := filepath.Join(s.Dir, "helm-install.yaml")
	if err := writeFile(file, rendered); err != nil {
		return nil, err
	}
	return s.install(ctx, rendered, "-f", file)
}

func (s *Stack) install(ctx context.Context, rendered string, applyArgs ...string) (*Product, error) {
	began := time.Now()
	if !s.webhookImported {
		if err := s.Cluster.BuildAndImport(ctx, images.Webhook("./webhook")); err != nil {
			return nil, err
		}
		s.webhookImported = true
	}
	if err := s.unregisterDev(ctx); err != nil {
		return nil, err
	}
	p := &Product{Manifests: rendered, s: s}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ProductNamespace, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
	}}}
	if !strings.Contains(rendered, "kind: Namespace") { // Helm's --create-namespace + docs/install.md's label
		if _, err := s.Cluster.Clientset().CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return p, err
		}
	}
	if _, err := s.Cluster.Kubectl(ctx, append([]string{"apply", "--server-side"}, applyArgs...)...); err != nil {
		return p, err
	}
	if _, err := s.Cluster.Kubectl(ctx, "-n", ProductNamespace, "rollout", "status", "deploy/vault-injector", "--timeout=2m"); err != nil {
		return p, err
	}
	s.logf("installed product Ready in %s", time.Since(began).Round(100*time.Millisecond))
	return p, nil
}

// Pods lists the webhook's pods that are not terminating.
func (p *Product) Pods(ctx context.Context) ([]corev1.Pod, error) {
	list, err := p.s.Cluster.Clientset().CoreV1().Pods(ProductNamespace).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/name=vault-injector,app.kubernetes.io/component=webhook",
	})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, pod := range list.Items {
		if pod.DeletionTimestamp == nil {
			out = append(out, pod)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Uninstall deletes every object the install applied (`kubectl delete -f` of the rendered
// manifests), then the namespace, waiting until it is gone, and registers the webhook process
// again through the dev overlay.
func (p *Product) Uninstall(ctx context.Context) error {
	var errs []error
	file := filepath.Join(p.s.Dir, "product-uninstall.yaml")
	if err := writeFile(file, p.Manifests); err != nil {
		return err
	}
	if _, err := p.s.Cluster.Kubectl(ctx, "delete", "--ignore-not-found", "--wait=false", "-f", file); err != nil {
		errs = append(errs, err)
	}
	cs := p.s.Cluster.Clientset()
	if err := cs.CoreV1().Namespaces().Delete(ctx, ProductNamespace, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, err)
	}
	for {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ProductNamespace, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if ctx.Err() != nil {
			return errors.Join(append(errs, fmt.Errorf("namespace %s not gone: %w", ProductNamespace, ctx.Err()))...)
		}
		time.Sleep(200 * time.Millisecond)
	}
	errs = append(errs, p.s.registerWebhook(ctx))
	return errors.Join(errs...)
}

// unregisterDev removes what the dev overlay applied, so the product's server-side apply
// owns its objects alone.
func (s *Stack) unregisterDev(ctx context.Context) error {
	_, err := s.Cluster.Kubectl(ctx, "delete", "--ignore-not-found", "--wait", "-f", filepath.Join(s.Dir, "dev-overlay.yaml"))
	return err
}

// renderChart renders manifests/helm/vault-injector for release vault-injector in namespace
// vault-injector, as `helm template` does.
func renderChart(values map[string]any) (string, error) {
	ch, err := loader.Load(filepath.Join(images.RepoRoot(), "manifests", "helm", "vault-injector"))
	if err != nil {
		return "", err
	}
	vals, err := chartutil.ToRenderValues(ch, values, chartutil.ReleaseOptions{
		Name: "vault-injector", Namespace: ProductNamespace, Revision: 1, IsInstall: true,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		return "", err
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(files))
	for name, body := range files {
		if !strings.HasSuffix(name, "NOTES.txt") && strings.TrimSpace(body) != "" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, name := range names {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", name, files[name])
	}
	return b.String(), nil
}

func writeFile(file, data string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, []byte(data), 0o644)
}
