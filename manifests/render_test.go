package manifests

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

const chartDir = "helm/vault-injector"

// testKubeVersion is the cluster the tests run against (test/tools/install.sh).
var testKubeVersion = chartutil.KubeVersion{Version: "v1.36.3", Major: "1", Minor: "36"}

// object is one rendered manifest: always unstructured, and typed when client-go knows the kind.
type object struct {
	U     *unstructured.Unstructured
	Typed runtime.Object
	Raw   []byte
}

func (o object) key() string { return o.U.GetKind() + "/" + o.U.GetName() }

// strictDecoder rejects unknown and duplicate fields: a typo in a manifest fails here instead of
// being dropped silently by the API server.
var strictDecoder = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// decode splits a multi-document YAML stream into objects.
func decode(t *testing.T, b []byte) []object {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var out []object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading YAML: %v", err)
		}
		if len(bytes.TrimSpace(doc)) == 0 || strings.TrimSpace(string(doc)) == "---" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := utilyaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatalf("decoding %s: %v", doc, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		o := object{U: u, Raw: doc}
		if scheme.Scheme.Recognizes(u.GroupVersionKind()) {
			if o.Typed, _, err = strictDecoder.Decode(doc, nil, nil); err != nil {
				t.Fatalf("%s/%s: %v", u.GetKind(), u.GetName(), err)
			}
		}
		out = append(out, o)
	}
	if len(out) == 0 {
		t.Fatal("no objects rendered")
	}
	return out
}

// find returns the typed object of kind and name, failing the test when it is missing.
func find[T runtime.Object](t *testing.T, objs []object, kind, name string) T {
	t.Helper()
	for _, o := range objs {
		if o.U.GetKind() == kind && o.U.GetName() == name {
			if v, ok := o.Typed.(T); ok {
				return v
			}
		}
	}
	var zero T
	t.Fatalf("%s %q not rendered", kind, name)
	return zero
}

func findU(t *testing.T, objs []object, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.U.GetKind() == kind && o.U.GetName() == name {
			return o.U
		}
	}
	t.Fatalf("%s %q not rendered", kind, name)
	return nil
}

func keys(objs []object, skipKinds ...string) []string {
	var out []string
	for _, o := range objs {
		if !contains(skipKinds, o.U.GetKind()) {
			out = append(out, o.key())
		}
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// kustomize renders a kustomization as `kubectl kustomize` does: with the kustomize library
// the pinned kubectl embeds (v0.21.1 in Kubernetes v1.36), so no binary is needed.
func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// renderChart renders the chart as `helm template` would for an install of release into ns.
func renderChart(t *testing.T, release, ns string, values map[string]any) []byte {
	t.Helper()
	out, err := renderChartErr(release, ns, values)
	if err != nil {
		t.Fatalf("rendering chart: %v", err)
	}
	return out
}

func renderChartErr(release, ns string, values map[string]any) ([]byte, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return nil, err
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = testKubeVersion
	vals, err := chartutil.ToRenderValues(ch, values, chartutil.ReleaseOptions{
		Name: release, Namespace: ns, Revision: 1, IsInstall: true,
	}, caps)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		if !strings.HasSuffix(name, "NOTES.txt") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, name := range names {
		if strings.TrimSpace(files[name]) != "" {
			b.WriteString("---\n# Source: " + name + "\n" + files[name] + "\n")
		}
	}
	return b.Bytes(), nil
}
