package mutate

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/vault-injector/vault-injector/contract"
)

// TestHardeningDenials: pods the API server would refuse after injection, or that could not
// work, are refused by the core with a message naming what to change.
func TestHardeningDenials(t *testing.T) {
	big := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name   string
		pod    *corev1.Pod
		d      func(*Defaults)
		reason DenyReason
		want   []string
	}{
		{"memory request above the flag's limit", testPod(map[string]string{contract.AnnotationAgentMemoryRequest: "128Mi"}, "app"), nil,
			DenyInvalidAnnotations, []string{"agent memory request 128Mi (vault-injector.io/agent-memory-request) is above its limit 64Mi (the webhook's --agent-memory-limit)",
				"set vault-injector.io/agent-memory-request to at most 64Mi, or vault-injector.io/agent-memory-limit to at least 128Mi"}},
		{"CPU limit below the flag's request", testPod(map[string]string{contract.AnnotationAgentCPULimit: "1m"}, "app"), nil,
			DenyInvalidAnnotations, []string{"agent CPU request 10m (the webhook's --agent-cpu-request) is above its limit 1m (vault-injector.io/agent-cpu-limit)"}},
		{"memory limit below the flag's request", testPod(map[string]string{contract.AnnotationAgentMemoryLimit: "8Mi"}, "app"), nil,
			DenyInvalidAnnotations, []string{"memory request 16Mi (the webhook's --agent-memory-request)", "vault-injector.io/agent-memory-limit"}},
		{"annotations over the budget after injection", testPod(map[string]string{
			contract.AnnotationSecretPrefix + "a": "kv/a", contract.AnnotationTemplatePrefix + "a": big(60 << 10),
			contract.AnnotationSecretPrefix + "b": "kv/b", contract.AnnotationTemplatePrefix + "b": big(50 << 10),
			contract.AnnotationTemplatePrefix + "s": big(40 << 10),
		}, "app"), nil, DenyConflict, []string{"after injection, over the API server's limit of 262144 bytes",
			"vault-injector.io/agent-config", "shorten the largest templates: vault-injector.io/template-a (61468 bytes), vault-injector.io/template-b"}},
		{"no secret, with a typo", func() *corev1.Pod {
			p := testPod(map[string]string{contract.Prefix + "secrets-db": "kv/db"}, "app")
			delete(p.Annotations, contract.AnnotationSecretPrefix+"s")
			return p
		}(), nil, DenyInvalidAnnotations, []string{`vault-injector.io/inject="true": no secret to inject`,
			"vault-injector.io/secrets-db (did you mean vault-injector.io/secret-db?)"}},
		{"no secret at all", func() *corev1.Pod {
			p := testPod(nil, "app")
			delete(p.Annotations, contract.AnnotationSecretPrefix+"s")
			return p
		}(), nil, DenyInvalidAnnotations, []string{"no secret to inject: add vault-injector.io/secret-<name>"}},
		{"no secret and a request above the limit, together", func() *corev1.Pod {
			p := testPod(map[string]string{contract.AnnotationAgentMemoryRequest: "128Mi"}, "app")
			delete(p.Annotations, contract.AnnotationSecretPrefix+"s")
			return p
		}(), nil, DenyInvalidAnnotations, []string{"2 invalid vault-injector annotations", "no secret to inject", "agent memory request 128Mi"}},
		{"mount path written unclean", func() *corev1.Pod {
			p := testPod(nil, "app")
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/vault//secrets/"}}
			return p
		}(), nil, DenyConflict, []string{`container "app" already mounts "data" at /vault//secrets/`}},
		{"service-account mount over the path", func() *corev1.Pod {
			p := testPod(map[string]string{contract.AnnotationVolumePath: "/var/run/app/secrets"}, "app")
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "run", MountPath: "/var/run/app"}}
			return p
		}(), nil, DenyConflict, []string{`container "app" already mounts "run" at /var/run/app`}},
		{"system path", testPod(map[string]string{contract.AnnotationVolumePath: "/var/run/secrets/kubernetes.io/serviceaccount"}, "app"), nil,
			DenyInvalidAnnotations, []string{"vault-injector.io/volume-path", "service-account token"}},
		{"mounts the agent's token volume", withMount(testPod(nil, "app", "side"), "side", contract.TokenVolume), nil, DenyConflict,
			[]string{`container "side" mounts volume "vault-agent-sa", which the pod does not have and the injector adds for the agent`,
				"would get the agent's service-account token", "remove that mount", contract.AnnotationVolumePath}},
		{"an unselected container mounts the secrets volume", withMount(testPod(map[string]string{contract.AnnotationContainers: "app"}, "app", "side"), "side", contract.SecretsVolume),
			nil, DenyConflict, []string{`container "side" mounts volume "vault-secrets"`, "read-write"}},
		{"init container mounts the handover volume", withMount(withInit(testPod(nil, "app"), "setup"), "setup", contract.HandoverVolume), classic, DenyConflict,
			[]string{`container "setup" mounts volume "vault-agent-token"`, "the agent's Vault token"}},
		{"ephemeral container mounts the TLS volume", func() *corev1.Pod {
			p := testPod(nil, "app")
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", VolumeMounts: []corev1.VolumeMount{{Name: contract.TLSVolume, MountPath: "/t"}}}}}
			return p
		}(), nil, DenyConflict, []string{`container "debug" mounts volume "vault-agent-tls"`, "client key"}},
		{"every such mount, each named", withMount(withMount(testPod(nil, "app"), "app", contract.ConfigVolume), "app", contract.TokenVolume), nil, DenyConflict,
			[]string{`"app" mounts volume "vault-agent-config"`, `"app" mounts volume "vault-agent-sa"`}},
		{"app port is the agent's metrics port", withPort(testPod(nil, "app", "web"), "web", 9102, ""), metricsOn(9102), DenyConflict,
			[]string{`container "web" declares containerPort 9102, the port the agent serves its metrics on (the webhook's --agent-metrics-port)`,
				"share one network namespace", "move the container to another port"}},
		{"TCP, on the pod IP", withPort(testPod(nil, "app"), "app", 9102, corev1.ProtocolTCP), func(d *Defaults) { metricsOn(9102)(d); d.AgentMetrics = AgentMetricsPod },
			DenyConflict, []string{`container "app" declares containerPort 9102`}},
		{"init container beside the native sidecar", withPort(withInit(testPod(nil, "app"), "warm"), "warm", 9102, ""), metricsOn(9102), DenyConflict,
			[]string{`container "warm" declares containerPort 9102`}},
		{"the app's own sidecar beside the classic one", func() *corev1.Pod {
			p := withPort(withInit(testPod(nil, "app"), "proxy"), "proxy", 9102, "")
			p.Spec.InitContainers[0].RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
			return p
		}(), func(d *Defaults) { classic(d); metricsOn(9102)(d) }, DenyConflict, []string{`container "proxy" declares containerPort 9102`}},
		{"regular container beside the classic sidecar", withPort(testPod(nil, "app"), "app", 9102, ""), func(d *Defaults) { classic(d); metricsOn(9102)(d) },
			DenyConflict, []string{`container "app" declares containerPort 9102`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkDenial(t, tt.pod, tt.d, tt.reason, tt.want)
		})
	}
}

