package mutate

import (
	"fmt"
	"math"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-injector/vault-injector/internal/jsonread"
	"github.com/vault-injector/vault-injector/webhook/annotations"
)

// MaxPodBytes bounds the pod as the API server sends it (the review around it is read only up to
// 7 MiB). That is the pod after the API server's defaulting, which adds every defaulted field: a
// 556 KB manifest arrived as 6.2 MB. So the limit is the webhook's memory bound, not the API
// server's 3 MiB request limit, which applies to what the client sent.
const MaxPodBytes = 3 << 20

// Decode reads from a pod as JSON only the fields the plan looks at, into a corev1.Pod:
// metadata name, generateName, annotations and labels; the spec's volume names, restart
// policy, host network, shareProcessNamespace, pod runAsUser and fsGroup; and per container
// (init, regular and ephemeral) its name, restart policy, runAsUser, mounts (name and path)
// and ports (number and protocol). The patch never copies the pod, so nothing else is needed.
// It refuses, with a *LimitError, a pod over the bounds of bounds.go, without holding the
// entries past them.
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
		return nil, fmt.Errorf("the pod is %d bytes as the API server sent it, over this webhook's limit of %d bytes: the size is measured after the API server's defaulting, which adds every defaulted field (a 556 KB manifest arrived as 6.2 MB); split the pod or shorten its largest fields", n, MaxPodBytes)
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
			m.Annotations, err = decodeStringMap(r, m.Annotations, "metadata.annotations")
			return err
		case "labels":
			m.Labels, err = decodeStringMap(r, m.Labels, "metadata.labels")
			return err
		}
		return r.Skip()
	})
}

// decodeStringMap reads an object of strings into m (allocated when nil), as encoding/json:
// null gives nil, a null member the empty string. Past MaxMetadataBytes of keys and values the
// members are skipped, each value counted as its JSON without the quotes (exact but for
// escapes), so the error names the whole size without holding it.
func decodeStringMap(r *jsonread.Reader, m map[string]string, field string) (map[string]string, error) {
	if r.Null() {
		return nil, nil
	}
	size := 0
	for k, v := range m { // a field given twice adds to the first
		size += len(k) + len(v)
	}
	err := r.Object(func(key []byte) error {
		size += len(key)
		if size > MaxMetadataBytes {
			start := r.Offset()
			err := r.Skip()
			size += max(r.Offset()-start-2, 0)
			return err
		}
		var v string
		if err := r.StringInto(&v); err != nil {
			return err
		}
		if m == nil {
			m = map[string]string{}
		}
		m[string(key)] = v
		size += len(v)
		return nil
	})
	switch {
	case err != nil:
		return m, err
	case size > MaxMetadataBytes:
		e := &LimitError{What: "bytes in " + field + " (keys plus values)", Count: size, Limit: MaxMetadataBytes, Fix: "carry fewer labels"}
		if field == "metadata.annotations" {
			e.Why, e.Fix = "the API server's limit", "shorten the largest annotations: "+annotations.Largest(m, 3, nil)
		}
		return nil, e
	case m == nil:
		m = map[string]string{}
	}
	return m, nil
}

