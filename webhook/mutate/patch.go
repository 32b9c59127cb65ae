package mutate

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/internal/jsonwrite"
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

	mount := p.secretsMount()
	for i, c := range pod.Spec.InitContainers {
		if p.targets[c.Name] {
			addAll("/spec/initContainers/"+strconv.Itoa(i)+"/volumeMounts", len(c.VolumeMounts), mount)
		}
	}
	for i, c := range pod.Spec.Containers {
		if p.targets[c.Name] {
			addAll("/spec/containers/"+strconv.Itoa(i)+"/volumeMounts", len(c.VolumeMounts), mount)
		}
	}

	if len(pod.Spec.InitContainers) == 0 {
		add("/spec/initContainers", []corev1.Container{p.initAgent()})
	} else {
		add("/spec/initContainers/0", p.initAgent())
	}
	if p.shape == ShapeClassic {
		add("/spec/containers/-", p.agent(contract.AgentContainer, false))
	}
	return ops
}

// escapeKey escapes a map key for a JSON pointer (RFC 6901).
func escapeKey(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

// EncodePatch writes ops as the JSON patch of an admission response. It is several times
// cheaper than json.Marshal(ops), which goes through Operation's MarshalJSON and then compacts
// and escapes its output again; on a Deployment's pod that was the largest cost of the response.
func EncodePatch(ops []jsonpatch.Operation) ([]byte, error) {
	var b bytes.Buffer
	if err := AppendPatch(&b, ops); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// AppendPatch is EncodePatch into b, so a server can reuse its buffers.
func AppendPatch(b *bytes.Buffer, ops []jsonpatch.Operation) error {
	b.Grow(4096) // a typical patch: growing from empty cost more than the encoding's own garbage
	b.WriteByte('[')
	for i, op := range ops {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"op":`)
		jsonwrite.String(b, op.Operation)
		b.WriteString(`,"path":`)
		jsonwrite.String(b, op.Path)
		b.WriteString(`,"value":`)
		if err := appendValue(b, op.Value); err != nil {
			return fmt.Errorf("encoding the patch at %s: %w", op.Path, err)
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return nil
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
