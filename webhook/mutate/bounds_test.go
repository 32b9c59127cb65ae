package mutate

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/internal/jsonwrite"
	"github.com/vault-injector/vault-injector/webhook/annotations"
)

// boundsPod is an opted-in pod as JSON with the given spec, and the metadata fields in meta
// (annotations added to the opt-in ones).
func boundsPod(t testing.TB, spec map[string]any, meta map[string]map[string]string) []byte {
	t.Helper()
	a := map[string]string{contract.AnnotationInject: "true", contract.AnnotationRole: "r", contract.AnnotationSecretPrefix + "s": "kv/s"}
	maps.Copy(a, meta["annotations"])
	m := map[string]any{"name": "p", "annotations": a}
	if l, ok := meta["labels"]; ok {
		m["labels"] = l
	}
	raw, err := json.Marshal(map[string]any{"metadata": m, "spec": spec})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// containers are n containers named c0, c1 ..., each with the mounts mounts gives it.
func containers(n int, mounts func(i int) []any) []any {
	out := make([]any, n)
	for i := range out {
		c := map[string]any{"name": fmt.Sprintf("c%d", i)}
		if mounts != nil {
			c["volumeMounts"] = mounts(i)
		}
		out[i] = c
	}
	return out
}

func mountsOf(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"name": fmt.Sprintf("v%d", i), "mountPath": fmt.Sprintf("/m/%d", i)}
	}
	return out
}

// entries are n map entries of size bytes each, keys plus values.
func entries(n, size int) map[string]string {
	m := map[string]string{}
	for i := range n {
		k := fmt.Sprintf("k%06d", i)
		m[k] = strings.Repeat("v", size-len(k))
	}
	return m
}

func volumesOf(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"name": fmt.Sprintf("v%d", i), "emptyDir": map[string]any{}}
	}
	return out
}

// TestDecodeBounds: each list over its bound is refused while decoding, with a message naming
// the list, its full length, the limit and why it exists; at the bounds the pod decodes.
func TestDecodeBounds(t *testing.T) {
	const why = "which bounds the webhook's memory per admission"
	tests := []struct {
		name string
		spec map[string]any
		want string // "" decodes
	}{
		{"containers at the limit", map[string]any{"containers": containers(MaxContainers, nil),
			"initContainers": containers(MaxContainers, nil), "ephemeralContainers": containers(MaxContainers, nil)}, ""},
		{"containers", map[string]any{"containers": containers(MaxContainers+1, nil)},
			"too many entries in spec.containers: 257, over this webhook's limit of 256, " + why},
		{"init containers", map[string]any{"initContainers": containers(1000, nil)},
			"too many entries in spec.initContainers: 1000, over this webhook's limit of 256"},
		{"ephemeral containers", map[string]any{"ephemeralContainers": containers(300, nil)},
			"too many entries in spec.ephemeralContainers: 300, over this webhook's limit of 256"},
		{"volumes at the limit", map[string]any{"volumes": volumesOf(MaxVolumes)}, ""},
		{"volumes", map[string]any{"volumes": volumesOf(MaxVolumes + 5)},
			"too many entries in spec.volumes: 1029, over this webhook's limit of 1024, " + why + " (real pods have far fewer): use fewer volumes"},
		{"mounts of one container at the limit", map[string]any{"containers": containers(1, func(int) []any { return mountsOf(MaxContainerMounts) })}, ""},
		{"mounts of one container", map[string]any{"containers": containers(3, func(i int) []any { return mountsOf(1 + i*MaxContainerMounts) })},
			"too many entries in spec.containers[1].volumeMounts: 1025, over this webhook's limit of 1024, " + why},
		{"mounts of an init container", map[string]any{"initContainers": containers(2, func(i int) []any { return mountsOf(i * 2000) })},
			"too many entries in spec.initContainers[1].volumeMounts: 2000"},
		{"mounts in all at the limit", map[string]any{"containers": containers(4, func(int) []any { return mountsOf(MaxContainerMounts) })}, ""},
		{"mounts in all", map[string]any{
			"initContainers":      containers(2, func(int) []any { return mountsOf(1000) }),
			"containers":          containers(2, func(int) []any { return mountsOf(1000) }),
			"ephemeralContainers": containers(2, func(int) []any { return mountsOf(1000) })},
			"too many volumeMounts in all containers together: 6000, over this webhook's limit of 4096, " + why + " (real pods have far fewer): mount fewer volumes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkBound(t, boundsPod(t, tt.spec, nil), tt.want)
		})
	}
}

// TestDecodeMetadataBounds: annotations over the API server's limit, and labels over the same,
// are refused while decoding; a longer pod is not held.
func TestDecodeMetadataBounds(t *testing.T) {
	tests := []struct {
		name string
		meta map[string]map[string]string
		want string
	}{
		{"annotations at the limit", map[string]map[string]string{"annotations": entries(MaxMetadataBytes/1024-1, 1024)}, ""},
		{"annotations", map[string]map[string]string{"annotations": entries(2000, 1024)},
			"too many bytes in metadata.annotations (keys plus values): 2048"},
		{"labels at the limit", map[string]map[string]string{"labels": entries(MaxMetadataBytes/64, 64)}, ""},
		{"labels", map[string]map[string]string{"labels": entries(100000, 20)},
			"too many bytes in metadata.labels (keys plus values): 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkBound(t, boundsPod(t, nil, tt.meta), tt.want)
		})
	}
	_, err := Decode(boundsPod(t, nil, map[string]map[string]string{"annotations": entries(1000, 1000)}))
	for _, w := range []string{"over the API server's limit of 262144, which also bounds the webhook's memory per admission",
		"shorten the largest annotations: k000000 (1000 bytes), k000001 (1000 bytes), k000002 (1000 bytes)"} {
		if !strings.Contains(fmt.Sprint(err), w) {
			t.Errorf("message lacks %q: %v", w, err)
		}
	}
	_, err = Decode(boundsPod(t, nil, map[string]map[string]string{"labels": entries(100000, 20)}))
	if w := "over this webhook's limit of 262144, which bounds the webhook's memory per admission (real pods have far fewer): carry fewer labels"; !strings.Contains(fmt.Sprint(err), w) {
		t.Errorf("message lacks %q: %v", w, err)
	}
}

