package mutate

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"

	"github.com/vault-injector/vault-injector/webhook/jsonread"
)

// Decode reads from a pod as JSON only the fields the plan looks at, into a corev1.Pod. The
// patch never copies the pod, so nothing else is needed. It reads in one pass (package
// jsonread) and validates what it skips: decoding was most of an admission's CPU with
// encoding/json. Keys match case-sensitively, as the API server decodes; the nested structs
// the plan reads whole (mounts, security contexts) go through the API machinery's own JSON
// decoder. Pod must give the same answer for Decode's pod as for a fully decoded one, and
// Decode the same pod as that decoder: the golden, property and fuzz tests hold it to both.
func Decode(raw []byte) (*corev1.Pod, error) {
	if len(raw) > MaxPodBytes {
		return nil, fmt.Errorf("the pod is %d bytes, over the limit of %d bytes (the API server's own request limit): it is not read", len(raw), MaxPodBytes)
	}
	r := jsonread.New(raw)
	pod := &corev1.Pod{}
	err := r.Object(func(key []byte) error {
		switch string(key) {
		case "metadata":
			return decodeMeta(r, &pod.ObjectMeta)
		case "spec":
			return decodeSpec(r, &pod.Spec)
		}
		return r.Skip()
	})
	if err == nil {
		err = r.End()
	}
	if err != nil {
		return nil, err
	}
	return pod, nil
}

func decodeMeta(r *jsonread.Reader, m *metav1.ObjectMeta) error {
	return r.Object(func(key []byte) (err error) {
		switch string(key) {
		case "name":
			return r.StringInto(&m.Name)
		case "generateName":
			return r.StringInto(&m.GenerateName)
		case "annotations":
			m.Annotations, err = r.StringMap(m.Annotations)
			return err
		}
		return r.Skip()
	})
}

func decodeSpec(r *jsonread.Reader, s *corev1.PodSpec) error {
	return r.Object(func(key []byte) (err error) {
		switch string(key) {
		case "initContainers":
			s.InitContainers, err = decodeContainers(r)
		case "containers":
			s.Containers, err = decodeContainers(r)
		case "volumes":
			s.Volumes, err = decodeVolumes(r)
		case "securityContext":
			err = decodeWhole(r, &s.SecurityContext)
		case "restartPolicy":
			err = r.StringInto((*string)(&s.RestartPolicy))
		case "hostNetwork":
			err = r.BoolInto(&s.HostNetwork)
		default:
			err = r.Skip()
		}
		return err
	})
}

func decodeContainers(r *jsonread.Reader) ([]corev1.Container, error) {
	out := []corev1.Container{}
	isNull, err := r.Array(func() error {
		var c corev1.Container
		err := r.Object(func(key []byte) error {
			switch string(key) {
			case "name":
				return r.StringInto(&c.Name)
			case "volumeMounts":
				return decodeWhole(r, &c.VolumeMounts)
			case "securityContext":
				return decodeWhole(r, &c.SecurityContext)
			case "restartPolicy":
				return decodeWhole(r, &c.RestartPolicy)
			}
			return r.Skip()
		})
		out = append(out, c)
		return err
	})
	if isNull {
		return nil, err
	}
	return out, err
}

func decodeVolumes(r *jsonread.Reader) ([]corev1.Volume, error) {
	out := []corev1.Volume{}
	isNull, err := r.Array(func() error {
		var v corev1.Volume
		err := r.Object(func(key []byte) error {
			if string(key) == "name" {
				return r.StringInto(&v.Name)
			}
			return r.Skip()
		})
		out = append(out, v)
		return err
	})
	if isNull {
		return nil, err
	}
	return out, err
}

// decodeWhole decodes the next value into v with the API machinery's decoder (case-sensitive,
// like the API server).
func decodeWhole(r *jsonread.Reader, v any) error {
	raw, err := r.Raw()
	if err != nil {
		return err
	}
	return sigsjson.UnmarshalCaseSensitivePreserveInts(raw, v)
}
