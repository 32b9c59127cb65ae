package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/webhook/mutate"
	"github.com/vault-injector/vault-injector/webhook/mutate/patchcheck"
)

func testHandler(reg prometheus.Registerer) (*Handler, http.Handler) {
	d := mutate.NewDefaults()
	d.VaultAddr = "https://vault:8200"
	d.AgentImage = "agent:v1"
	h := &Handler{Defaults: d, Metrics: NewMetrics(reg), Log: slog.New(slog.DiscardHandler)}
	return h, h
}

// admissionReview wraps an object (as JSON) in an AdmissionReview for a CREATE.
func admissionReview(t testing.TB, kind, namespace, object string) []byte {
	t.Helper()
	ar := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("uid-1"),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: kind},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: namespace,
			Operation: admissionv1.Create,
			Object:    runtimeRaw(object),
		},
	}
	b, err := json.Marshal(ar)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const optedIn = `{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"web-","annotations":{
 "vault-injector.io/inject":"true","vault-injector.io/role":"web","vault-injector.io/secret-db":"secret/db",
 "vault-injector.io/rol":"typo"}},"spec":{"containers":[{"name":"web","image":"web:1"}]}}`

// TestHandlerOverTLS posts admission reviews to the handler behind a real TLS listener.
func TestHandlerOverTLS(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, hook := testHandler(reg)
	srv := httptest.NewTLSServer(hook)
	t.Cleanup(srv.Close)
	client := srv.Client()

	post := func(body []byte) (int, admissionv1.AdmissionReview) {
		t.Helper()
		resp, err := client.Post(srv.URL, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out admissionv1.AdmissionReview
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("response is not an AdmissionReview: %v: %s", err, b)
		}
		return resp.StatusCode, out
	}

	t.Run("injects with a patch and warnings", func(t *testing.T) {
		_, out := post(admissionReview(t, "Pod", "shop", optedIn))
		r := out.Response
		if !r.Allowed || r.UID != "uid-1" || r.PatchType == nil || *r.PatchType != admissionv1.PatchTypeJSONPatch {
			t.Fatalf("response = %+v", r)
		}
		var ops []jsonpatch.Operation
		if err := json.Unmarshal(r.Patch, &ops); err != nil || len(ops) == 0 {
			t.Fatalf("patch %s: %v", r.Patch, err)
		}
		patched, err := mutate.Apply([]byte(optedIn), ops)
		if err != nil {
			t.Fatal(err)
		}
		if err := patchcheck.Verify([]byte(optedIn), patched, ops, contract.DefaultVolumePath); err != nil {
			t.Errorf("the patch on the wire breaks the injector's promises:\n%v", err)
		}
		if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "did you mean vault-injector.io/role?") {
			t.Errorf("warnings = %q", r.Warnings)
		}
	})
	t.Run("denies bad annotations with the message", func(t *testing.T) {
		bad := strings.Replace(optedIn, `"secret/db"`, `"/abs/path"`, 1)
		_, out := post(admissionReview(t, "Pod", "shop", bad))
		r := out.Response
		if r.Allowed || r.Result == nil || !strings.Contains(r.Result.Message, `vault-injector.io/secret-db="/abs/path"`) {
			t.Fatalf("response = %+v", r)
		}
	})
	t.Run("denies a pod without a role as invalid annotations", func(t *testing.T) {
		noRole := strings.Replace(optedIn, `"vault-injector.io/role":"web",`, "", 1)
		_, out := post(admissionReview(t, "Pod", "shop", noRole))
		r := out.Response
		if r.Allowed || r.Result == nil || !strings.Contains(r.Result.Message, "no Vault role: set vault-injector.io/role") {
			t.Fatalf("response = %+v", r)
		}
	})
	t.Run("passes pods that did not opt in", func(t *testing.T) {
		_, out := post(admissionReview(t, "Pod", "shop", `{"metadata":{"name":"x"},"spec":{"containers":[{"name":"a","image":"b"}]}}`))
		if !out.Response.Allowed || len(out.Response.Patch) != 0 {
			t.Fatalf("response = %+v", out.Response)
		}
	})
	t.Run("passes other kinds", func(t *testing.T) {
		_, out := post(admissionReview(t, "ConfigMap", "shop", `{"metadata":{"name":"x"}}`))
		if !out.Response.Allowed || len(out.Response.Patch) != 0 {
			t.Fatalf("response = %+v", out.Response)
		}
	})
	t.Run("refuses a body that is not a pod", func(t *testing.T) {
		_, out := post(admissionReview(t, "Pod", "shop", `{"spec":{"containers":"nope"}}`))
		if out.Response.Allowed || out.Response.Result.Code != http.StatusBadRequest {
			t.Fatalf("response = %+v", out.Response)
		}
	})
	t.Run("refuses garbage", func(t *testing.T) {
		code, out := post([]byte(`{"not":`))
		if code != http.StatusOK || out.Response == nil || out.Response.Allowed {
			t.Fatalf("status %d, response %+v", code, out.Response)
		}
	})
	t.Run("refuses oversized bodies", func(t *testing.T) {
		huge := admissionReview(t, "Pod", "shop", `{"metadata":{"name":"`+strings.Repeat("x", 8<<20)+`"}}`)
		_, out := post(huge)
		if out.Response == nil || out.Response.Allowed || out.Response.Result.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("response = %+v", out.Response)
		}
	})

	if got := testutil.ToFloat64(h.Metrics.injections.WithLabelValues(string(mutate.ShapeNative))); got != 1 {
		t.Errorf("injections{native-sidecar} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(h.Metrics.denials.WithLabelValues(string(mutate.DenyInvalidAnnotations))); got != 2 {
		t.Errorf("denials{invalid-annotations} = %v, want 2 (bad annotations, no role)", got)
	}
	if got := testutil.ToFloat64(h.Metrics.denials.WithLabelValues(string(mutate.DenyConflict))); got != 0 {
		t.Errorf("denials{conflict} = %v, want 0", got)
	}
	if got := testutil.ToFloat64(h.Metrics.skips.WithLabelValues(string(mutate.SkipNotOptedIn))); got != 1 {
		t.Errorf("skips{not-opted-in} = %v, want 1", got)
	}
}

