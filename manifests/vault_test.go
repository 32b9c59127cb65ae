package manifests

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/vault-injector/vault-injector/test/kubetest"
	"github.com/vault-injector/vault-injector/test/testpki"
	"github.com/vault-injector/vault-injector/webhook/config"
	"github.com/vault-injector/vault-injector/webhook/mutate"
)

// caMountPath is where both install paths mount Vault's CA bundle into the webhook.
const caMountPath = "/etc/vault-injector/vault-ca"

// TestVaultConnectionInstall renders the Vault connection settings through the Helm values and
// through the kustomize vault-tls overlay, and feeds the result to the webhook's own flags: the
// CA bundle it reads is the file the mounted ConfigMap or Secret provides.
func TestVaultConnectionInstall(t *testing.T) {
	ca, err := testpki.NewCA("vault-ca")
	if err != nil {
		t.Fatal(err)
	}
	overlayCA, err := os.ReadFile("overlays/vault-tls/vault-ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	helmValues := map[string]any{
		"vault": map[string]any{
			"addr": "https://vault.example.com:8200", "defaultAuthPath": "auth/jwt", "authType": "jwt",
			"namespace": "admin/platform", "tlsServerName": "vault.example.com", "caBundle": string(ca.CertPEM),
			"tlsSecret": "vault-client-tls", "proxyAddress": "http://proxy.example.com:3128", "allowHTTP": true, "allowTLSSkipVerify": true,
		},
		"agent": map[string]any{"tokenAudience": "vault-prod",
			"resources": map[string]any{"requests": map[string]any{"cpu": "20m", "memory": "24Mi"}, "limits": map[string]any{"cpu": "200m", "memory": "96Mi"}}},
	}
	for _, tc := range []struct {
		name   string
		render []byte
		caPEM  []byte
		want   func(*mutate.Defaults)
	}{
		{"helm", renderChart(t, name, ns, helmValues), ca.CertPEM, func(d *mutate.Defaults) {
			d.VaultAddr, d.AuthPath, d.AuthType, d.VaultNamespace = "https://vault.example.com:8200", "auth/jwt", "jwt", "admin/platform"
			d.VaultTLSServerName, d.VaultTLSSecret, d.VaultProxyAddr, d.AllowHTTPVault = "vault.example.com", "vault-client-tls", "http://proxy.example.com:3128", true
			d.AllowTLSSkipVerify = true
			d.TokenAudience = "vault-prod"
			d.CPURequest, d.MemoryRequest = resource.MustParse("20m"), resource.MustParse("24Mi")
			d.CPULimit, d.MemoryLimit = resource.MustParse("200m"), resource.MustParse("96Mi")
		}},
		{"kustomize overlay", kustomize(t, "overlays/vault-tls"), overlayCA, func(d *mutate.Defaults) {
			d.VaultAddr, d.AuthPath, d.AuthType, d.VaultNamespace = "https://vault.example.com:8200", "auth/jwt", "jwt", "admin/platform"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := decode(t, tc.render)
			d := find[*appsv1.Deployment](t, objs, "Deployment", name)
			c := webhookContainer(t, d)
			mounted := false
			for _, m := range c.VolumeMounts {
				mounted = mounted || (m.Name == "vault-ca" && m.MountPath == caMountPath && m.ReadOnly)
			}
			if !mounted {
				t.Errorf("the webhook does not mount vault-ca read-only at %s: %+v", caMountPath, c.VolumeMounts)
			}
			got := parseWebhookArgs(t, c.Args, caBundleFile(t, objs, d))
			if got.VaultCACert != string(tc.caPEM) {
				t.Errorf("CA bundle read through the mount:\n%s\nwant\n%s", got.VaultCACert, tc.caPEM)
			}
			want := config.New().Inject
			want.AgentImage, want.VaultCACert = got.AgentImage, got.VaultCACert
			tc.want(&want)
			if !got.CPURequest.Equal(want.CPURequest) || !got.MemoryLimit.Equal(want.MemoryLimit) || !got.CPULimit.Equal(want.CPULimit) ||
				!got.MemoryRequest.Equal(want.MemoryRequest) {
				t.Errorf("agent resources %v %v %v %v", &got.CPURequest, &got.CPULimit, &got.MemoryRequest, &got.MemoryLimit)
			}
			got.CPURequest, got.CPULimit, got.MemoryRequest, got.MemoryLimit = want.CPURequest, want.CPULimit, want.MemoryRequest, want.MemoryLimit
			got.VolumeSize = want.VolumeSize
			if got != want {
				t.Errorf("webhook defaults\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestHelmVaultCASecret: an existing Secret's key is mounted as ca.crt; setting both CA
// sources is refused at render time.
func TestHelmVaultCASecret(t *testing.T) {
	objs := decode(t, renderChart(t, name, ns, map[string]any{"vault": map[string]any{"caSecret": map[string]any{"name": "vault-ca", "key": "bundle.pem"}}}))
	d := find[*appsv1.Deployment](t, objs, "Deployment", name)
	var vol *corev1.Volume
	for i, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "vault-ca" {
			vol = &d.Spec.Template.Spec.Volumes[i]
		}
	}
	if vol == nil || vol.Secret == nil || vol.Secret.SecretName != "vault-ca" || len(vol.Secret.Items) != 1 ||
		vol.Secret.Items[0] != (corev1.KeyToPath{Key: "bundle.pem", Path: "ca.crt"}) {
		t.Fatalf("vault-ca volume %+v", vol)
	}
	if !strings.Contains(strings.Join(webhookContainer(t, d).Args, " "), "--vault-ca-bundle="+caMountPath+"/ca.crt") {
		t.Errorf("no --vault-ca-bundle in %v", webhookContainer(t, d).Args)
	}
	_, err := renderChartErr(name, ns, map[string]any{"vault": map[string]any{"caBundle": "x", "caSecret": map[string]any{"name": "y"}}})
	if err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("both CA sources: %v", err)
	}
}

// caBundleFile writes the ca.crt of the ConfigMap behind the Deployment's vault-ca volume to a
// temporary file, standing in for the kubelet's mount.
func caBundleFile(t *testing.T, objs []object, d *appsv1.Deployment) string {
	t.Helper()
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name != "vault-ca" || v.ConfigMap == nil {
			continue
		}
		cm := find[*corev1.ConfigMap](t, objs, "ConfigMap", v.ConfigMap.Name)
		file := filepath.Join(t.TempDir(), "ca.crt")
		if err := os.WriteFile(file, []byte(cm.Data["ca.crt"]), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	t.Fatal("no vault-ca volume from a ConfigMap")
	return ""
}

// parseWebhookArgs parses args with the webhook's flags, reading the CA bundle from caFile in
// place of the mount path, and validates the result as the webhook does at start.
func parseWebhookArgs(t *testing.T, args []string, caFile string) mutate.Defaults {
	t.Helper()
	var fixed []string
	for _, a := range args {
		fixed = append(fixed, strings.ReplaceAll(a, caMountPath+"/ca.crt", caFile))
	}
	return parseServeArgs(t, fixed).Inject
}

// parseServeArgs parses args with the webhook's flags, $(POD_NAMESPACE) expanded as the kubelet
// does, and validates the result as the webhook does at start.
func parseServeArgs(t *testing.T, args []string) config.Config {
	t.Helper()
	cfg := config.New()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.BindInjection(fs)
	cfg.BindServer(fs)
	var fixed []string
	for _, a := range args {
		fixed = append(fixed, strings.ReplaceAll(a, "$(POD_NAMESPACE)", ns))
	}
	if err := fs.Parse(fixed); err != nil || fs.NArg() != 0 {
		t.Fatalf("webhook rejects the arguments %q: %v", args, err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("webhook configuration is invalid: %v", err)
	}
	return cfg
}

// TestVaultConnectionApplyOnRealAPIServer applies the vault-tls overlay and a Helm render with a
// CA bundle to a real API server, as the other install flavours are (apply_test.go).
func TestVaultConnectionApplyOnRealAPIServer(t *testing.T) {
	c := kubetest.Start(t)
	t.Run("kustomize vault-tls overlay", func(t *testing.T) { applyTwoPhase(t, c, kustomize(t, "overlays/vault-tls")) })
	t.Run("helm with vault.caBundle", func(t *testing.T) {
		ca, err := os.ReadFile("overlays/vault-tls/vault-ca.crt")
		if err != nil {
			t.Fatal(err)
		}
		const release = "helm-vault-ca"
		kubectl(t, c, nil, "create", "namespace", release)
		applyTwoPhase(t, c, renderChart(t, release, release, map[string]any{"vault": map[string]any{
			"caBundle": string(ca), "namespace": "admin", "authType": "jwt", "defaultAuthPath": "auth/jwt"}}))
	})
}
