package mutate

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-injector/vault-injector/contract"
)

// TestVaultConnection: the connection annotations override the flags in the agent config; a
// tls-secret becomes an agent-only Secret volume whose files replace the cluster CA bundle; the
// token audience reaches the projected token.
func TestVaultConnection(t *testing.T) {
	d := testDefaults()
	d.VaultCACert, d.VaultNamespace, d.VaultProxyAddr = "CLUSTER-CA", "root-ns", "http://cluster-proxy:3128"
	pod := testPod(map[string]string{
		contract.AnnotationTLSSecret: "vault-tls", contract.AnnotationTLSServerName: "vault.internal",
		contract.AnnotationVaultAddress: "https://vault-b:8200", contract.AnnotationNamespace: "team-a",
		contract.AnnotationAuthType: "jwt", contract.AnnotationTokenAudience: "vault-b",
	}, "app")
	out, cfg := injectWith(t, pod, d)
	want := contract.Vault{Address: "https://vault-b:8200", Namespace: "team-a", CACertFile: contract.TLSCAFile,
		ClientCert: contract.TLSClientCert, ClientKey: contract.TLSClientKey, ClientCertOptional: true,
		ServerName: "vault.internal", ProxyAddress: "http://cluster-proxy:3128"}
	if cfg.Vault != want || cfg.Auth.Method != contract.AuthJWT {
		t.Errorf("vault %+v\nwant  %+v\nauth %+v", cfg.Vault, want, cfg.Auth)
	}
	var tlsVol *corev1.Volume
	for i, v := range out.Spec.Volumes {
		if v.Name == contract.TLSVolume {
			tlsVol = &out.Spec.Volumes[i]
		}
		if v.Projected != nil && v.Projected.Sources[0].ServiceAccountToken.Audience != "vault-b" {
			t.Errorf("token audience %q", v.Projected.Sources[0].ServiceAccountToken.Audience)
		}
	}
	if tlsVol == nil || tlsVol.Secret == nil || tlsVol.Secret.SecretName != "vault-tls" {
		t.Fatalf("no Secret volume for the tls-secret: %+v", out.Spec.Volumes)
	}
	for _, c := range append(out.Spec.InitContainers, out.Spec.Containers...) {
		mounted := false
		for _, m := range c.VolumeMounts {
			if m.Name == contract.TLSVolume {
				mounted = m.ReadOnly && m.MountPath == contract.TLSDir
			}
		}
		if agent := c.Name == contract.AgentContainer; mounted != agent {
			t.Errorf("container %s: TLS mount %v (only the agent mounts it, read-only)", c.Name, mounted)
		}
	}
}

// TestVaultDefaultsOnly: without annotations the flags apply, and kubernetes auth stays the
// implicit method (configs of pods that do not use these features are unchanged).
func TestVaultDefaultsOnly(t *testing.T) {
	d := testDefaults()
	d.VaultCACert, d.VaultTLSSecret, d.AuthType = "CLUSTER-CA", "", contract.AuthKubernetes
	pod := testPod(nil, "app")
	res, err := Pod(pod, d)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := contract.Parse([]byte(applied(t, pod, res).Annotations[contract.AnnotationAgentConfig]))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Vault.CACert != "CLUSTER-CA" || cfg.Vault.CACertFile != "" || cfg.Auth.Method != "" || cfg.Vault.Address != d.VaultAddr {
		t.Errorf("config %+v", cfg)
	}
	d.VaultTLSSecret = "cluster-tls"
	res, err = Pod(pod, d)
	if err != nil {
		t.Fatal(err)
	}
	if s := applied(t, pod, res).Annotations[contract.AnnotationAgentConfig]; !strings.Contains(s, contract.TLSCAFile) || strings.Contains(s, "CLUSTER-CA") {
		t.Errorf("--vault-tls-secret not applied: %s", s)
	}
}

func TestVaultDenials(t *testing.T) {
	httpPod := testPod(map[string]string{contract.AnnotationVaultAddress: "http://vault-b:8200"}, "app")
	checkDenial(t, httpPod, nil, DenyInvalidAnnotations, []string{contract.AnnotationVaultAddress, "use https://", "--allow-http-vault"})
	if _, err := Pod(httpPod, func() Defaults { d := testDefaults(); d.AllowHTTPVault = true; return d }()); err != nil {
		t.Errorf("--allow-http-vault: %v", err)
	}
	clash := testPod(nil, "app")
	clash.Spec.Volumes = []corev1.Volume{{Name: contract.TLSVolume}}
	checkDenial(t, clash, nil, DenyConflict, []string{`volume named "vault-agent-tls"`})
}

func TestVaultDefaultsValidate(t *testing.T) {
	d := testDefaults()
	d.VaultNamespace, d.VaultTLSServerName, d.VaultProxyAddr, d.VaultTLSSecret, d.AuthType, d.TokenAudience =
		"a b", "x y", "proxy", "Bad_Name", "ldap", "a,b"
	err := d.Validate()
	for _, w := range []string{"--vault-namespace", "--vault-tls-server-name", "--vault-proxy-address",
		"--vault-tls-secret", "--default-auth-type", "--token-audience"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() = %v; want it to mention %q", err, w)
		}
	}
}
