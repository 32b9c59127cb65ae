package manifests

import (
	"flag"
	"io"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/vault-injector/vault-injector/webhook/config"
)

// TestManifestArgsParseWithWebhookFlags feeds the Deployment's arguments of every install
// flavour to the webhook's own flag set and validation, so a renamed flag or a bad value fails
// here instead of in a crash-looping pod.
func TestManifestArgsParseWithWebhookFlags(t *testing.T) {
	renders := map[string][]byte{
		"kustomize base":         kustomize(t, "base"),
		"kustomize cert-manager": kustomize(t, "overlays/cert-manager"),
		"helm self-managed":      renderChart(t, name, ns, nil),
		"helm cert-manager":      renderChart(t, name, ns, map[string]any{"tls": map[string]any{"mode": "cert-manager"}}),
		"helm with values": renderChart(t, name, ns, map[string]any{
			"vault": map[string]any{"defaultRole": "apps"}, "agent": map[string]any{"sidecar": "classic"}, "logLevel": "debug",
		}),
	}
	for what, b := range renders {
		t.Run(what, func(t *testing.T) {
			d := find[*appsv1.Deployment](t, decode(t, b), "Deployment", name)
			args := webhookContainer(t, d).Args
			for i, a := range args {
				// The kubelet expands $(POD_NAMESPACE) from the env var the Deployment sets.
				args[i] = strings.ReplaceAll(a, "$(POD_NAMESPACE)", ns)
			}
			cfg := config.New()
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			cfg.BindInjection(fs)
			cfg.BindServer(fs)
			if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
				t.Fatalf("webhook rejects the manifest's arguments %q: %v", args, err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("webhook configuration from the manifest is invalid: %v", err)
			}
			if cfg.Namespace != ns || cfg.Port != 9443 || cfg.HealthAddr != ":8081" || cfg.MetricsAddr != ":8080" {
				t.Errorf("namespace %q port %d health %q metrics %q", cfg.Namespace, cfg.Port, cfg.HealthAddr, cfg.MetricsAddr)
			}
		})
	}
}
