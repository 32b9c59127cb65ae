package mutate

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/vault-injector/vault-injector/contract"
)

// patch emits the plan as explicit add ops against the pod as sent, in a fixed order so one pod
// gives one patch, byte for byte. It never diffs: no op touches a field of the pod's own
// containers except to append to their volumeMounts, so fields this build does not know survive.
// Mounts go in before the agent is prepended to initContainers, while the indices still hold.
func (p *plan) patch(pod *corev1.Pod) []jsonpatch.Operation {
	ops := make([]jsonpatch.Operation, 0, 16) // room for a pod with several containers
	add := func(path string, v any) {
		ops = append(ops, jsonpatch.Operation{Operation: "add", Path: path, Value: v})
	}
	// addAll adds values to the list at path: the whole list when the pod has none (the field
	// may be absent or null), else one append per value.
	addAll := func(path string, have int, vs ...any) {
		if have == 0 {
			add(path, vs)
			return
		}
		for _, v := range vs {
			add(path+"/-", v)
		}
	}

	ann := [][2]string{{contract.AnnotationStatus, contract.StatusInjected}, {contract.AnnotationAgentConfig, p.config}}
	// An opted-in pod always has annotations, so each one is added by key.
	for _, kv := range ann {
		add("/metadata/annotations/"+escapeKey(kv[0]), kv[1])
	}
	p.reloadOps(pod, add)

	// Pointers into vols: a Volume copied into an interface was an allocation per volume.
	vols := p.volumes()
	vs := make([]any, len(vols))
	for i := range vols {
		vs[i] = &vols[i]
	}
	addAll("/spec/volumes", len(pod.Spec.Volumes), vs...)

	mounts := p.secretsMounts()
	for i, c := range pod.Spec.InitContainers {
		if p.targets[c.Name] {
			addAll("/spec/initContainers/"+strconv.Itoa(i)+"/volumeMounts", len(c.VolumeMounts), mounts...)
		}
	}
	for i, c := range pod.Spec.Containers {
		if p.targets[c.Name] {
			addAll("/spec/containers/"+strconv.Itoa(i)+"/volumeMounts", len(c.VolumeMounts), mounts...)
		}
	}

	if len(pod.Spec.InitContainers) == 0 {
		add("/spec/initContainers", []corev1.Container{p.initAgent()})
	} else {
		add("/spec/initContainers/0", p.initAgent())
	}
	if p.shape == ShapeClassic {
		add("/spec/containers/-", p.sidecarAgent())
	}
	return ops
}

// reloadOps are the pod-level adds after the annotations: the injected label (for a PodMonitor),
// and shareProcessNamespace for reload-signal.
func (p *plan) reloadOps(pod *corev1.Pod, add func(path string, v any)) {
	switch {
	case pod.Labels[contract.LabelInjected] == contract.LabelInjectedValue:
	case len(pod.Labels) == 0: // metadata.labels may be absent: add the whole map
		add("/metadata/labels", map[string]string{contract.LabelInjected: contract.LabelInjectedValue})
	default:
		add("/metadata/labels/"+escapeKey(contract.LabelInjected), contract.LabelInjectedValue)
	}
	if p.signalMode() && pod.Spec.ShareProcessNamespace == nil {
		add("/spec/shareProcessNamespace", ptr.To(true))
	}
}

// escapeKey escapes a map key for a JSON pointer (RFC 6901).
func escapeKey(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

// The values the ops add, typed and built from the plan: the volumes, the secrets mount and the
// agent's containers. encode.go writes them.

// volumes are the injected volumes. The token and config files are 0444 because the agent runs
// as its own non-root user while the kubelet writes them as root; only the agent mounts them.
func (p *plan) volumes() []corev1.Volume {
	vols := []corev1.Volume{
		{Name: contract.SecretsVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(p.d.VolumeSize.DeepCopy()),
		}}},
		{Name: contract.TokenVolume, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience:          p.tokenAudience(),
				ExpirationSeconds: ptr.To(int64(p.d.TokenExpiry.Seconds())),
				Path:              "token",
			}}},
			DefaultMode: ptr.To(int32(0o444)),
		}}},
		{Name: contract.ConfigVolume, VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
			Items: []corev1.DownwardAPIVolumeFile{{
				Path:     contract.ConfigFileName,
				FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['" + contract.AnnotationAgentConfig + "']"},
			}},
			DefaultMode: ptr.To(int32(0o444)),
		}}},
	}
	if p.tlsSecret() != "" {
		vols = append(vols, p.tlsVolume())
	}
	if p.shape == ShapeClassic {
		// The Vault token travels from the init agent to the sidecar here, so the pod logs in once.
		vols = append(vols, corev1.Volume{Name: contract.HandoverVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("1Mi")),
		}}})
	}
	return vols
}

// tlsVolume is the tls-secret's Secret. Its files are 0444 like the token's because the agent
// runs as its own non-root user; no app container mounts it.
func (p *plan) tlsVolume() corev1.Volume {
	return corev1.Volume{Name: contract.TLSVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: p.tlsSecret(), DefaultMode: ptr.To(int32(0o444)),
	}}}
}