// TestOwnVolumeMountedOnce: a pod that declares one of the injector's volumes and mounts it is
// told once, about the volume: renaming it means renaming its mounts.
func TestOwnVolumeMountedOnce(t *testing.T) {
	p := withMount(testPod(nil, "app"), "app", contract.TokenVolume)
	p.Spec.Volumes = []corev1.Volume{{Name: contract.TokenVolume}}
	checkDenial(t, p, nil, DenyConflict, []string{`the pod already has a volume named "vault-agent-sa"`})
	if _, err := Pod(p, testDefaults()); strings.Contains(err.Error(), "mounts volume") {
		t.Errorf("the mount is refused a second time: %v", err)
	}
}

// TestHardeningAccepted: the same kinds of input within the limits, and shapes the core
// adjusts with a warning instead of refusing.
func TestHardeningAccepted(t *testing.T) {
	tests := []struct {
		name     string
		pod      *corev1.Pod
		d        func(*Defaults)
		skipped  SkipReason
		shape    Shape
		warnings []string
	}{
		{"request and limit both annotated", testPod(map[string]string{
			contract.AnnotationAgentMemoryRequest: "128Mi", contract.AnnotationAgentMemoryLimit: "256Mi"}, "app"), nil, "", ShapeNative, nil},
		{"memory request with no limit flag", testPod(map[string]string{contract.AnnotationAgentMemoryRequest: "128Mi"}, "app"),
			func(d *Defaults) { d.MemoryLimit = resource.Quantity{} }, "", ShapeNative, nil},
		{"CPU limit above the request flag", testPod(map[string]string{contract.AnnotationAgentCPULimit: "10m"}, "app"), nil, "", ShapeNative, nil},
		{"inject True", testPod(map[string]string{contract.AnnotationInject: "True"}, "app"), nil, SkipNotOptedIn, "",
			[]string{`vault-injector.io/inject="True" does not opt the pod in`, `use "true"`}},
		{"inject yes", testPod(map[string]string{contract.AnnotationInject: "yes"}, "app"), nil, SkipNotOptedIn, "", []string{`"yes" does not opt`}},
		{"inject 1", testPod(map[string]string{contract.AnnotationInject: "1"}, "app"), nil, SkipNotOptedIn, "", []string{`"1" does not opt`}},
		{"inject false", testPod(map[string]string{contract.AnnotationInject: "false"}, "app"), nil, SkipNotOptedIn, "", nil},
		{"classic on a Job pod", withRestart(testPod(nil, "app"), corev1.RestartPolicyNever), classic, "", ShapeInitOnly,
			[]string{"restartPolicy Never", "--sidecar=classic", "injected init-only"}},
		{"classic on OnFailure", withRestart(testPod(nil, "app"), corev1.RestartPolicyOnFailure), classic, "", ShapeInitOnly,
			[]string{"restartPolicy OnFailure"}},
		{"classic on Always", withRestart(testPod(nil, "app"), corev1.RestartPolicyAlways), classic, "", ShapeClassic, nil},
		{"native on a Job pod", withRestart(testPod(nil, "app"), corev1.RestartPolicyNever), nil, "", ShapeNative, nil},
		{"metrics port on hostNetwork", hostNetwork(testPod(nil, "app")), func(d *Defaults) { d.AgentMetricsPort = 9102 }, "", ShapeNative,
			[]string{"hostNetwork", "metrics port 9102 (--agent-metrics-port)", "a second such pod on the node"}},
		{"hostNetwork without metrics", hostNetwork(testPod(nil, "app")), nil, "", ShapeNative, nil},
		{"mounts a volume of its own", withMount(testPod(nil, "app"), "app", "vault-data"), nil, "", ShapeNative, nil},
		{"the agent's metrics port over UDP", withPort(testPod(nil, "app"), "app", 9102, corev1.ProtocolUDP), metricsOn(9102), "", ShapeNative, nil},
		{"another port", withPort(testPod(nil, "app"), "app", 9103, ""), metricsOn(9102), "", ShapeNative, nil},
		{"metrics port with metrics off", withPort(testPod(nil, "app"), "app", 9102, ""),
			func(d *Defaults) { metricsOn(9102)(d); d.AgentMetrics = AgentMetricsOff }, "", ShapeNative, nil},
		{"metrics port of an init-only agent", withPort(testPod(map[string]string{contract.AnnotationMode: contract.ModeInitOnly}, "app"), "app", 9102, ""),
			metricsOn(9102), "", ShapeInitOnly, nil},
		{"init container before the classic sidecar", withPort(withInit(testPod(nil, "app"), "warm"), "warm", 9102, ""),
			func(d *Defaults) { classic(d); metricsOn(9102)(d) }, "", ShapeClassic, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := testDefaults()
			if tt.d != nil {
				tt.d(&d)
			}
			res, err := Pod(tt.pod, d)
			if err != nil {
				t.Fatal(err)
			}
			if res.Skipped != tt.skipped || res.Shape != tt.shape {
				t.Errorf("skipped %q shape %q, want %q %q", res.Skipped, res.Shape, tt.skipped, tt.shape)
			}
			all := strings.Join(res.Warnings, "\n")
			if tt.warnings == nil && all != "" {
				t.Errorf("unexpected warnings: %s", all)
			}
			for _, w := range tt.warnings {
				if !strings.Contains(all, w) {
					t.Errorf("warnings lack %q: %s", w, all)
				}
			}
			if tt.shape == ShapeInitOnly {
				for _, op := range res.Patch {
					if strings.Contains(op.Path, "/spec/containers/") && !strings.Contains(op.Path, "volumeMounts") {
						t.Errorf("init-only added a regular container: %s", op.Path)
					}
				}
			}
		})
	}
}