func decodeSpec(r *jsonread.Reader, s *corev1.PodSpec) error {
	// Every container's mounts count against the pod's total, read to the end so its error
	// names the whole number.
	mounts := bound{what: "volumeMounts in all containers together", index: -1, limit: MaxMounts, fix: fixMounts}
	containers := func(list string) ([]corev1.Container, error) {
		return decodeList(r, &bound{list: list, index: -1, limit: MaxContainers, fix: fixContainers}, func(r *jsonread.Reader, i int, c *corev1.Container) error {
			return decodeContainer(r, c, list, i, &mounts)
		})
	}
	err := r.Object(func(key []byte) (err error) {
		switch string(key) {
		case "initContainers":
			s.InitContainers, err = containers("spec.initContainers")
		case "containers":
			s.Containers, err = containers("spec.containers")
		case "ephemeralContainers":
			s.EphemeralContainers, err = decodeEphemeral(r, &mounts)
		case "volumes":
			s.Volumes, err = decodeList(r, &bound{list: "spec.volumes", index: -1, limit: MaxVolumes, fix: fixVolumes}, func(r *jsonread.Reader, _ int, v *corev1.Volume) error {
				return r.Object(func(key []byte) error {
					if string(key) == "name" {
						return r.StringInto(&v.Name)
					}
					return r.Skip()
				})
			})
		case "securityContext":
			err = decodePodSecurity(r, s)
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
	if err == nil {
		err = mounts.err()
	}
	return err
}

func decodePodSecurity(r *jsonread.Reader, s *corev1.PodSpec) error {
	if r.Null() {
		s.SecurityContext = nil
		return nil
	}
	if s.SecurityContext == nil {
		s.SecurityContext = &corev1.PodSecurityContext{}
	}
	sc := s.SecurityContext
	return r.Object(func(key []byte) error {
		switch string(key) {
		case "runAsUser":
			return int64Into(r, &sc.RunAsUser)
		case "fsGroup":
			return int64Into(r, &sc.FSGroup)
		}
		return r.Skip()
	})
}

// decodeEphemeral reads ephemeralContainers with the fields of the other containers: the API
// server refuses them on create, but the webhook sees the pod before it validates.
func decodeEphemeral(r *jsonread.Reader, mounts *bound) ([]corev1.EphemeralContainer, error) {
	const list = "spec.ephemeralContainers"
	return decodeList(r, &bound{list: list, index: -1, limit: MaxContainers, fix: fixContainers}, func(r *jsonread.Reader, i int, e *corev1.EphemeralContainer) error {
		return decodeContainer(r, (*corev1.Container)(&e.EphemeralContainerCommon), list, i, mounts)
	})
}

// decodeContainer reads entry i of list; its mounts count against their own bound and total.
func decodeContainer(r *jsonread.Reader, c *corev1.Container, list string, i int, total *bound) error {
	mounts := bound{list: list, index: i, field: "volumeMounts", limit: MaxContainerMounts, fix: fixMounts}
	return r.Object(func(key []byte) (err error) {
		switch string(key) {
		case "name":
			return r.StringInto(&c.Name)
		case "volumeMounts":
			c.VolumeMounts, err = decodeList(r, &mounts, func(r *jsonread.Reader, _ int, m *corev1.VolumeMount) error {
				return r.Object(func(key []byte) error {
					switch string(key) {
					case "name":
						return r.StringInto(&m.Name)
					case "mountPath":
						return r.StringInto(&m.MountPath)
					}
					return r.Skip()
				})
			}, total)
			return err
		case "ports":
			c.Ports, err = decodePorts(r)
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

// decodePorts reads a container's ports, their number and protocol only. No bound: a media
// server declares a port per RTP port, thousands, and a port costs little more than its JSON.
func decodePorts(r *jsonread.Reader) ([]corev1.ContainerPort, error) {
	return decodeList(r, nil, func(r *jsonread.Reader, _ int, p *corev1.ContainerPort) error {
		return r.Object(func(key []byte) error {
			switch string(key) {
			case "containerPort":
				start := r.Offset()
				v, isNull, err := r.Int64()
				switch {
				case err != nil:
					return err
				case isNull:
				case v < math.MinInt32 || v > math.MaxInt32:
					return &jsonread.TypeError{Want: "an int32", Offset: start}
				default:
					p.ContainerPort = int32(v)
				}
				return nil
			case "protocol":
				return r.StringInto((*string)(&p.Protocol))
			}
			return r.Skip()
		})
	})
}

// decodeList reads an array of objects; null gives nil and [] an empty list, as encoding/json.
// An entry past any of the bounds (the list's own first, nil for none) is skipped, not held:
// the list's own bound fails the list at its end, the others their owner.
func decodeList[T any](r *jsonread.Reader, own *bound, decode func(*jsonread.Reader, int, *T) error, others ...*bound) ([]T, error) {
	out := []T{}
	i := 0
	isNull, err := r.Array(func() error {
		keep := own == nil || own.add()
		for _, b := range others {
			keep = b.add() && keep
		}
		if !keep {
			return r.Skip()
		}
		var v T
		err := decode(r, i, &v)
		i++
		out = append(out, v)
		return err
	})
	if err == nil && own != nil {
		err = own.err()
	}
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
