package mutate

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/webhook/vaultk8s"
)

// vk8sPod builds a pod annotated for vault-k8s with one secret and the given containers.
func vk8sPod(annotations map[string]string, containers ...string) *corev1.Pod {
	a := map[string]string{
		vaultk8s.Prefix + "agent-inject": "true", vaultk8s.Prefix + "role": "r",
		vaultk8s.Prefix + "agent-inject-secret-s": "kv/s",
	}
	for k, v := range annotations {
		a[vaultk8s.Prefix+k] = v
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: a}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "img"})
	}
	return p
}

// injectVK8s injects pod with --accept-vault-k8s-annotations and returns the patched pod and
// the agent config it carries.
func injectVK8s(t *testing.T, pod *corev1.Pod) (*corev1.Pod, *contract.Config) {
	t.Helper()
	d := testDefaults()
	d.AcceptVaultK8s = true
	return injectWith(t, pod, d)
}

func injectWith(t *testing.T, pod *corev1.Pod, d Defaults) (*corev1.Pod, *contract.Config) {
	t.Helper()
	res, err := Pod(pod, d)
	if err != nil {
		t.Fatal(err)
	}
	out := applied(t, pod, res)
	cfg, err := contract.Parse([]byte(out.Annotations[contract.AnnotationAgentConfig]))
	if err != nil {
		t.Fatalf("the agent would refuse the config: %v", err)
	}
	return out, cfg
}

// TestAuthPathNamespacePrefix: vault-k8s' auth-path "us-west-org/auth/kubernetes" is a mount
// in a child namespace (Vault Agent logs in at us-west-org/auth/kubernetes/login), in both
// dialects, not a mount named auth/us-west-org/auth/kubernetes.
func TestAuthPathNamespacePrefix(t *testing.T) {
	_, cfg := injectVK8s(t, vk8sPod(map[string]string{"auth-path": "us-west-org/auth/kubernetes"}, "app"))
	if cfg.Auth.Path != "us-west-org/auth/kubernetes" {
		t.Errorf("vault-k8s: auth path %q", cfg.Auth.Path)
	}
	_, cfg = injectWith(t, testPod(map[string]string{contract.AnnotationAuthPath: "us-west-org/auth/kubernetes"}, "app"), testDefaults())
	if cfg.Auth.Path != "us-west-org/auth/kubernetes" {
		t.Errorf("vault-injector.io: auth path %q", cfg.Auth.Path)
	}
}

// secretsMounts maps each container (init ones included) to its mounts of the secrets volume.
func secretsMounts(pod *corev1.Pod) map[string][]corev1.VolumeMount {
	got := map[string][]corev1.VolumeMount{}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, m := range c.VolumeMounts {
				if m.Name == contract.SecretsVolume {
					got[c.Name] = append(got[c.Name], m)
				}
			}
		}
	}
	return got
}

// TestInitContainersWithContainers: with agent-inject-containers, vault-k8s still mounts the
// secrets in every init container (agent.go mounts them into all of them); our dialect's
// containers selects only what it names unless containers-include-init says so.
func TestInitContainersWithContainers(t *testing.T) {
	withInit := func(p *corev1.Pod) *corev1.Pod {
		p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "img"}, {Name: "seed", Image: "img"}}
		return p
	}
	out, _ := injectVK8s(t, withInit(vk8sPod(map[string]string{"agent-inject-containers": "app"}, "app", "metrics")))
	m := secretsMounts(out)
	if len(m["migrate"]) != 1 || len(m["seed"]) != 1 || len(m["app"]) != 1 || len(m["metrics"]) != 0 {
		t.Errorf("vault-k8s: secrets mounts %v", m)
	}
	ours := withInit(testPod(map[string]string{contract.AnnotationContainers: "app"}, "app", "metrics"))
	out, _ = injectWith(t, ours, testDefaults())
	if m := secretsMounts(out); len(m["migrate"]) != 0 || len(m["app"]) != 1 {
		t.Errorf("vault-injector.io: secrets mounts %v", m)
	}
	ours.Annotations[contract.AnnotationContainersIncludeInit] = "true"
	out, _ = injectWith(t, ours, testDefaults())
	if m := secretsMounts(out); len(m["migrate"]) != 1 || len(m["seed"]) != 1 || len(m["app"]) != 1 || len(m["metrics"]) != 0 {
		t.Errorf("containers-include-init: secrets mounts %v", m)
	}
}