func classic(d *Defaults) { d.Sidecar = SidecarClassic }

func withRestart(p *corev1.Pod, r corev1.RestartPolicy) *corev1.Pod {
	p.Spec.RestartPolicy = r
	return p
}

func metricsOn(port int) func(*Defaults) { return func(d *Defaults) { d.AgentMetricsPort = port } }

func withInit(p *corev1.Pod, name string) *corev1.Pod {
	p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: name, Image: "img"})
	return p
}

// container is the init or regular container of p named name.
func container(p *corev1.Pod, name string) *corev1.Container {
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range cs {
			if cs[i].Name == name {
				return &cs[i]
			}
		}
	}
	panic("no container " + name)
}

func withMount(p *corev1.Pod, c, volume string) *corev1.Pod {
	ct := container(p, c)
	ct.VolumeMounts = append(ct.VolumeMounts, corev1.VolumeMount{Name: volume, MountPath: "/mnt/" + volume})
	return p
}

func withPort(p *corev1.Pod, c string, port int32, proto corev1.Protocol) *corev1.Pod {
	ct := container(p, c)
	ct.Ports = append(ct.Ports, corev1.ContainerPort{ContainerPort: port, Protocol: proto})
	return p
}

func hostNetwork(p *corev1.Pod) *corev1.Pod {
	p.Spec.HostNetwork = true
	return p
}

// TestDecodedConflicts: Decode reads what the port and mount checks need, ephemeral
// containers included.
func TestDecodedConflicts(t *testing.T) {
	raw := boundsPod(t, map[string]any{
		"containers":          []any{map[string]any{"name": "app", "ports": []any{map[string]any{"containerPort": 9102, "protocol": "TCP"}}}},
		"ephemeralContainers": []any{map[string]any{"name": "debug", "volumeMounts": []any{map[string]any{"name": contract.TokenVolume, "mountPath": "/t"}}}},
	}, nil)
	pod, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	checkDenial(t, pod, metricsOn(9102), DenyConflict, []string{`container "app" declares containerPort 9102`, `container "debug" mounts volume "vault-agent-sa"`})
}
