package mutate

import (
	"fmt"
	"strconv"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/webhook/annotations"
)

// Bounds on what a pod contains, so an admission costs what a real pod costs, whatever the
// pod. The 3 MiB of a pod alone does not bound the webhook's memory: 3 MiB of trivial containers
// decoded, planned and patched took it to 472 MiB, four such pods at once to 1.6 GiB.
// Kubernetes sets no limit on any of these lists; each bound is far above what real pods have
// (a handful of containers, tens at most for a Tekton task with many steps; tens of volumes and
// mounts), and Decode enforces them while it reads, so a longer list is counted, never held.
const (
	// MaxContainers bounds each of initContainers, containers and ephemeralContainers.
	MaxContainers = 256
	// MaxVolumes bounds spec.volumes.
	MaxVolumes = 1024
	// MaxContainerMounts bounds the volumeMounts of one container.
	MaxContainerMounts = 1024
	// MaxMounts bounds the volumeMounts of all the pod's containers together.
	MaxMounts = 4096
	// MaxMetadataBytes bounds the keys and values of metadata.annotations, as the API server
	// does, and of metadata.labels, which it bounds only one by one (real pods carry a few
	// hundred bytes of them).
	MaxMetadataBytes = annotations.MaxAnnotationsBytes
	// MaxPatchBytes bounds the patch: etcd's default request limit (--max-request-bytes,
	// 1.5 MiB), which the stored pod, the patch included, must fit in.
	MaxPatchBytes = 1536 << 10
)

// LimitError says which bound a pod is over; Decode returns it for a list that is too long.
type LimitError struct {
	What  string // the entries counted: "entries in spec.containers"
	Count int
	Limit int
	Why   string // where the limit comes from, when not from this webhook alone
	Fix   string
}

func (e *LimitError) Error() string {
	if e.Why != "" {
		return fmt.Sprintf("too many %s: %d, over %s of %d, which also bounds the webhook's memory per admission: %s",
			e.What, e.Count, e.Why, e.Limit, e.Fix)
	}
	return fmt.Sprintf("too many %s: %d, over this webhook's limit of %d, which bounds the webhook's memory per admission (real pods have far fewer): %s",
		e.What, e.Count, e.Limit, e.Fix)
}

// Fixes named by the list errors.
const (
	fixContainers = "run fewer containers in one pod"
	fixVolumes    = "use fewer volumes (one projected volume can carry several ConfigMaps, Secrets and tokens)"
	fixMounts     = "mount fewer volumes (a whole volume as a directory instead of one subPath mount per file)"
)

// bound counts the entries of a list against its limit while Decode reads it; entries past the
// limit are skipped, so the error can name their full number without holding them. Its
// strings are constants, joined only for the error: Decode makes one per container.
type bound struct {
	list  string // the list's field path, or its parent's when index >= 0
	index int    // the parent's index, -1 for none
	field string // the list's field under the indexed parent
	what  string // what is counted, when not "entries in" the list
	limit int
	fix   string
	n     int
}

// add counts one entry and reports whether it is within the limit.
func (b *bound) add() bool {
	b.n++
	return b.n <= b.limit
}

// err is the bound's *LimitError, or nil within it.
func (b *bound) err() error {
	if b.n <= b.limit {
		return nil
	}
	what := b.what
	if what == "" {
		what = "entries in " + b.list
		if b.index >= 0 {
			what += "[" + strconv.Itoa(b.index) + "]." + b.field
		}
	}
	return &LimitError{What: what, Count: b.n, Limit: b.limit, Fix: b.fix}
}

// copiedMount is a copied mount in the agent container but for its strings, with the comma.
const copiedMount = `{"name":,"readOnly":true,"mountPath":,"subPath":},`

// mountOp is the longest secrets-mount op but for its mount path, with the comma after it.
const mountOp = `{"op":"add","path":"/spec/initContainers/255/volumeMounts/-","value":{"name":"` + contract.SecretsVolume + `","readOnly":true,"mountPath":}},`

// patchFixedBytes is more than the ops take but for the mounts, the agent-config annotation
// and the strings counted with them (TestPatchEstimate holds the estimate above the patch).
const patchFixedBytes = 8 << 10

// patchBytes estimates, from above, the patch the plan emits: one secrets mount per selected
// container, each repeating volume-path, and the agent config are what grows with the pod.
func (p *plan) patchBytes(pod *corev1.Pod, config string) (total, mounts int) {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if p.targets[c.Name] {
				mounts++
			}
		}
	}
	perContainer := 0
	for _, mp := range p.mountPaths() {
		perContainer += len(mountOp) + jsonLen(mp.path)
	}
	// The JSON patch annotations add at most their own size to each agent container (values
	// are JSON already; escaping them again at most doubles them).
	total += 4 * (len(p.opts.AgentJSONPatch) + len(p.opts.AgentInitJSONPatch))
	// agent-copy-volume-mounts: each copy is in every agent container (two when classic).
	for _, m := range p.copied {
		total += 2 * (len(copiedMount) + jsonLen(m.Name) + jsonLen(m.MountPath) + jsonLen(m.SubPath))
	}
	total += patchFixedBytes + jsonLen(config) + mounts*perContainer +
		2*jsonLen(p.d.AgentImage) + jsonLen(p.tokenAudience()) + jsonLen(p.tlsSecret())
	return total, mounts
}

// patchBudget refuses a pod whose patch would pass MaxPatchBytes, before the patch is built.
// The agent config fits in the annotation budget, so only the mounts can take a patch there.
func (p *plan) patchBudget(pod *corev1.Pod, config string) error {
	total, mounts := p.patchBytes(pod, config)
	if total <= MaxPatchBytes {
		return nil
	}
	return fmt.Errorf("the patch would be about %d bytes, over this webhook's limit of %d bytes (etcd's default request limit, which the stored pod must fit in), which bounds the webhook's memory per admission: each of its %d secrets mounts (one per selected container) repeats %s (%d bytes): shorten %s, or select fewer containers with %s",
		total, MaxPatchBytes, mounts, contract.AnnotationVolumePath, len(p.volumePath), contract.AnnotationVolumePath, contract.AnnotationContainers)
}

// jsonLen is the length of s written as a JSON string (package jsonwrite's rules: quotes,
// backslashes and control characters escaped, invalid UTF-8 as \ufffd, U+2028 and U+2029
// escaped).
func jsonLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
				n += 2
			case c < 0x20:
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r == '\u2028', r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}
