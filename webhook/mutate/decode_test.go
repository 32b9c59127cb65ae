package mutate_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/vault-injector/vault-injector/webhook/mutate"
)

// referenceDecode is what Decode must return: the API machinery's decoder (reflection,
// case-sensitive keys) on the fields the plan reads, and only those. ok is false when the input repeats a key,
// where decoders may legitimately differ (the API server never sends one).
func referenceDecode(raw []byte) (pod *corev1.Pod, err error, ok bool) {
	type mount struct {
		Name      string `json:"name"`
		MountPath string `json:"mountPath"`
	}
	type port struct {
		ContainerPort int32           `json:"containerPort"`
		Protocol      corev1.Protocol `json:"protocol"`
	}
	type container struct {
		Name            string  `json:"name"`
		VolumeMounts    []mount `json:"volumeMounts"`
		Ports           []port  `json:"ports"`
		SecurityContext *struct {
			RunAsUser *int64 `json:"runAsUser"`
		} `json:"securityContext"`
		RestartPolicy *corev1.ContainerRestartPolicy `json:"restartPolicy"`
	}
	var in struct {
		Metadata struct {
			Name         string            `json:"name"`
			GenerateName string            `json:"generateName"`
			Annotations  map[string]string `json:"annotations"`
			Labels       map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			InitContainers      []container `json:"initContainers"`
			Containers          []container `json:"containers"`
			EphemeralContainers []container `json:"ephemeralContainers"`
			Volumes             []struct {
				Name string `json:"name"`
			} `json:"volumes"`
			SecurityContext *struct {
				RunAsUser *int64 `json:"runAsUser"`
				FSGroup   *int64 `json:"fsGroup"`
			} `json:"securityContext"`
			RestartPolicy corev1.RestartPolicy `json:"restartPolicy"`
			HostNetwork   bool                 `json:"hostNetwork"`
			ShareProcess  *bool                `json:"shareProcessNamespace"`
		} `json:"spec"`
	}
	strict, err := sigsjson.UnmarshalStrict(raw, &in, sigsjson.DisallowDuplicateFields)
	if err != nil {
		return nil, err, true
	}
	if len(strict) > 0 {
		return nil, nil, false
	}
	containers := func(in []container) []corev1.Container {
		if in == nil {
			return nil
		}
		out := make([]corev1.Container, len(in))
		for i, c := range in {
			out[i] = corev1.Container{Name: c.Name, RestartPolicy: c.RestartPolicy}
			if c.VolumeMounts != nil {
				out[i].VolumeMounts = make([]corev1.VolumeMount, len(c.VolumeMounts))
				for j, m := range c.VolumeMounts {
					out[i].VolumeMounts[j] = corev1.VolumeMount{Name: m.Name, MountPath: m.MountPath}
				}
			}
			if c.Ports != nil {
				out[i].Ports = make([]corev1.ContainerPort, len(c.Ports))
				for j, p := range c.Ports {
					out[i].Ports[j] = corev1.ContainerPort{ContainerPort: p.ContainerPort, Protocol: p.Protocol}
				}
			}
			if c.SecurityContext != nil {
				out[i].SecurityContext = &corev1.SecurityContext{RunAsUser: c.SecurityContext.RunAsUser}
			}
		}
		return out
	}
	// The bounds, counted on the whole lists.
	mounts := 0
	for _, list := range [][]container{in.Spec.InitContainers, in.Spec.Containers, in.Spec.EphemeralContainers} {
		if len(list) > mutate.MaxContainers {
			return nil, errors.New("too many containers"), true
		}
		for _, c := range list {
			if len(c.VolumeMounts) > mutate.MaxContainerMounts {
				return nil, errors.New("too many mounts in a container"), true
			}
			mounts += len(c.VolumeMounts)
		}
	}
	if mounts > mutate.MaxMounts || len(in.Spec.Volumes) > mutate.MaxVolumes {
		return nil, errors.New("too many mounts or volumes"), true
	}
	for _, m := range []map[string]string{in.Metadata.Annotations, in.Metadata.Labels} {
		size := 0
		for k, v := range m {
			size += len(k) + len(v)
		}
		if size > mutate.MaxMetadataBytes {
			return nil, errors.New("too many bytes of annotations or labels"), true
		}
	}
	pod = &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: in.Metadata.Name, GenerateName: in.Metadata.GenerateName, Annotations: in.Metadata.Annotations,
			Labels: in.Metadata.Labels},
		Spec: corev1.PodSpec{
			InitContainers: containers(in.Spec.InitContainers), Containers: containers(in.Spec.Containers),
			RestartPolicy: in.Spec.RestartPolicy, HostNetwork: in.Spec.HostNetwork, ShareProcessNamespace: in.Spec.ShareProcess,
		},
	}
	if in.Spec.EphemeralContainers != nil {
		pod.Spec.EphemeralContainers = make([]corev1.EphemeralContainer, len(in.Spec.EphemeralContainers))
		for i, c := range containers(in.Spec.EphemeralContainers) {
			pod.Spec.EphemeralContainers[i].EphemeralContainerCommon = corev1.EphemeralContainerCommon(c)
		}
	}
	if sc := in.Spec.SecurityContext; sc != nil {
		pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: sc.RunAsUser, FSGroup: sc.FSGroup}
	}
	if in.Spec.Volumes != nil {
		pod.Spec.Volumes = make([]corev1.Volume, len(in.Spec.Volumes))
		for i, v := range in.Spec.Volumes {
			pod.Spec.Volumes[i].Name = v.Name
		}
	}
	return pod, nil, true
}