// TestVolumeReadWrite: vault-k8s mounts the secrets read-write into app containers, so a
// translated pod gets readOnly false; our dialect stays read-only unless volume-read-write.
func TestVolumeReadWrite(t *testing.T) {
	readOnly := func(pod *corev1.Pod) map[string]bool {
		got := map[string]bool{}
		for c, ms := range secretsMounts(pod) {
			for _, m := range ms {
				got[c] = m.ReadOnly
			}
		}
		return got
	}
	out, _ := injectVK8s(t, vk8sPod(nil, "app"))
	if got := readOnly(out); got["app"] || got[contract.AgentContainer] {
		t.Errorf("vault-k8s: readOnly %v, want false for app (and the agent)", got)
	}
	ours := testPod(nil, "app")
	out, _ = injectWith(t, ours, testDefaults())
	if got := readOnly(out); !got["app"] || got[contract.AgentContainer] {
		t.Errorf("vault-injector.io: readOnly %v, want true for app only", got)
	}
	ours.Annotations[contract.AnnotationVolumeReadWrite] = "true"
	out, _ = injectWith(t, ours, testDefaults())
	if got := readOnly(out); got["app"] {
		t.Errorf("volume-read-write: readOnly %v, want false", got)
	}
}

// TestTLSSecretKeys: ca-cert, client-cert and client-key may name any key of the tls-secret's
// Secret; the agent reads that file under /vault/tls.
func TestTLSSecretKeys(t *testing.T) {
	_, cfg := injectVK8s(t, vk8sPod(map[string]string{"tls-secret": "vault-tls", "ca-cert": "/vault/tls/ca-cert.pem",
		"client-cert": "/vault/tls/client.crt", "client-key": "/vault/tls/client.key"}, "app"))
	v := cfg.Vault
	if v.CACertFile != "/vault/tls/ca-cert.pem" || v.ClientCert != "/vault/tls/client.crt" || v.ClientKey != "/vault/tls/client.key" || v.ClientCertOptional {
		t.Errorf("vault-k8s: %+v", v)
	}
	_, cfg = injectWith(t, testPod(map[string]string{contract.AnnotationTLSSecret: "vault-tls", contract.AnnotationTLSCAFile: "ca.pem"}, "app"), testDefaults())
	if v := cfg.Vault; v.CACertFile != "/vault/tls/ca.pem" || v.ClientCert != contract.TLSClientCert || !v.ClientCertOptional {
		t.Errorf("vault-injector.io: %+v", v)
	}
	checkDenial(t, testPod(map[string]string{contract.AnnotationTLSCAFile: "ca.pem"}, "app"), nil, DenyConflict,
		[]string{contract.AnnotationTLSCAFile + " names a key of the TLS Secret, but the pod has no " + contract.AnnotationTLSSecret})
	checkDenial(t, testPod(map[string]string{contract.AnnotationTLSSecret: "s", contract.AnnotationTLSClientCertFile: "c.crt"}, "app"), nil, DenyConflict,
		[]string{"go together"})
}