// initAgent is the agent container that goes first among the init containers, so the pod's
// own init containers can read the secrets too; patched by the JSON patch annotations
// (agentpatch.go).
func (p *plan) initAgent() corev1.Container {
	if p.patchedInit != nil {
		return *p.patchedInit
	}
	return p.baseInitAgent()
}

// sidecarAgent is the classic shape's long-running agent, patched like initAgent.
func (p *plan) sidecarAgent() corev1.Container {
	if p.patchedSidecar != nil {
		return *p.patchedSidecar
	}
	return p.agent(contract.AgentContainer, false)
}

func (p *plan) baseInitAgent() corev1.Container {
	if p.shape != ShapeNative {
		return p.agent(contract.AgentInitContainer, true)
	}
	agent := p.agent(contract.AgentContainer, false)
	agent.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
	agent.StartupProbe = &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{contract.AgentBinary, contract.AgentCmdReady}}},
		PeriodSeconds:    1,
		TimeoutSeconds:   5,
		FailureThreshold: int32(startupProbeBudget.Seconds()),
	}
	return agent
}

// startupProbeBudget covers the agent's whole first-render window, so a slow Vault delays the
// app instead of restarting the agent mid-retry.
var startupProbeBudget = contract.DefaultInitTimeout + 30*time.Second

func (p *plan) agent(name string, once bool) corev1.Container {
	args := []string{contract.AgentCmdRun, contract.AgentFlagConf, contract.ConfigFile}
	if once {
		args = append(args, contract.AgentFlagOnce)
	}
	mounts := []corev1.VolumeMount{
		{Name: contract.SecretsVolume, MountPath: contract.AgentSecretsDir},
		{Name: contract.TokenVolume, MountPath: contract.TokenDir, ReadOnly: true},
		{Name: contract.ConfigVolume, MountPath: contract.ConfigDir, ReadOnly: true},
	}
	if p.shape == ShapeClassic {
		mounts = append(mounts, corev1.VolumeMount{Name: contract.HandoverVolume, MountPath: contract.HandoverDir})
	}
	if p.tlsSecret() != "" {
		mounts = append(mounts, tlsMount())
	}
	mounts = append(mounts, p.copied...)
	return corev1.Container{
		Name:                     name,
		Image:                    p.d.AgentImage,
		ImagePullPolicy:          corev1.PullPolicy(p.d.AgentImagePullPolicy),
		Command:                  []string{contract.AgentBinary},
		Args:                     args,
		VolumeMounts:             mounts,
		Ports:                    p.agentPorts(once),
		Resources:                p.resources(),
		SecurityContext:          p.securityContext(),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

func tlsMount() corev1.VolumeMount {
	return corev1.VolumeMount{Name: contract.TLSVolume, MountPath: contract.TLSDir, ReadOnly: true}
}

// agentPorts names the metrics port of a long-running agent that listens on the pod IP, so a
// PodMonitor (or the prometheus.io annotations convention) finds it.
func (p *plan) agentPorts(once bool) []corev1.ContainerPort {
	if once || p.d.AgentMetrics != AgentMetricsPod || p.metricsPort() == 0 {
		return nil
	}
	return []corev1.ContainerPort{{Name: contract.MetricsPortName, ContainerPort: int32(p.metricsPort()), Protocol: corev1.ProtocolTCP}}
}

// securityContext meets the restricted Pod Security Standard whatever the pod says.
func (p *plan) securityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To(p.d.RunAsUser),
		RunAsGroup:               ptr.To(p.d.RunAsGroup),
		ReadOnlyRootFilesystem:   ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func (p *plan) resources() corev1.ResourceRequirements {
	pick := func(annotated *resource.Quantity, flag resource.Quantity) resource.Quantity {
		if annotated != nil {
			return annotated.DeepCopy()
		}
		return flag.DeepCopy()
	}
	set := func(l corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) {
		if !q.IsZero() {
			l[name] = q
		}
	}
	r := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	set(r.Requests, corev1.ResourceCPU, pick(p.opts.CPURequest, p.d.CPURequest))
	set(r.Requests, corev1.ResourceMemory, pick(p.opts.MemoryRequest, p.d.MemoryRequest))
	set(r.Limits, corev1.ResourceCPU, pick(p.opts.CPULimit, p.d.CPULimit))
	set(r.Limits, corev1.ResourceMemory, pick(p.opts.MemoryLimit, p.d.MemoryLimit))
	if len(r.Limits) == 0 {
		r.Limits = nil
	}
	if len(r.Requests) == 0 {
		r.Requests = nil
	}
	return r
}

// Apply applies ops to raw (a pod or pod template as JSON) as the API server would, through
// the response's own encoding. The preview and the tests use it, so they see exactly what the
// webhook's response does.
func Apply(raw []byte, ops []jsonpatch.Operation) ([]byte, error) {
	b, err := EncodePatch(ops)
	if err != nil {
		return nil, err
	}
	patch, err := jsonpatchapply.DecodePatch(b)
	if err != nil {
		return nil, fmt.Errorf("decoding the patch: %w", err)
	}
	out, err := patch.Apply(raw)
	if err != nil {
		return nil, fmt.Errorf("applying the patch: %w", err)
	}
	return out, nil
}
