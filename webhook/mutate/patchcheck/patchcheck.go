// Package patchcheck is the independent oracle for the webhook's patches. It knows nothing of
// how the patch is planned: it compares the pod as sent with the pod after the patch and checks
// the promises the injector makes (docs/annotations.md, "What injection guarantees"): the patch only adds;
// the pod's own containers, volumes, annotations and every other field come out byte for byte
// as sent, unknown fields included, except for one secrets mount appended to a container's
// volumeMounts; each container the patch adds is added whole by one op and meets the restricted
// Pod Security Standard. The golden tests, the property test and the preview test all use it.
package patchcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"gomodules.xyz/jsonpatch/v2"

	"github.com/vault-injector/vault-injector/contract"
)

type object map[string]json.RawMessage

// Verify reports every broken promise between raw (the pod as sent) and patched (raw with ops
// applied). volumePath is where app containers must see the secrets.
func Verify(raw, patched []byte, ops []jsonpatch.Operation, volumePath string) error {
	c := &checker{ops: ops, volumePath: volumePath}
	for _, op := range ops {
		if op.Operation != "add" {
			c.fail("op %s %s: the patch may only add", op.Operation, op.Path)
		}
	}
	before, after := c.object("pod as sent", raw), c.object("patched pod", patched)
	if before == nil || after == nil {
		return c.err()
	}
	c.sameExcept("pod", before, after, "metadata", "spec")
	bm, am := c.object("metadata", before["metadata"]), c.object("patched metadata", after["metadata"])
	c.sameExcept("metadata", bm, am, "annotations", "labels")
	c.annotations(c.strings(bm["annotations"]), c.strings(am["annotations"]))
	c.labels(c.strings(bm["labels"]), c.strings(am["labels"]))
	bs, as := c.object("spec", before["spec"]), c.object("patched spec", after["spec"])
	c.sameExcept("spec", bs, as, "initContainers", "containers", "volumes", "shareProcessNamespace")
	c.shareProcessNamespace(bs["shareProcessNamespace"], as["shareProcessNamespace"])
	c.volumes(c.list(bs["volumes"]), c.list(as["volumes"]))
	c.containers("initContainers", c.list(bs["initContainers"]), c.list(as["initContainers"]), 1, 0)
	classic := len(c.list(as["containers"])) > len(c.list(bs["containers"]))
	c.containers("containers", c.list(bs["containers"]), c.list(as["containers"]), 0, map[bool]int{true: 1}[classic])
	return c.err()
}

type checker struct {
	ops        []jsonpatch.Operation
	volumePath string
	problems   []string
}

func (c *checker) fail(format string, a ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, a...))
}

func (c *checker) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(c.problems, "\n"))
}

func (c *checker) object(what string, b json.RawMessage) object {
	if len(b) == 0 || string(b) == "null" {
		return object{}
	}
	var o object
	if err := json.Unmarshal(b, &o); err != nil {
		c.fail("%s: %v", what, err)
		return nil
	}
	return o
}

func (c *checker) list(b json.RawMessage) []json.RawMessage {
	var l []json.RawMessage
	if len(b) > 0 {
		if err := json.Unmarshal(b, &l); err != nil {
			c.fail("list: %v", err)
		}
	}
	return l
}

func (c *checker) strings(b json.RawMessage) map[string]string {
	m := map[string]string{}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			c.fail("annotations: %v", err)
		}
	}
	return m
}