// checkBound decodes raw and wants it decoded (want "") or refused with a *LimitError whose
// message says want.
func checkBound(t *testing.T, raw []byte, want string) {
	t.Helper()
	pod, err := Decode(raw)
	if want == "" {
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	var limit *LimitError
	if !errors.As(err, &limit) || pod != nil {
		t.Fatalf("Decode = %v, %v; want a *LimitError", pod != nil, err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("message lacks %q:\n%.600s", want, err)
	}
}

// TestDecodeHoldsNoLongList: the entries past a bound are counted, not decoded. 3 MiB of
// trivial containers allocated over 300 MiB before the bounds; now about the pod's size.
func TestDecodeHoldsNoLongList(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"spec":{"containers":[`)
	for i := 0; b.Len() < MaxPodBytes-64; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":"c%d"}`, i)
	}
	b.WriteString(`]}}`)
	raw := []byte(b.String())
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Decode(raw)
	runtime.ReadMemStats(&after)
	if !strings.Contains(fmt.Sprint(err), "too many entries in spec.containers") {
		t.Fatalf("Decode = %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("decoding a %d-byte pod allocated %d bytes", len(raw), n)
	}
}

// TestPatchEstimate holds the plan's estimate of its patch above the patch, and within a few
// KiB of it, on the golden pods in each shape and with long volume paths and quotes.
func TestPatchEstimate(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var pods []*corev1.Pod
	for _, f := range files {
		if strings.HasSuffix(f, ".golden.yaml") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := yaml.YAMLToJSON(src)
		if err != nil {
			t.Fatal(err)
		}
		pod, err := Decode(raw)
		if err != nil {
			t.Fatal(f, err)
		}
		pods = append(pods, pod)
	}
	quoted := testPod(map[string]string{contract.AnnotationVolumePath: "/a\"b\\c/" + strings.Repeat("\u2028é\"", 100),
		contract.AnnotationTemplatePrefix + "s": strings.Repeat(`{{ "\"" }}`, 1000), contract.AnnotationTLSSecret: "tls"},
		"a", "b", "c")
	quoted.Spec.InitContainers = []corev1.Container{{Name: "i"}}
	pods = append(pods, quoted)
	checked := 0
	for i, pod := range pods {
		for _, classic := range []bool{false, true} {
			d := testDefaults()
			if classic {
				d.Sidecar = SidecarClassic
			}
			opts, _, err := annotations.Parse(pod.Annotations)
			if err != nil || !annotations.OptedIn(pod.Annotations) || pod.Annotations[contract.AnnotationStatus] != "" {
				continue
			}
			p, err := newPlan(pod, opts, d)
			if err != nil {
				continue // refusals are tested elsewhere
			}
			b, err := EncodePatch(p.patch(pod))
			if err != nil {
				t.Fatal(err)
			}
			est, _ := p.patchBytes(pod, p.config)
			if est < len(b) || est > len(b)+patchFixedBytes {
				t.Errorf("pod %d (%s), classic %v: estimate %d, patch %d bytes", i, pod.Name, classic, est, len(b))
			}
			checked++
		}
	}
	if checked < len(pods) {
		t.Errorf("only %d patches checked", checked)
	}
}

// TestPatchBudget: a patch over MaxPatchBytes is refused before it is built, naming the mounts
// that make it and the two annotations that shrink it.
func TestPatchBudget(t *testing.T) {
	long := "/vault/" + strings.Repeat("s", 3000)
	pod := testPod(map[string]string{contract.AnnotationVolumePath: long})
	for i := range MaxContainers {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i)})
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{Name: fmt.Sprintf("i%d", i)})
	}
	checkDenial(t, pod, nil, DenyConflict, []string{"the patch would be about", "over this webhook's limit of 1572864 bytes",
		"which bounds the webhook's memory per admission", "each of its 512 secrets mounts", "vault-injector.io/volume-path (3007 bytes)",
		"select fewer containers with vault-injector.io/containers"})
	// The same pod with half its containers selected fits.
	names := make([]string, 0, MaxContainers)
	for i := range MaxContainers {
		names = append(names, fmt.Sprintf("c%d", i))
	}
	pod.Annotations[contract.AnnotationContainers] = strings.Join(names, ",")
	if _, err := Pod(pod, testDefaults()); err != nil {
		t.Fatal(err)
	}
}

func TestJSONLen(t *testing.T) {
	for _, s := range []string{"", "plain /vault/secrets", "a\"\\\b\f\n\r\t\x01\x1f<>&\u2028\u2029é\xff\x7f", "\xe2\x80", "日本語\x00"} {
		if got, want := jsonLen(s), len(jsonwrite.AppendString(nil, s)); got != want {
			t.Errorf("jsonLen(%q) = %d, want %d", s, got, want)
		}
	}
}
