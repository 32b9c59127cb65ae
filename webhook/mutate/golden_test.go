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

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/webhook/config"
	"github.com/vault-injector/vault-injector/webhook/mutate"
	"github.com/vault-injector/vault-injector/webhook/mutate/patchcheck"
	"github.com/vault-injector/vault-injector/webhook/preview"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml from the current output")

// TestGolden injects every testdata/<case>.yaml the way the webhook does (decode, plan, patch),
// applies the patch to the raw input, checks it with the independent oracle (patchcheck), and
// compares the resulting pod with testdata/<case>.golden.yaml and its agent config with
// contract/testdata/<case>.json. A "# flags:" line sets the webhook's flags for a case.
func TestGolden(t *testing.T) {
	if cases := eachCase(t, "testdata/*.yaml", func(t *testing.T, in string) {
		checkGolden(t, in, strings.TrimSuffix(in, ".yaml")+".golden.yaml")
	}); cases < 12 {
		t.Errorf("only %d golden cases; the contract needs at least 12", cases)
	}
}

// eachCase runs check in parallel on every input matching glob (files not ending in
// .golden.yaml), flags goldens whose input is gone, and returns the number of inputs.
func eachCase(t *testing.T, glob string, check func(t *testing.T, in string)) int {
	t.Helper()
	inputs, err := filepath.Glob(glob)
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
			check(t, in)
		})
	}
	return cases
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
	res, patched := inject(t, raw, d)
	got := render(t, patched, res.Warnings)
	compareGolden(t, goldenFile, got)
	checkPreview(t, inFile, src, d, got)
	if res.Skipped == "" {
		cfg := agentConfig(t, patched)
		compareGolden(t, filepath.Join("..", "..", "contract", "testdata", filepath.Base(strings.TrimSuffix(inFile, ".yaml"))+".json"), cfg)
	}
	secondPass(t, patched, d)
}

// inject runs the core on raw as the handler does, checks its patch with the independent
// oracle and for determinism, and returns the patched pod (raw itself when skipped).
func inject(t *testing.T, raw []byte, d mutate.Defaults) (mutate.Result, []byte) {
	t.Helper()
	pod, err := mutate.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	before := pod.DeepCopy()
	res, err := mutate.Pod(pod, d)
	if err != nil {
		t.Fatalf("mutate.Pod: %v", err)
	}
	if !equality.Semantic.DeepEqual(before, pod) {
		t.Fatal("mutate.Pod changed its input")
	}
	var full corev1.Pod
	if err := json.Unmarshal(raw, &full); err != nil {
		t.Fatal(err)
	}
	fullRes, _ := mutate.Pod(&full, d)
	if a, b := mustJSON(t, res), mustJSON(t, fullRes); !bytes.Equal(a, b) {
		t.Errorf("Decode drops a field the plan reads: the fully decoded pod gives\n%s\nDecode's gives\n%s", b, a)
	}
	if res.Skipped != "" {
		if len(res.Patch) > 0 {
			t.Fatalf("skipped (%s) with a patch", res.Skipped)
		}
		return res, raw
	}
	again, _ := mutate.Pod(pod, d)
	if a, b := mustJSON(t, res.Patch), mustJSON(t, again.Patch); !bytes.Equal(a, b) {
		t.Errorf("the same pod gave two different patches:\n%s\n%s", a, b)
	}
	if got, want := mustEncodePatch(t, res.Patch), referencePatch(t, res.Patch); !bytes.Equal(got, want) {
		t.Errorf("EncodePatch differs from encoding/json:\n%s\nwant\n%s", got, want)
	}
	patched, err := mutate.Apply(raw, res.Patch)
	if err != nil {
		t.Fatal(err)
	}
	volumePath := pod.Annotations[contract.AnnotationVolumePath]
	if volumePath == "" {
		volumePath = pod.Annotations["vault.hashicorp.com/secret-volume-path"] // a vault-k8s pod
	}
	if volumePath == "" {
		volumePath = contract.DefaultVolumePath
	}
	if err := patchcheck.Verify(raw, patched, res.Patch, volumePath); err != nil {
		t.Errorf("the patch breaks the injector's promises:\n%v", err)
	}
	return res, patched
}

func mustEncodePatch(t *testing.T, ops []jsonpatch.Operation) []byte {
	t.Helper()
	b, err := mutate.EncodePatch(ops)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// referencePatch is the patch as encoding/json writes it (HTML not escaped): the bytes the
// hand-written encoder must match.
func referencePatch(t *testing.T, ops []jsonpatch.Operation) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	b.WriteByte('[')
	for i, op := range ops {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := enc.Encode(struct {
			Op    string `json:"op"`
			Path  string `json:"path"`
			Value any    `json:"value"`
		}{op.Operation, op.Path, op.Value}); err != nil {
			t.Fatal(err)
		}
		b.Truncate(b.Len() - 1)
	}
	b.WriteByte(']')
	return b.Bytes()
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// agentConfig is the agent's config as the patched pod carries it, indented: the contract's
// testdata, which the agent's own tests load (agent/render), so both sides read one file.
func agentConfig(t *testing.T, patched []byte) []byte {
	t.Helper()
	var pod corev1.Pod
	if err := json.Unmarshal(patched, &pod); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(pod.Annotations[contract.AnnotationAgentConfig]), "", "  "); err != nil {
		t.Fatal(err)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// compareGolden compares got with file, or rewrites file under -update.
func compareGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("missing golden (run go test ./webhook/mutate -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (rerun with -update if intended):\n%s", file, diffLines(string(want), string(got)))
	}
}

// checkPreview runs `webhook inject` (package preview) over the case: it must print the golden
// pod and give the same warnings, so the preview shows exactly what the webhook does.
func checkPreview(t *testing.T, inFile string, src []byte, d mutate.Defaults, golden []byte) {
	t.Helper()
	var out bytes.Buffer
	var res preview.Result
	if err := preview.Inject(inFile, bytes.NewReader(src), d, &out, &res); err != nil || len(res.Errors) > 0 {
		t.Fatalf("preview: %v %v", err, res.Errors)
	}
	var warnings []string
	for _, w := range res.Warnings {
		_, w, _ = strings.Cut(w, ": ")
		_, w, _ = strings.Cut(w, ": ") // drop "<file>: <kind>/<name>: "
		warnings = append(warnings, w)
	}
	if want := render(t, mustJSON(t, yamlToAny(t, out.Bytes())), warnings); !bytes.Equal(want, golden) {
		t.Errorf("the preview differs from the golden:\n%s", diffLines(string(golden), string(want)))
	}
}

func yamlToAny(t *testing.T, y []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(y, &v); err != nil {
		t.Fatal(err)
	}
	return v
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
	if len(res.Patch) > 0 {
		t.Errorf("second pass injected again (shape %s); want the pod unchanged", res.Shape)
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