// sameExcept checks that every key of before but the named ones is in after with the same
// bytes, and that after has no key before lacks.
func (c *checker) sameExcept(where string, before, after object, except ...string) {
	for k, v := range before {
		if !slices.Contains(except, k) && !same(v, after[k]) {
			c.fail("%s.%s changed:\n  sent:    %s\n  patched: %s", where, k, v, after[k])
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok && !slices.Contains(except, k) {
			c.fail("%s.%s was added", where, k)
		}
	}
}

func same(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

func (c *checker) annotations(before, after map[string]string) {
	for k, v := range before {
		if after[k] != v {
			c.fail("annotation %s changed", k)
		}
	}
	added := 0
	for k, v := range after {
		if _, ok := before[k]; ok {
			continue
		}
		added++
		switch k {
		case contract.AnnotationStatus:
			if v != contract.StatusInjected {
				c.fail("status annotation %q, want %q", v, contract.StatusInjected)
			}
		case contract.AnnotationAgentConfig:
			if _, err := contract.Parse([]byte(v)); err != nil {
				c.fail("the agent would refuse its config: %v", err)
			}
		default:
			c.fail("unexpected annotation %s added", k)
		}
	}
	if added != 2 {
		c.fail("%d annotations added, want the status and the agent config", added)
	}
}

// labels: every label as sent, plus the injected label, which a PodMonitor selects.
func (c *checker) labels(before, after map[string]string) {
	for k, v := range before {
		if k == contract.LabelInjected && v != contract.LabelInjectedValue {
			continue // a stray value of our own label is set right
		}
		if after[k] != v {
			c.fail("label %s changed", k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok && k != contract.LabelInjected {
			c.fail("unexpected label %s added", k)
		}
	}
	if after[contract.LabelInjected] != contract.LabelInjectedValue {
		c.fail("label %s is %q, want %q", contract.LabelInjected, after[contract.LabelInjected], contract.LabelInjectedValue)
	}
}

func (c *checker) volumes(before, after []json.RawMessage) {
	if len(after) < len(before) {
		c.fail("volumes: %d after the patch, %d before", len(after), len(before))
		return
	}
	for i := range before {
		if !same(before[i], after[i]) {
			c.fail("volume %d changed:\n  sent:    %s\n  patched: %s", i, before[i], after[i])
		}
	}
	ours := []string{contract.SecretsVolume, contract.TokenVolume, contract.ConfigVolume, contract.HandoverVolume, contract.TLSVolume}
	for _, v := range after[len(before):] {
		var named struct{ Name string }
		_ = json.Unmarshal(v, &named)
		if !slices.Contains(ours, named.Name) {
			c.fail("added volume %q is not one of the injector's", named.Name)
		}
	}
}

// containers checks a container list: head and tail containers added around the originals,
// each original unchanged but for one appended secrets mount.
func (c *checker) containers(list string, before, after []json.RawMessage, head, tail int) {
	if len(after) != len(before)+head+tail {
		c.fail("%s: %d after the patch, want %d sent + %d added", list, len(after), len(before), head+tail)
		return
	}
	for i, b := range before {
		c.original(fmt.Sprintf("%s[%d]", list, i), b, after[head+i])
	}
	for i := range head {
		c.added(list, i, after[i])
	}
	for i := range tail {
		c.added(list, head+len(before)+i, after[head+len(before)+i])
	}
}

func (c *checker) original(where string, before, after json.RawMessage) {
	bo, ao := c.object(where, before), c.object(where, after)
	c.sameExcept(where, bo, ao, "volumeMounts")
	bm, am := c.list(bo["volumeMounts"]), c.list(ao["volumeMounts"])
	if len(am) < len(bm) {
		c.fail("%s: %d mounts after the patch, %d before; want only appended ones", where, len(am), len(bm))
		return
	}
	for i := range bm {
		if !same(bm[i], am[i]) {
			c.fail("%s.volumeMounts[%d] changed", where, i)
		}
	}
	if len(am) > len(bm) {
		// Read-only, or read-write (no readOnly) with volume-read-write: the unit tests check
		// which one a pod gets.
		want := map[string]any{"name": contract.SecretsVolume, "mountPath": c.volumePath, "readOnly": true}
		rw := map[string]any{"name": contract.SecretsVolume, "mountPath": c.volumePath}
		var got map[string]any
		if json.Unmarshal(am[len(bm)], &got) != nil || !reflect.DeepEqual(got, want) && !reflect.DeepEqual(got, rw) {
			c.fail("%s: appended mount %s, want %v (readOnly true or absent)", where, am[len(bm)], want)
		}
		// Further ones (volume-path-<name>): the same volume, as read-only as the first, each at
		// its own path.
		paths := map[any]bool{got["mountPath"]: true}
		for _, m := range am[len(bm)+1:] {
			var extra map[string]any
			if json.Unmarshal(m, &extra) != nil || extra["name"] != contract.SecretsVolume || extra["readOnly"] != got["readOnly"] || len(extra) != len(got) {
				c.fail("%s: further appended mount %s, want the secrets volume as %v", where, m, got)
			}
			if paths[extra["mountPath"]] {
				c.fail("%s: mounts the secrets volume twice at %v", where, extra["mountPath"])
			}
			paths[extra["mountPath"]] = true
		}
	}
}

// added checks a container the patch adds: one op carries it whole, and it is locked down.
func (c *checker) added(list string, i int, got json.RawMessage) {
	where := fmt.Sprintf("added %s[%d]", list, i)
	var whole bool
	for _, op := range c.ops {
		b, err := json.Marshal(op.Value)
		switch {
		case err != nil:
		case op.Path == "/spec/"+list: // the pod had none: the whole list was added
			var l []json.RawMessage
			whole = whole || json.Unmarshal(b, &l) == nil && i < len(l) && same(l[i], got)
		case strings.HasPrefix(op.Path, "/spec/"+list+"/") && strings.Count(op.Path, "/") == 3:
			whole = whole || same(b, got)
		}
	}
	if !whole {
		c.fail("%s: no single op adds this container whole: %s", where, got)
	}
	var ctr struct {
		Name            string
		Command         []string
		EnvFrom         []json.RawMessage
		Env             []json.RawMessage
		SecurityContext *struct {
			RunAsNonRoot             *bool
			ReadOnlyRootFilesystem   *bool
			AllowPrivilegeEscalation *bool
			Privileged               *bool
			Capabilities             *struct{ Add, Drop []string }
			SeccompProfile           *struct{ Type string }
		}
	}
	if err := json.Unmarshal(got, &ctr); err != nil {
		c.fail("%s: %v", where, err)
		return
	}
	if ctr.Name != contract.AgentContainer && ctr.Name != contract.AgentInitContainer {
		c.fail("%s is named %q, not an agent name", where, ctr.Name)
	}
	if !slices.Equal(ctr.Command, []string{contract.AgentBinary}) || len(ctr.EnvFrom) > 0 || len(ctr.Env) > 0 {
		c.fail("%s: command %q, %d envFrom, %d env; want the agent binary and no environment", where, ctr.Command, len(ctr.EnvFrom), len(ctr.Env))
	}
	sc := ctr.SecurityContext
	if sc == nil || !isTrue(sc.RunAsNonRoot) || !isTrue(sc.ReadOnlyRootFilesystem) || sc.AllowPrivilegeEscalation == nil ||
		*sc.AllowPrivilegeEscalation || isTrue(sc.Privileged) || sc.Capabilities == nil || len(sc.Capabilities.Add) > 0 ||
		!slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) || sc.SeccompProfile == nil || sc.SeccompProfile.Type != "RuntimeDefault" {
		c.fail("%s does not meet the restricted Pod Security Standard: %s", where, got)
	}
}

func isTrue(b *bool) bool { return b != nil && *b }
