package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func TestDecodeReview(t *testing.T) {
	for _, tc := range []struct {
		name, body, wantErr string
		wantPod             bool
	}{
		{"kind first", `{"request":{"uid":"u","kind":{"kind":"Pod"},"object":{"metadata":{"name":"a"}}}}`, "", true},
		{"object first", `{"request":{"object":{"metadata":{"name":"a"}},"uid":"u","kind":{"kind":"Pod"}}}`, "", true},
		{"another kind is not read as a pod", `{"request":{"kind":{"group":"apps","kind":"Deployment"},"object":{"spec":{"containers":5}}}}`, "", false},
		{"a bad pod stops the review", `{"request":{"kind":{"kind":"Pod"},"object":{"spec":{"containers":5}},"uid":"u"}}`, "offset 65 is not an array", false},
		{"no request", `{"apiVersion":"admission.k8s.io/v1"}`, "no request", false},
		{"null request", `{"request":null}`, "no request", false},
		{"trailing data", `{"request":{}} {}`, "after the top-level value", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rv, err := decodeReview([]byte(tc.body))
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if (rv.pod != nil) != tc.wantPod || tc.wantPod && rv.pod.Name != "a" {
				t.Fatalf("pod %+v", rv.pod)
			}
		})
	}
}

// The answer is in the API version the API server asked in, and names the request.
func TestResponseVersion(t *testing.T) {
	_, hook := testHandler(prometheus.NewRegistry())
	for _, version := range []string{"admission.k8s.io/v1", "admission.k8s.io/v1beta1"} {
		body := `{"apiVersion":"` + version + `","kind":"AdmissionReview","request":{"uid":"u-1","kind":{"kind":"ConfigMap"},"operation":"CREATE","object":{}}}`
		req := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader([]byte(body)))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		hook.ServeHTTP(rec, req)
		var out admissionv1.AdmissionReview
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		if out.APIVersion != version || out.Kind != "AdmissionReview" || out.Response.UID != "u-1" || !out.Response.Allowed {
			t.Errorf("asked in %s, got %s", version, rec.Body.Bytes())
		}
	}
}

// TestEncodeResponse holds the hand-written response to encoding/json's, for every response
// the handler builds and for the fields it never sets (those go to encoding/json).
func TestEncodeResponse(t *testing.T) {
	const nasty = "a\"\\\b\n\x01<>&\u2028é\xff"
	injected := admissionv1.AdmissionResponse{Allowed: true, Patch: []byte(`[{"op":"add","path":"/a","value":"<&>"}]`),
		PatchType: ptr.To(admissionv1.PatchTypeJSONPatch), Warnings: []string{nasty, ""}}
	cases := map[string]admissionv1.AdmissionResponse{
		"allowed":  allowed(nasty),
		"denied":   denied(nasty),
		"errored":  errored(http.StatusBadRequest, errors.New(nasty)),
		"injected": injected,
		"bare":     {},
	}
	audit := injected
	audit.AuditAnnotations = map[string]string{"k": nasty}
	cases["audit annotations"] = audit
	for name, edit := range map[string]func(*metav1.Status){
		"status kind":     func(s *metav1.Status) { s.Kind = "Status" },
		"status metadata": func(s *metav1.Status) { s.ResourceVersion = "1" },
		"status details":  func(s *metav1.Status) { s.Details = &metav1.StatusDetails{Name: nasty} },
		"status status":   func(s *metav1.Status) { s.Status = metav1.StatusFailure },
	} {
		r := denied(nasty)
		edit(r.Result)
		cases[name] = r
	}
	for name, resp := range cases {
		for _, version := range []string{"admission.k8s.io/v1", "admission.k8s.io/v1beta1"} {
			rv := review{apiVersion: version, uid: nasty}
			var got bytes.Buffer
			r := resp
			encodeResponse(&got, rv, &r)
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			r.UID = types.UID(nasty)
			if err := enc.Encode(admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: version, Kind: "AdmissionReview"}, Response: &r}); err != nil {
				t.Fatal(err)
			}
			if w := strings.TrimSuffix(want.String(), "\n"); got.String() != w {
				t.Errorf("%s %s: hand-written\n%s\nencoding/json\n%s", name, version, got.String(), w)
			}
		}
	}
}