// TestPanicOnWorkerIsAnswered: a panic inside an admission, which runs on a worker goroutine,
// reaches recoverPanics on the request's goroutine and becomes a 500 in the review; the
// workers survive it and serve the next admissions.
func TestPanicOnWorkerIsAnswered(t *testing.T) {
	broken := recoverPanics(slog.New(slog.DiscardHandler), &Handler{Log: slog.New(slog.DiscardHandler)}) // no Metrics: deny panics
	for range 3 * workerCount() {                                                                        // more panics than workers
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/mutate", strings.NewReader("{not json"))
		req.Header.Set("Content-Type", "application/json")
		broken.ServeHTTP(rec, req)
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != http.StatusOK || out.Response == nil ||
			out.Response.Allowed || out.Response.Result == nil || out.Response.Result.Code != http.StatusInternalServerError {
			t.Fatalf("status %d, body %s (%v): want a review refusing with 500", rec.Code, rec.Body.Bytes(), err)
		}
	}
	_, hook := testHandler(prometheus.NewRegistry())
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(admissionReview(t, "Pod", "shop",
		`{"metadata":{"name":"a","annotations":{"vault-injector.io/inject":"true","vault-injector.io/role":"r","vault-injector.io/secret-db":"secret/db"}},"spec":{"containers":[{"name":"app"}]}}`)))
	req.Header.Set("Content-Type", "application/json")
	hook.ServeHTTP(rec, req)
	if !bytes.Contains(rec.Body.Bytes(), []byte(`"patch"`)) {
		t.Fatalf("after the panics, an admission got %s", rec.Body.Bytes())
	}
}
