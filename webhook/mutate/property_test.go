package mutate_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/webhook/mutate"
	"github.com/vault-injector/vault-injector/webhook/mutate/patchcheck"
)

// TestPatchProperty injects generated pods (0-4 init containers, native sidecars among them,
// 1-4 containers, every field kind, fields this build does not know) and holds every patch to
// the oracle: originals byte for byte, added containers whole and locked down, one patch per
// pod, and nothing more on reinvocation.
func TestPatchProperty(t *testing.T) {
	for seed := range uint64(400) {
		checkGenerated(t, seed)
	}
}

// FuzzPatch explores the same property from fuzzed seeds.
func FuzzPatch(f *testing.F) {
	for seed := range uint64(8) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) { checkGenerated(t, seed) })
}

func checkGenerated(t *testing.T, seed uint64) {
	t.Helper()
	raw, volumePath := generatePod(seed)
	checkDecode(t, raw)
	d := defaultsFromHeader(t, nil)
	if seed%3 == 0 {
		d.Sidecar = mutate.SidecarClassic
	}
	res, patched := inject(t, raw, d)
	if t.Failed() {
		t.Fatalf("seed %d: pod %s", seed, raw)
	}
	if res.Skipped != "" {
		t.Fatalf("seed %d: skipped (%s): %s", seed, res.Skipped, raw)
	}
	if err := patchcheck.Verify(raw, patched, res.Patch, volumePath); err != nil {
		t.Fatalf("seed %d: %v\npod: %s", seed, err, raw)
	}
	secondPass(t, patched, d)
}

// generatePod builds an opted-in pod as JSON from seed, and says where its secrets go.
func generatePod(seed uint64) ([]byte, string) {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	ann := map[string]any{
		contract.AnnotationInject: "true", contract.AnnotationRole: "r",
		contract.AnnotationSecretPrefix + "db": "secret/data/db", "team": "x/y~z",
	}
	if r.IntN(3) == 0 {
		ann[contract.AnnotationMode] = contract.ModeInitOnly
	}
	volumePath := contract.DefaultVolumePath
	if r.IntN(3) == 0 {
		volumePath = "/etc/app/secrets"
		ann[contract.AnnotationVolumePath] = volumePath
	}
	var names []string
	initContainers := make([]any, r.IntN(5))
	for i := range initContainers {
		c := genContainer(r, fmt.Sprintf("init-%d", i))
		if r.IntN(2) == 0 {
			c["restartPolicy"] = "Always"
		}
		initContainers[i] = c
		names = append(names, c["name"].(string))
	}
	containers := make([]any, 1+r.IntN(4))
	for i := range containers {
		containers[i] = genContainer(r, fmt.Sprintf("app-%d", i))
		names = append(names, containers[i].(map[string]any)["name"].(string))
	}
	if r.IntN(2) == 0 {
		var chosen []string
		for _, n := range names {
			if r.IntN(2) == 0 {
				chosen = append(chosen, n)
			}
		}
		if len(chosen) > 0 {
			ann[contract.AnnotationContainers] = strings.Join(chosen, ",")
		}
	}
	spec := map[string]any{"containers": containers, "futurePodField": map[string]any{"x": r.IntN(9)}}
	if len(initContainers) > 0 || r.IntN(2) == 0 {
		spec["initContainers"] = initContainers // sometimes present and empty
	}
	switch r.IntN(3) {
	case 0:
		spec["volumes"] = []any{map[string]any{"name": "data", "emptyDir": map[string]any{}, "futureVolumeField": 1}}
	case 1:
		spec["volumes"] = nil
	}
	pod := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"generateName": "gen-", "annotations": ann, "labels": map[string]any{"app": "gen"}},
		"spec":     spec,
	}
	b, err := json.Marshal(pod)
	if err != nil {
		panic(err)
	}
	return b, volumePath
}

// genContainer gives a container a random subset of every kind of field.
func genContainer(r *rand.Rand, name string) map[string]any {
	c := map[string]any{"name": name, "image": "registry.example.com/" + name + ":1"}
	fields := []func(){
		func() { c["command"] = []any{"sh", "-c", "until nc -z db 5432; do sleep 1; done"} },
		func() { c["args"] = []any{"--flag", "<&>"} },
		func() { c["workingDir"] = "/work" },
		func() { c["env"] = []any{map[string]any{"name": "A", "value": "1"}} },
		func() { c["envFrom"] = []any{map[string]any{"secretRef": map[string]any{"name": "s"}}} },
		func() {
			c["volumeMounts"] = []any{map[string]any{"name": "cfg", "mountPath": "/etc/cfg", "readOnly": true, "futureMountField": "v"}}
		},
		func() { c["volumeMounts"] = []any{} },
		func() {
			c["securityContext"] = map[string]any{"capabilities": map[string]any{"add": []any{"NET_ADMIN", "SYS_ADMIN"}}}
		},
		func() { c["resources"] = map[string]any{"limits": map[string]any{"cpu": "1", "memory": "1Gi"}} },
		func() { c["livenessProbe"] = map[string]any{"httpGet": map[string]any{"path": "/", "port": 8080}} },
		func() { c["ports"] = []any{map[string]any{"containerPort": 8080, "name": "http"}} },
		func() { c["terminationMessagePath"] = "/dev/custom" },
		func() { c["futureContainerField"] = map[string]any{"nested": []any{1, "two"}} },
	}
	for _, f := range fields {
		if r.IntN(2) == 0 {
			f()
		}
	}
	return c
}