func checkDecode(t *testing.T, raw []byte) {
	t.Helper()
	want, wantErr, ok := referenceDecode(raw)
	got, gotErr := mutate.Decode(raw)
	if !ok {
		return
	}
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("Decode error %v, reference error %v", gotErr, wantErr)
	}
	if gotErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode\n%#v\nreference\n%#v", got, want)
	}
}

// FuzzDecode holds Decode to the reference decoder on the golden pods and mutations of them.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		if raw, err := yaml.YAMLToJSON(src); err == nil {
			f.Add(raw)
		}
	}
	for _, s := range []string{`null`, `[]`, `{"metadata":null,"spec":null}`, `{"spec":{"containers":null,"volumes":[]}}`,
		`{"metadata":{"annotations":{"a":null}}}`, `{"metadata":{"Name":"x","n\u0061me":"y"}}`,
		`{"spec":{"containers":[{"name":"a","volumeMounts":[{"name":"v","mountPath":"/x","readOnly":true}],"securityContext":{"runAsUser":5},"restartPolicy":"Always"}]}}`,
		`{"spec":{"containers":[{"name":1}]}}`, `{"spec":{"hostNetwork":"yes"}}`, `{"spec":{"securityContext":{"runAsUser":"x"}}}`,
		`{"spec":{"securityContext":{"runAsUser":1.5,"fsGroup":null}}}`, `{"spec":{"securityContext":{"runAsUser":1e3}}}`,
		`{"spec":{"securityContext":{"runAsUser":99999999999999999999}}}`, `{"spec":{"securityContext":{"fsGroup":-0,"seLinuxOptions":"x"}}}`,
		`{"spec":{"containers":[{"securityContext":null,"restartPolicy":null,"volumeMounts":null}]}}`,
		`{"metadata":{"labels":{"a":"b"}},"spec":{"shareProcessNamespace":false}}`, `{"spec":{"shareProcessNamespace":null}}`,
		`{"spec":{"shareProcessNamespace":"true"}}`, `{"metadata":{"labels":[]}}`,
		`{"spec":{"containers":[{"name":"a","ports":[{"containerPort":8080,"protocol":"TCP","name":"http"},{"containerPort":null,"protocol":null}]}]}}`,
		`{"spec":{"containers":[{"ports":[{"containerPort":2147483648}]}]}}`, `{"spec":{"containers":[{"ports":[{"containerPort":-1e2}]}]}}`,
		`{"spec":{"containers":[{"ports":null}],"initContainers":[{"ports":[]}]}}`,
		`{"spec":{"ephemeralContainers":[{"name":"debug","volumeMounts":[{"name":"vault-agent-sa","mountPath":"/t"}],"targetContainerName":"app"}]}}`,
		`{"spec":{"ephemeralContainers":null}}`, `{"metadata":{"annotations":{}},"spec":{"ephemeralContainers":[]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkDecode)
}

func TestDecodeRefusesOversizedPods(t *testing.T) {
	raw := []byte(`{"metadata":{"x":"` + strings.Repeat("x", mutate.MaxPodBytes) + `"}}`)
	if _, err := mutate.Decode(raw); err == nil || !strings.Contains(err.Error(), "over this webhook's limit of 3145728 bytes: the size is measured after the API server's defaulting") {
		t.Fatalf("Decode = %v", err)
	}
	if _, err := mutate.Decode([]byte(`{"metadata":{"annotations":{"x":"y"}}}`)); err != nil {
		t.Fatal(err)
	}
}
