package mutate

import (
	"testing"

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
