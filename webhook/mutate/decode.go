package mutate

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-injector/vault-injector/internal/jsonread"
)

// MaxPodBytes bounds the pod as sent (the review around it is read only up to 7 MiB): the API server refuses
// request bodies above 3 MiB, so no pod it could store is larger.
const MaxPodBytes = 3 << 20

// Decode reads from a pod as JSON only the fields the plan looks at, into a corev1.Pod:
// metadata name, generateName, annotations and labels; the spec's volume names, restart
// policy, host network, shareProcessNamespace, pod runAsUser and fsGroup; and per container its name, restart policy, runAsUser
// and mounts (name and path). The patch never copies the pod, so nothing else is needed.
// It reads in one pass (package jsonread) and validates what it skips: decoding with
// encoding/json was most of an admission's CPU. Keys match case-sensitively, as the API
// server decodes. FuzzDecode holds Decode to the API machinery's decoder on these fields.
func Decode(raw []byte) (*corev1.Pod, error) {
	r := jsonread.New(raw)
	pod, err := DecodeFrom(r)
	if err == nil {
		err = r.End()
	}
	return pod, err
}

// DecodeFrom decodes the pod at r's cursor (an admission review's object) as Decode does.
func DecodeFrom(r *jsonread.Reader) (*corev1.Pod, error) {
	start := r.Offset()
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
	if err != nil {
		return nil, err
	}
	if n := r.Offset() - start; n > MaxPodBytes {
		return nil, fmt.Errorf("the pod is %d bytes, over the limit of %d bytes (the API server's own request limit)", n, MaxPodBytes)
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
		case "labels":
			m.Labels, err = r.StringMap(m.Labels)
			return err
		}
		return r.Skip()
	})
}

func decodeSpec(r *jsonread.Reader, s *corev1.PodSpec) error {
	return r.Object(func(key []byte) (err error) {
		switch string(key) {
		case "initContainers":
			s.InitContainers, err = decodeList(r, decodeContainer)
		case "containers":
			s.Containers, err = decodeList(r, decodeContainer)
		case "volumes":
			s.Volumes, err = decodeList(r, func(r *jsonread.Reader, v *corev1.Volume) error {
				return r.Object(func(key []byte) error {
					if string(key) == "name" {
						return r.StringInto(&v.Name)
					}
					return r.Skip()
				})
			})
		case "securityContext":
			if r.Null() {
				s.SecurityContext = nil
				return nil
			}
			if s.SecurityContext == nil {
				s.SecurityContext = &corev1.PodSecurityContext{}
			}
			sc := s.SecurityContext
			err = r.Object(func(key []byte) error {
				switch string(key) {
				case "runAsUser":
					return int64Into(r, &sc.RunAsUser)
				case "fsGroup":
					return int64Into(r, &sc.FSGroup)
				}
				return r.Skip()
			})
		case "restartPolicy":
			err = r.StringInto((*string)(&s.RestartPolicy))
		case "hostNetwork":
			err = r.BoolInto(&s.HostNetwork)
		case "shareProcessNamespace":
			if r.Null() {
				s.ShareProcessNamespace = nil
				return nil
			}
			var share bool
			if err = r.BoolInto(&share); err == nil {
				s.ShareProcessNamespace = &share
			}
		default:
			err = r.Skip()
		}
		return err
	})
}

func decodeContainer(r *jsonread.Reader, c *corev1.Container) error {
	return r.Object(func(key []byte) (err error) {
		switch string(key) {
		case "name":
			return r.StringInto(&c.Name)
		case "volumeMounts":
			c.VolumeMounts, err = decodeList(r, func(r *jsonread.Reader, m *corev1.VolumeMount) error {
				return r.Object(func(key []byte) error {
					switch string(key) {
					case "name":
						return r.StringInto(&m.Name)
					case "mountPath":
						return r.StringInto(&m.MountPath)
					}
					return r.Skip()
				})
			})
			return err
		case "securityContext":
			if r.Null() {
				c.SecurityContext = nil
				return nil
			}
			if c.SecurityContext == nil {
				c.SecurityContext = &corev1.SecurityContext{}
			}
			sc := c.SecurityContext
			return r.Object(func(key []byte) error {
				if string(key) == "runAsUser" {
					return int64Into(r, &sc.RunAsUser)
				}
				return r.Skip()
			})
		case "restartPolicy":
			if r.Null() {
				c.RestartPolicy = nil
				return nil
			}
			var p corev1.ContainerRestartPolicy
			if err := r.StringInto((*string)(&p)); err != nil {
				return err
			}
			c.RestartPolicy = &p
			return nil
		}
		return r.Skip()
	})
}

// decodeList reads an array of objects; null gives nil and [] an empty list, as encoding/json.
func decodeList[T any](r *jsonread.Reader, decode func(*jsonread.Reader, *T) error) ([]T, error) {
	out := []T{}
	isNull, err := r.Array(func() error {
		var v T
		err := decode(r, &v)
		out = append(out, v)
		return err
	})
	if isNull {
		return nil, err
	}
	return out, err
}

// int64Into reads an integer or null into an optional field.
func int64Into(r *jsonread.Reader, dst **int64) error {
	v, isNull, err := r.Int64()
	switch {
	case err != nil:
		return err
	case isNull:
		*dst = nil
	default:
		*dst = &v
	}
	return nil
}
