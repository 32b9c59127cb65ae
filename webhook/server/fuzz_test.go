package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

func runtimeRaw(s string) runtime.RawExtension { return runtime.RawExtension{Raw: []byte(s)} }

// FuzzAdmissionBody sends arbitrary bodies through the full HTTP handler with panic recovery
// off: any panic fails the fuzzer, and every answer must be a well-formed AdmissionReview.
// Each body also goes through scanIdentity, which reads refused ones.
func FuzzAdmissionBody(f *testing.F) {
	f.Add(admissionReview(f, "Pod", "ns", optedIn))
	f.Add(admissionReview(f, "Pod", "ns", `{"metadata":{"annotations":{"vault-injector.io/inject":"true"}}}`))
	f.Add(admissionReview(f, "Pod", "", `{"metadata":{"annotations":{"vault-injector.io/inject":"true","vault-injector.io/template-a":"{{"}}}`))
	f.Add([]byte(`{"request":{"object":null}}`))
	f.Add([]byte(`[]`))
	_, hook := testHandler(prometheus.NewRegistry())
	f.Add([]byte(`{"request":{"uid":"u","object":{"metadata":{"name":"cut`))
	f.Fuzz(func(t *testing.T, body []byte) {
		scanIdentity(body) // the refusals' reader of a cut body must not panic either
		req := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		hook.ServeHTTP(rec, req)
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
			t.Fatalf("answer is not an AdmissionReview: %v: %s", err, rec.Body.Bytes())
		}
	})
}

// BenchmarkHandler measures a full admission round trip in process (decode the review, plan,
// patch, encode the response) on a minimal pod and on a Deployment's realistic pod.
func BenchmarkHandler(b *testing.B) {
	for _, name := range []string{"minimal", "realistic"} {
		src, err := os.ReadFile("../mutate/testdata/" + name + ".yaml")
		if err != nil {
			b.Fatal(err)
		}
		pod, err := yaml.YAMLToJSON(src)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			_, hook := testHandler(prometheus.NewRegistry())
			body := admissionReview(b, "Pod", "shop", string(pod))
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				hook.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"patch"`)) {
					b.Fatalf("status %d: %s", rec.Code, rec.Body.Bytes())
				}
			}
		})
	}
}