// TestTLSSkipVerify: refused by default, naming the flag; with --allow-vault-tls-skip-verify
// the agent config says so, for both dialects.
func TestTLSSkipVerify(t *testing.T) {
	vk := vk8sPod(map[string]string{"tls-skip-verify": "true"}, "app")
	ours := testPod(map[string]string{contract.AnnotationTLSSkipVerify: "true"}, "app")
	for _, pod := range []*corev1.Pod{vk, ours} {
		checkDenial(t, pod, func(d *Defaults) { d.AcceptVaultK8s = true }, DenyInvalidAnnotations,
			[]string{contract.AnnotationTLSSkipVerify, "--allow-vault-tls-skip-verify", contract.AnnotationTLSSecret})
		d := testDefaults()
		d.AcceptVaultK8s, d.AllowTLSSkipVerify = true, true
		if _, cfg := injectWith(t, pod, d); !cfg.Vault.InsecureSkipVerify {
			t.Errorf("%v: insecureSkipVerify not set", pod.Annotations)
		}
	}
	checkDenial(t, vk8sPod(map[string]string{"tls-skip-verify": "true"}, "app"), func(d *Defaults) { d.AcceptVaultK8s = true }, DenyInvalidAnnotations,
		[]string{contract.AnnotationTLSSkipVerify + " (from " + vaultk8s.Prefix + "tls-skip-verify)"})
	if _, cfg := injectVK8s(t, vk8sPod(map[string]string{"tls-skip-verify": "false"}, "app")); cfg.Vault.InsecureSkipVerify {
		t.Error(`tls-skip-verify "false" set insecureSkipVerify`)
	}
}

// TestPerSecretVolumePath: vault-k8s writes a secret with secret-volume-path-<name> under that
// directory; the secrets volume is mounted there too, in the selected containers, so the file
// is where vault-k8s puts it. Nested paths are refused.
func TestPerSecretVolumePath(t *testing.T) {
	pod := vk8sPod(map[string]string{"secret-volume-path-s": "/var/www/html/", "agent-inject-secret-t": "kv/t",
		"secret-volume-path-t": "/var/www/html"}, "app")
	out, cfg := injectVK8s(t, pod)
	var paths []string
	for _, m := range secretsMounts(out)["app"] {
		paths = append(paths, m.MountPath)
		if m.ReadOnly {
			t.Errorf("vault-k8s mount %s is read-only", m.MountPath)
		}
	}
	if len(paths) != 2 || paths[0] != contract.DefaultVolumePath || paths[1] != "/var/www/html" || cfg.Secrets[0].File != "s" {
		t.Errorf("app mounts the secrets at %v (file %q), want /vault/secrets and /var/www/html", paths, cfg.Secrets[0].File)
	}
	if len(secretsMounts(out)[contract.AgentContainer]) != 1 {
		t.Errorf("the agent mounts %v", secretsMounts(out)[contract.AgentContainer])
	}
	ours := testPod(map[string]string{contract.AnnotationVolumePathPrefix + "s": "/srv/www", contract.AnnotationVolumePath: "/etc/app"}, "app")
	out, _ = injectWith(t, ours, testDefaults())
	if ms := secretsMounts(out)["app"]; len(ms) != 2 || ms[0].MountPath != "/etc/app" || ms[1].MountPath != "/srv/www" || !ms[1].ReadOnly {
		t.Errorf("vault-injector.io: app mounts %v", ms)
	}
	checkDenial(t, testPod(map[string]string{contract.AnnotationVolumePathPrefix + "s": "/vault/secrets/www"}, "app"), nil, DenyConflict,
		[]string{contract.AnnotationVolumePathPrefix + `s="/vault/secrets/www" is inside or above ` + contract.AnnotationVolumePath})
	clash := testPod(map[string]string{contract.AnnotationVolumePathPrefix + "s": "/srv"}, "app")
	clash.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/srv/data"}}
	clash.Spec.Volumes = []corev1.Volume{{Name: "data"}}
	checkDenial(t, clash, nil, DenyConflict, []string{`container "app" already mounts "data" at /srv/data, which overlaps the secrets path /srv: set ` + contract.AnnotationVolumePathPrefix + "s"})
}

