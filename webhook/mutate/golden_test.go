package mutate_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/webhook/config"
	"github.com/vault-injector/vault-injector/webhook/mutate"
	"github.com/vault-injector/vault-injector/webhook/server"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml from the current output")

// TestGolden injects every testdata/<case>.yaml the way the webhook does (decode, mutate, diff
// against the raw object), applies the patch to the raw input, and compares the resulting pod
// with testdata/<case>.golden.yaml. A "# flags:" line sets the webhook's flags for a case.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := 0
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden.yaml") {
			if _, err := os.Stat(strings.TrimSuffix(in, ".golden.yaml") + ".yaml"); err != nil {
				t.Errorf("stale golden %s: its input is gone; delete it", in)
			}
			continue
		}
		cases++
		t.Run(strings.TrimSuffix(filepath.Base(in), ".yaml"), func(t *testing.T) {
			t.Parallel()
			checkGolden(t, in, strings.TrimSuffix(in, ".yaml")+".golden.yaml")
		})
	}
	if cases < 12 {
		t.Errorf("only %d golden cases; the contract needs at least 12", cases)
	}
}

func checkGolden(t *testing.T, inFile, goldenFile string) {
	src, err := os.ReadFile(inFile)
	if err != nil {
		t.Fatal(err)
	}
	d := defaultsFromHeader(t, src)
	raw, err := yaml.YAMLToJSON(src)
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(raw, &pod); err != nil {
		t.Fatal(err)
	}
	before := pod.DeepCopy()
	res, err := mutate.Pod(&pod, d)
	if err != nil {
		t.Fatalf("mutate.Pod: %v", err)
	}
	if !equality.Semantic.DeepEqual(before, &pod) {
		t.Fatal("mutate.Pod changed its input")
	}
	patched := raw
	if res.Pod != nil {
		patched = applyPatch(t, raw, &pod, res.Pod)
	}
	got := render(t, patched, res.Warnings)
	if *update {
		if err := os.WriteFile(goldenFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatalf("missing golden (run go test ./webhook/mutate -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (rerun with -update if intended):\n%s", goldenFile, diffLines(string(want), string(got)))
	}
	secondPass(t, patched, d)
}

// applyPatch runs the webhook's own response builder and applies its JSON patch to raw, as the
// API server would; the result must equal the pod the core built.
func applyPatch(t *testing.T, raw []byte, original, injected *corev1.Pod) []byte {
	t.Helper()
	resp := server.PatchResponse(raw, original, injected)
	if !resp.Allowed {
		t.Fatalf("patch response not allowed: %v", resp.Result)
	}
	for _, op := range resp.Patches {
		if op.Operation == "remove" {
			t.Errorf("patch removes %s, a field the injector does not own", op.Path)
		}
	}
	ops, err := json.Marshal(resp.Patches)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := p.Apply(raw)
	if err != nil {
		t.Fatalf("applying the webhook's patch: %v", err)
	}
	var back corev1.Pod
	if err := json.Unmarshal(patched, &back); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(&back, injected) {
		t.Error("the patched request object differs from the pod the core built")
	}
	return patched
}

// secondPass injects the injected pod again: nothing may change.
func secondPass(t *testing.T, patched []byte, d mutate.Defaults) {
	t.Helper()
	var pod corev1.Pod
	if err := json.Unmarshal(patched, &pod); err != nil {
		t.Fatal(err)
	}
	res, err := mutate.Pod(&pod, d)
	if err != nil {
		t.Fatalf("second pass: %v", err)
	}
	if res.Pod != nil {
		t.Errorf("second pass injected again (mode %s); want the pod unchanged", res.Mode)
	}
	if optedIn := pod.Annotations[contract.AnnotationInject] == "true"; optedIn && res.Skipped != mutate.SkipAlreadyInjected {
		t.Errorf("second pass skip reason %q, want %q", res.Skipped, mutate.SkipAlreadyInjected)
	}
}

// defaultsFromHeader parses "# flags: ..." with the webhook's real flag set.
func defaultsFromHeader(t *testing.T, src []byte) mutate.Defaults {
	t.Helper()
	cfg := config.New()
	cfg.Inject.VaultAddr = "https://vault.example.com:8200"
	cfg.Inject.AgentImage = "registry.example.com/vault-injector-agent:v0.1.0"
	fs := flag.NewFlagSet("golden", flag.ContinueOnError)
	cfg.BindInjection(fs)
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		if args, ok := strings.CutPrefix(sc.Text(), "# flags:"); ok {
			if err := fs.Parse(strings.Fields(args)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cfg.LoadInjection(); err != nil {
		t.Fatal(err)
	}
	return cfg.Inject
}

func render(t *testing.T, podJSON []byte, warnings []string) []byte {
	t.Helper()
	y, err := yaml.JSONToYAML(podJSON)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, w := range warnings {
		b.WriteString("# warning: " + w + "\n")
	}
	b.Write(y)
	return b.Bytes()
}

// diffLines shows the first differing lines, enough to see what changed.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for i := 0; i < max(len(w), len(g)) && len(out) < 20; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			out = append(out, "line "+itoa(i+1)+":\n  want: "+wl+"\n  got:  "+gl)
		}
	}
	return strings.Join(out, "\n")
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
