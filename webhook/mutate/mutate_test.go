package mutate

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-injector/vault-injector/contract"
)

func testDefaults() Defaults {
	d := NewDefaults()
	d.VaultAddr = "https://vault:8200"
	d.AgentImage = "agent:v1"
	return d
}

// testPod builds an opted-in pod with one secret and the given containers.
func testPod(annotations map[string]string, containers ...string) *corev1.Pod {
	a := map[string]string{
		contract.AnnotationInject: "true", contract.AnnotationRole: "r", contract.AnnotationSecretPrefix + "s": "kv/s",
	}
	for k, v := range annotations {
		a[k] = v
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: a}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "img"})
	}
	return p
}

func TestPodDenials(t *testing.T) {
	tests := []struct {
		name   string
		pod    *corev1.Pod
		d      func(*Defaults)
		reason DenyReason
		want   []string
	}{
		{"bad annotation", testPod(map[string]string{contract.AnnotationMode: "x"}, "app"), nil,
			DenyInvalidAnnotations, []string{contract.AnnotationMode}},
		{"unknown container", testPod(map[string]string{contract.AnnotationContainers: "app,ghost"}, "app", "side"), nil,
			DenyConflict, []string{`names ghost, which the pod does not have (its containers: app, side)`}},
		{"volume clash", func() *corev1.Pod {
			p := testPod(nil, "app")
			p.Spec.Volumes = []corev1.Volume{{Name: contract.SecretsVolume}, {Name: contract.ConfigVolume}}
			return p
		}(), nil, DenyConflict, []string{`volume named "vault-secrets"`, `volume named "vault-agent-config"`}},
		{"mount overlap", func() *corev1.Pod {
			p := testPod(nil, "app")
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/vault"}}
			return p
		}(), nil, DenyConflict, []string{`container "app" already mounts "data" at /vault`, contract.AnnotationVolumePath}},
		{"mount below", func() *corev1.Pod {
			p := testPod(nil, "app")
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/vault/secrets/x"}}
			return p
		}(), nil, DenyConflict, []string{"overlaps the secrets path"}},
		{"agent name taken", func() *corev1.Pod {
			p := testPod(nil, "app")
			p.Spec.InitContainers = []corev1.Container{{Name: contract.AgentInitContainer, Image: "mine"}}
			return p
		}(), nil, DenyConflict, []string{`container named "vault-agent-init"`, contract.AnnotationStatus, "rename that container"}},
		{"no role", func() *corev1.Pod {
			p := testPod(nil, "app")
			delete(p.Annotations, contract.AnnotationRole)
			return p
		}(), nil, DenyInvalidAnnotations, []string{"invalid vault-injector annotation: no Vault role: set vault-injector.io/role"}},
		{"no role and no secret, together", func() *corev1.Pod {
			p := testPod(nil, "app")
			delete(p.Annotations, contract.AnnotationRole)
			delete(p.Annotations, contract.AnnotationSecretPrefix+"s")
			return p
		}(), nil, DenyInvalidAnnotations, []string{"2 invalid vault-injector annotations", "no secret to inject", "no Vault role"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkDenial(t, tt.pod, tt.d, tt.reason, tt.want) })
	}
}

// checkDenial injects pod under the test defaults (changed by d) and wants a denial for reason
// whose message says every one of want.
func checkDenial(t *testing.T, pod *corev1.Pod, d func(*Defaults), reason DenyReason, want []string) {
	t.Helper()
	defaults := testDefaults()
	if d != nil {
		d(&defaults)
	}
	res, err := Pod(pod, defaults)
	var denial *Denial
	if !errors.As(err, &denial) || res.Patch != nil {
		t.Fatalf("want a denial, got %v (patch %v)", err, res.Patch != nil)
	}
	if denial.Reason != reason {
		t.Errorf("reason %q, want %q", denial.Reason, reason)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("message lacks %q:\n%.800s", w, err)
		}
	}
}

func TestPodSkips(t *testing.T) {
	d := testDefaults()
	for name, tt := range map[string]struct {
		pod  *corev1.Pod
		want SkipReason
	}{
		"no annotations":    {&corev1.Pod{}, SkipNotOptedIn},
		"status annotation": {testPod(map[string]string{contract.AnnotationStatus: contract.StatusInjected}, "app"), SkipAlreadyInjected},
	} {
		res, err := Pod(tt.pod, d)
		if err != nil || res.Skipped != tt.want || res.Patch != nil {
			t.Errorf("%s: got %+v, %v; want skip %q", name, res, err, tt.want)
		}
	}
}

func TestPodConfigRoundTrips(t *testing.T) {
	pod := testPod(map[string]string{contract.AnnotationRefresh: "1m"}, "app")
	_, cfg := injectWith(t, pod, testDefaults())
	if cfg.Refresh.Duration != time.Minute || cfg.Auth.Role != "r" || len(cfg.Secrets) != 1 || cfg.HandoverFile != "" {
		t.Errorf("config = %+v", cfg)
	}
}

func TestDefaultsValidate(t *testing.T) {
	ok := testDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatalf("documented defaults refused: %v", err)
	}
	d := Defaults{Sidecar: "sometimes", AgentImagePullPolicy: "Maybe", AuthPath: "kubernetes", Role: "a b",
		TokenExpiry: time.Minute, RunAsUser: 0, AgentMetricsPort: 70000,
		MemoryRequest: resource.MustParse("1Gi"), MemoryLimit: resource.MustParse("1Mi")}
	err := d.Validate()
	for _, w := range []string{"--vault-addr", "--agent-image", "pull policy", "default role", "auth/<mount>",
		"sidecar mode", "token expiry", "volume size", "non-root", "metrics port", "requests must not exceed"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() = %v; want it to mention %q", err, w)
		}
	}
}

// TestVaultAddrFlag: --vault-addr has the vault-address annotation's shape, and its normal form
// is what every agent config carries.
func TestVaultAddrFlag(t *testing.T) {
	for _, bad := range []string{"vault:8200", "https://vault:99999", "https://vault:0", "https://vault/v1", "https://u@vault",
		"https://vault?x=1", "ftp://vault", "https://:8200", "https://vault:"} {
		d := testDefaults()
		d.VaultAddr = bad
		err := d.Validate()
		if err == nil || !strings.Contains(err.Error(), `--vault-addr "`+bad+`": must be a Vault address such as https://vault.example.com:8200`) {
			t.Errorf("Validate(--vault-addr %s) = %v", bad, err)
		}
	}
	d := testDefaults()
	d.VaultAddr = "HTTPS://Vault.Example.COM:8200/"
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if d.VaultAddr != "https://vault.example.com:8200" {
		t.Fatalf("VaultAddr = %q after Validate", d.VaultAddr)
	}
	pod := testPod(nil, "app")
	res, err := Pod(pod, d)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := contract.Parse([]byte(applied(t, pod, res).Annotations[contract.AnnotationAgentConfig]))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Vault.Address != "https://vault.example.com:8200" {
		t.Errorf("the agent config's address is %q", cfg.Vault.Address)
	}
}

// applied returns pod with res.Patch applied, as the API server would store it.
func applied(t *testing.T, pod *corev1.Pod, res Result) *corev1.Pod {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Apply(raw, res.Patch)
	if err != nil {
		t.Fatal(err)
	}
	var back corev1.Pod
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	return &back
}
