package mutate

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/vault-injector/vault-injector/contract"
)

// initAgent is the agent container that goes first among the init containers, so the pod's
// own init containers can read the secrets too.
func (p *plan) initAgent() corev1.Container {
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

// secretsMount is what each selected app container gets appended to its volumeMounts.
func (p *plan) secretsMount() corev1.VolumeMount {
	return corev1.VolumeMount{Name: contract.SecretsVolume, MountPath: p.volumePath, ReadOnly: true}
}

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
