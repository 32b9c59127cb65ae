package patchcheck

import (
	"encoding/json"
	"strings"
	"testing"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	"gomodules.xyz/jsonpatch/v2"

	"github.com/vault-injector/vault-injector/contract"
)

const sent = `{"metadata":{"annotations":{"a":"1"}},"spec":{
 "initContainers":[{"name":"wait","image":"busybox","command":["sh","-c","x"],"future":[1]}],
 "containers":[{"name":"app","image":"app","volumeMounts":[{"name":"cfg","mountPath":"/cfg","readOnly":true}]}],
 "volumes":[{"name":"cfg","configMap":{"name":"c"}}]}}`

var (
	agent = map[string]any{"name": contract.AgentContainer, "image": "agent", "command": []any{contract.AgentBinary},
		"securityContext": map[string]any{"runAsNonRoot": true, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
			"capabilities": map[string]any{"drop": []any{"ALL"}}, "seccompProfile": map[string]any{"type": "RuntimeDefault"}}}
	mount = map[string]any{"name": contract.SecretsVolume, "mountPath": contract.DefaultVolumePath, "readOnly": true}
	good  = []jsonpatch.Operation{
		{Operation: "add", Path: "/metadata/annotations/vault-injector.io~1status", Value: contract.StatusInjected},
		{Operation: "add", Path: "/metadata/annotations/vault-injector.io~1agent-config", Value: `{"version":"v1","vault":{"address":"https://v:8200"},"auth":{"path":"auth/kubernetes","role":"r","tokenFile":"/t"},"secrets":[{"name":"a","path":"kv/a","format":"json","file":"a","perms":"0400"}],"secretsDir":"/vault/secrets","refresh":"5m","initTimeout":"2m","backoff":{"min":"1s","max":"30s"}}`},
		{Operation: "add", Path: "/metadata/labels", Value: map[string]any{contract.LabelInjected: contract.LabelInjectedValue}},
		{Operation: "add", Path: "/spec/volumes/-", Value: map[string]any{"name": contract.SecretsVolume, "emptyDir": map[string]any{}}},
		{Operation: "add", Path: "/spec/initContainers/0/volumeMounts", Value: []any{mount}},
		{Operation: "add", Path: "/spec/containers/0/volumeMounts/-", Value: mount},
		{Operation: "add", Path: "/spec/initContainers/0", Value: agent},
	}
)

// TestVerify holds the oracle to account: the good patch passes, and each way a patch can
// break the injector's promises is caught.
func TestVerify(t *testing.T) {
	if err := verify(t, good); err != nil {
		t.Fatalf("the good patch is refused: %v", err)
	}
	with := func(extra ...jsonpatch.Operation) []jsonpatch.Operation {
		return append(append([]jsonpatch.Operation{}, good...), extra...)
	}
	for name, tt := range map[string]struct {
		ops  []jsonpatch.Operation
		want string
	}{
		"a replace op":            {with(jsonpatch.Operation{Operation: "replace", Path: "/spec/containers/0/image", Value: "x"}), "may only add"},
		"an edit of a user field": {with(jsonpatch.Operation{Operation: "add", Path: "/spec/initContainers/1/args", Value: []any{"-c"}}), "initContainers[0].args was added"},
		"an unknown field lost":   {with(jsonpatch.Operation{Operation: "remove", Path: "/spec/initContainers/1/future"}), "initContainers[0].future changed"},
		"a second mount":          {with(jsonpatch.Operation{Operation: "add", Path: "/spec/containers/0/volumeMounts/-", Value: mount}), "mounts the secrets volume twice at"},
		"an agent edited in place": {with(jsonpatch.Operation{Operation: "add", Path: "/spec/initContainers/0/env", Value: []any{map[string]any{"name": "X", "value": "y"}}}),
			"no single op adds this container whole"},
		"a capability added": {with(jsonpatch.Operation{Operation: "add", Path: "/spec/initContainers/0/securityContext/capabilities/add", Value: []any{"NET_ADMIN"}}),
			"restricted Pod Security Standard"},
		"a foreign annotation":      {with(jsonpatch.Operation{Operation: "add", Path: "/metadata/annotations/x", Value: "y"}), "unexpected annotation x"},
		"a user annotation changed": {with(jsonpatch.Operation{Operation: "add", Path: "/metadata/annotations/a", Value: "2"}), "annotation a changed"},
		"a pod field changed":       {with(jsonpatch.Operation{Operation: "add", Path: "/spec/hostNetwork", Value: true}), "spec.hostNetwork was added"},
		"no injected label":         {append(append([]jsonpatch.Operation{}, good[:2]...), good[3:]...), "label vault-injector.io/injected is \"\""},
		"a foreign label":           {with(jsonpatch.Operation{Operation: "add", Path: "/metadata/labels/x", Value: "y"}), "unexpected label x"},
		"the injected label false":  {with(jsonpatch.Operation{Operation: "add", Path: "/metadata/labels/vault-injector.io~1injected", Value: "false"}), `want "true"`},
		"shareProcessNamespace off": {with(jsonpatch.Operation{Operation: "add", Path: "/spec/shareProcessNamespace", Value: false}), "only true may be added"},
		"a foreign volume":          {with(jsonpatch.Operation{Operation: "add", Path: "/spec/volumes/-", Value: map[string]any{"name": "host", "hostPath": map[string]any{"path": "/"}}}), `"host" is not one of the injector's`},
	} {
		t.Run(name, func(t *testing.T) {
			err := verify(t, tt.ops)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Verify = %v; want it to say %q", err, tt.want)
			}
		})
	}
}

func verify(t *testing.T, ops []jsonpatch.Operation) error {
	t.Helper()
	b, err := json.Marshal(ops)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatchapply.DecodePatch(b)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := p.Apply([]byte(sent))
	if err != nil {
		t.Fatal(err)
	}
	return Verify([]byte(sent), patched, ops, contract.DefaultVolumePath)
}