// TestEmptyResourcesMeanNone: vault-k8s documents agent-limits-* and agent-requests-* set to
// "" as no limit and no request; the agent container then has none of that resource.
func TestEmptyResourcesMeanNone(t *testing.T) {
	out, _ := injectVK8s(t, vk8sPod(map[string]string{"agent-limits-cpu": "", "agent-limits-mem": "", "agent-requests-cpu": ""}, "app"))
	var agent corev1.Container
	for _, c := range out.Spec.InitContainers {
		if c.Name == contract.AgentContainer {
			agent = c
		}
	}
	r := agent.Resources
	if _, ok := r.Limits[corev1.ResourceCPU]; ok || len(r.Limits) != 0 {
		t.Errorf("limits %v, want none", r.Limits)
	}
	if _, ok := r.Requests[corev1.ResourceCPU]; ok {
		t.Errorf("requests %v, want no cpu", r.Requests)
	}
	if _, ok := r.Requests[corev1.ResourceMemory]; !ok {
		t.Errorf("requests %v, want the flag's memory request", r.Requests)
	}
}

// TestCopyVolumeMounts: agent-copy-volume-mounts gives the agent that container's mounts,
// read-only and without the service-account token; an unknown container is refused naming
// the annotation.
func TestCopyVolumeMounts(t *testing.T) {
	withMounts := func(p *corev1.Pod) *corev1.Pod {
		p.Spec.Volumes = []corev1.Volume{{Name: "certs"}, {Name: "conf"}}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "certs", MountPath: "/etc/certs"},
			{Name: "conf", MountPath: "/etc/app/conf", SubPath: "app", ReadOnly: true},
			{Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}}
		return p
	}
	for _, pod := range []*corev1.Pod{
		withMounts(vk8sPod(map[string]string{"agent-copy-volume-mounts": "app"}, "app")),
		withMounts(testPod(map[string]string{contract.AnnotationAgentCopyVolumeMounts: "app"}, "app")),
	} {
		d := testDefaults()
		d.AcceptVaultK8s = true
		out, _ := injectWith(t, pod, d)
		got := map[string]corev1.VolumeMount{}
		for _, m := range out.Spec.InitContainers[0].VolumeMounts {
			got[m.Name] = m
		}
		if m := got["certs"]; m.MountPath != "/etc/certs" || !m.ReadOnly {
			t.Errorf("certs copied as %+v", m)
		}
		if m := got["conf"]; m.MountPath != "/etc/app/conf" || m.SubPath != "app" || !m.ReadOnly {
			t.Errorf("conf copied as %+v", m)
		}
		if _, ok := got["kube-api-access"]; ok {
			t.Error("the service-account token mount was copied")
		}
	}
	checkDenial(t, testPod(map[string]string{contract.AnnotationAgentCopyVolumeMounts: "web"}, "app"), nil, DenyConflict,
		[]string{contract.AnnotationAgentCopyVolumeMounts + `="web" names no container of the pod (its containers: app)`})
	clash := testPod(map[string]string{contract.AnnotationAgentCopyVolumeMounts: "app"}, "app")
	clash.Spec.Volumes = []corev1.Volume{{Name: "v"}}
	clash.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/vault"}}
	checkDenial(t, clash, nil, DenyConflict, []string{`its mount of "v" at /vault overlaps the agent's own`})
}

// agentOf is the patched pod's agent container named name.
func agentOf(pod *corev1.Pod, name string) corev1.Container {
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		if c.Name == name {
			return c
		}
	}
	return corev1.Container{}
}

