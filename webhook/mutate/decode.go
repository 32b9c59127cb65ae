package mutate

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Decode reads from a pod as JSON only the fields the plan looks at, into a corev1.Pod. The
// patch never copies the pod, so nothing else is needed, and skipping the rest (env, probes,
// resources, affinity...) makes decoding about three times cheaper on a Deployment's pod: it is
// the largest cost of an admission after the review itself. Pod must give the same answer for
// Decode's pod as for a fully decoded one; the golden and property tests hold it to that.
func Decode(raw []byte) (*corev1.Pod, error) {
	if len(raw) > MaxPodBytes {
		return nil, fmt.Errorf("the pod is %d bytes, over the limit of %d bytes (the API server's own request limit): it is not read", len(raw), MaxPodBytes)
	}
	var in struct {
		Metadata struct {
			Name         string            `json:"name"`
			GenerateName string            `json:"generateName"`
			Annotations  map[string]string `json:"annotations"`
			Labels       map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			InitContainers  []decodedContainer         `json:"initContainers"`
			Containers      []decodedContainer         `json:"containers"`
			Volumes         []struct{ Name string }    `json:"volumes"`
			SecurityContext *corev1.PodSecurityContext `json:"securityContext"`
			RestartPolicy   corev1.RestartPolicy       `json:"restartPolicy"`
			HostNetwork     bool                       `json:"hostNetwork"`
			ShareProcessNS  *bool                      `json:"shareProcessNamespace"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, err
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: in.Metadata.Name, GenerateName: in.Metadata.GenerateName, Annotations: in.Metadata.Annotations,
			Labels: in.Metadata.Labels},
		Spec: corev1.PodSpec{
			InitContainers:  containers(in.Spec.InitContainers),
			Containers:      containers(in.Spec.Containers),
			SecurityContext: in.Spec.SecurityContext,
			RestartPolicy:   in.Spec.RestartPolicy,
			HostNetwork:     in.Spec.HostNetwork,

			ShareProcessNamespace: in.Spec.ShareProcessNS,
		},
	}
	for _, v := range in.Spec.Volumes {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: v.Name})
	}
	return pod, nil
}

type decodedContainer struct {
	Name            string                         `json:"name"`
	VolumeMounts    []corev1.VolumeMount           `json:"volumeMounts"`
	SecurityContext *corev1.SecurityContext        `json:"securityContext"`
	RestartPolicy   *corev1.ContainerRestartPolicy `json:"restartPolicy"`
}

func containers(in []decodedContainer) []corev1.Container {
	if in == nil {
		return nil
	}
	out := make([]corev1.Container, len(in))
	for i, c := range in {
		out[i] = corev1.Container{Name: c.Name, VolumeMounts: c.VolumeMounts, SecurityContext: c.SecurityContext, RestartPolicy: c.RestartPolicy}
	}
	return out
}
