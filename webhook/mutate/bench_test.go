package mutate

import (
	"bytes"
	"os"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/vault-injector/vault-injector/contract"
)

// BenchmarkPod measures the mutation core alone on a typical pod with three secrets.
func BenchmarkPod(b *testing.B) {
	pod := testPod(map[string]string{
		contract.AnnotationSecretPrefix + "db": "secret/data/app/db", contract.AnnotationFormatPrefix + "db": "env",
		contract.AnnotationSecretPrefix + "api": "secret/app/api", contract.AnnotationTemplatePrefix + "api": "{{ .Data.key }}",
	}, "app", "worker")
	d := testDefaults()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Pod(pod, d); err != nil {
			b.Fatal(err)
		}
	}
}

// realistic is a Deployment's realistic pod as JSON, as the API server sends it.
func realistic(b *testing.B) []byte {
	src, err := os.ReadFile("testdata/realistic.yaml")
	if err != nil {
		b.Fatal(err)
	}
	raw, err := yaml.YAMLToJSON(src)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkDecode measures reading the realistic pod.
func BenchmarkDecode(b *testing.B) {
	raw := realistic(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodePatch measures writing the realistic pod's patch into a reused buffer, as the
// webhook does for every response.
func BenchmarkEncodePatch(b *testing.B) {
	pod, err := Decode(realistic(b))
	if err != nil {
		b.Fatal(err)
	}
	res, err := Pod(pod, testDefaults())
	if err != nil || len(res.Patch) == 0 {
		b.Fatalf("no patch: %v", err)
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := AppendPatch(&buf, res.Patch); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}