// TestAgentJSONPatch: agent-json-patch and agent-init-json-patch are applied to the agent
// containers when the result still meets the restricted Pod Security Standard and leaves the
// injector's fields alone; otherwise refused naming the JSON pointer.
func TestAgentJSONPatch(t *testing.T) {
	envPatch := `[{"op":"add","path":"/env","value":[{"name":"GOMEMLIMIT","value":"40MiB"}]},{"op":"replace","path":"/resources/limits/memory","value":"128Mi"}]`
	initPatch := `[{"op":"add","path":"/env","value":[{"name":"PHASE","value":"init"}]}]`
	out, _ := injectVK8s(t, vk8sPod(map[string]string{"agent-json-patch": envPatch, "agent-init-json-patch": initPatch}, "app"))
	a := agentOf(out, contract.AgentContainer)
	// native: the one agent is vault-k8s' init and sidecar container: init patch, then sidecar's
	if len(a.Env) != 1 || a.Env[0].Name != "GOMEMLIMIT" || a.Resources.Limits.Memory().String() != "128Mi" {
		t.Errorf("native agent env %v, limits %v", a.Env, a.Resources.Limits)
	}
	d := testDefaults()
	d.AcceptVaultK8s, d.Sidecar = true, SidecarClassic
	out, _ = injectWith(t, vk8sPod(map[string]string{"agent-json-patch": envPatch, "agent-init-json-patch": initPatch}, "app"), d)
	if a, i := agentOf(out, contract.AgentContainer), agentOf(out, contract.AgentInitContainer); len(a.Env) != 1 || a.Env[0].Name != "GOMEMLIMIT" || len(i.Env) != 1 || i.Env[0].Name != "PHASE" {
		t.Errorf("classic: sidecar env %v, init env %v", a.Env, i.Env)
	}
	// vault-k8s' users append to the agent's env, which vault-k8s always gives it.
	out, _ = injectVK8s(t, vk8sPod(map[string]string{"agent-json-patch": `[{"op":"add","path":"/env/-","value":{"name":"X","value":"y"}},{"op":"add","path":"/ports/-","value":{"containerPort":8080}}]`}, "app"))
	if a := agentOf(out, contract.AgentContainer); len(a.Env) != 1 || a.Env[0].Name != "X" || len(a.Ports) != 1 {
		t.Errorf("an append to the agent's empty env and ports: env %v, ports %v", a.Env, a.Ports)
	}
	for patch, want := range map[string]string{
		`[{"op":"replace","path":"/securityContext/allowPrivilegeEscalation","value":true}]`: "restricted Pod Security Standard at /securityContext/allowPrivilegeEscalation",
		`[{"op":"add","path":"/securityContext/capabilities/add","value":["NET_ADMIN"]}]`:    "at /securityContext/capabilities/add/0",
		`[{"op":"remove","path":"/securityContext/runAsNonRoot"}]`:                           "at /securityContext/runAsNonRoot",
		`[{"op":"add","path":"/ports","value":[{"containerPort":80,"hostPort":80}]}]`:        "at /ports/0/hostPort",
		`[{"op":"replace","path":"/image","value":"evil:latest"}]`:                           "op replace at /image changes the agent's image",
		`[{"op":"remove","path":"/startupProbe"}]`:                                           "op remove at /startupProbe",
		`[{"op":"remove","path":"/volumeMounts/0"}]`:                                         "op remove at /volumeMounts/0",
		`[{"op":"copy","from":"/args","path":"/env"}]`:                                       "op copy at /args",
		`[{"op":"add","path":"/futureField","value":1}]`:                                     `unknown field "futureField"`,
		`[{"op":"remove","path":"/nothing"}]`:                                                "applying it to the agent container",
	} {
		checkDenial(t, testPod(map[string]string{contract.AnnotationAgentJSONPatch: patch}, "app"), nil, DenyConflict,
			[]string{contract.AnnotationAgentJSONPatch + ": ", want})
	}
	mount := `[{"op":"add","path":"/volumeMounts/-","value":{"name":"certs","mountPath":"/etc/certs","readOnly":true}}]`
	pod := testPod(map[string]string{contract.AnnotationAgentInitJSONPatch: mount, contract.AnnotationMode: contract.ModeInitOnly}, "app")
	pod.Spec.Volumes = []corev1.Volume{{Name: "certs"}}
	out, _ = injectWith(t, pod, testDefaults())
	ms := agentOf(out, contract.AgentInitContainer).VolumeMounts
	if last := ms[len(ms)-1]; last.Name != "certs" {
		t.Errorf("init-only agent mounts %v", ms)
	}
}
