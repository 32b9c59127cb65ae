package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vault-injector/vault-injector/internal/jsonread"
	"github.com/vault-injector/vault-injector/internal/jsonwrite"
	"github.com/vault-injector/vault-injector/webhook/mutate"
)

// maxReviewBytes bounds the body read: a review carries the pod (at most mutate.MaxPodBytes,
// the API server's own limit) with the request's identity around it.
const maxReviewBytes = 7 << 20

// review is the part of an AdmissionReview (v1; v1beta1 has the same shape) the webhook reads.
type review struct {
	apiVersion string
	uid        string
	group      string // of the object's kind
	kind       string
	operation  string
	namespace  string
	// pod is the object, read as a pod in the same pass (the configuration sends only pods);
	// podErr says why it could not be, and ends the review's decoding.
	pod    *corev1.Pod
	podErr error
}

// readRequest reads the request's body, into buf when it has room, counting it in budget (see
// readBody; charged is what the caller gives back). The error's status is for the response:
// the API server shows it when the webhook refuses a request.
func readRequest(req *http.Request, buf []byte, budget *bodyBudget) (body []byte, charged int64, code int, err error) {
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		return nil, 0, http.StatusBadRequest, fmt.Errorf("content type %q: want application/json", ct)
	}
	body, charged, err = readBody(req, buf, budget)
	switch {
	case errors.Is(err, errBusy):
		return body, charged, http.StatusTooManyRequests, err
	case errors.Is(err, errTooLarge):
		return body, charged, http.StatusRequestEntityTooLarge, err
	case err != nil:
		return body, charged, http.StatusBadRequest, fmt.Errorf("reading the request: %w", err)
	case len(body) == 0:
		return body, charged, http.StatusBadRequest, errors.New("the request body is empty")
	}
	return body, charged, 0, nil
}

// parseReview decodes the body's AdmissionReview, with the status of its error as readRequest.
func parseReview(body []byte) (review, int, error) {
	rv, err := decodeReview(body)
	switch {
	case rv.podErr != nil:
		return rv, http.StatusBadRequest, fmt.Errorf("decoding the pod: %w", err)
	case err != nil:
		return rv, http.StatusBadRequest, fmt.Errorf("decoding the admission review: %w", err)
	}
	return rv, 0, nil
}

// decodeReview reads the review in one pass, the pod included. A pod that does not decode
// stops it there; the object of another kind is skipped when its kind comes first, as the API
// server writes it.
func decodeReview(body []byte) (review, error) {
	var rv review
	hasRequest := false
	r := jsonread.New(body)
	err := r.Object(func(key []byte) error {
		switch string(key) {
		case "apiVersion":
			return r.StringInto(&rv.apiVersion)
		case "request":
			if r.Null() {
				return nil
			}
			hasRequest = true
			return r.Object(func(key []byte) (err error) {
				switch string(key) {
				case "uid":
					return r.StringInto(&rv.uid)
				case "kind":
					return r.Object(func(key []byte) error {
						switch string(key) {
						case "group":
							return r.StringInto(&rv.group)
						case "kind":
							return r.StringInto(&rv.kind)
						}
						return r.Skip()
					})
				case "operation":
					return r.StringInto(&rv.operation)
				case "namespace":
					return r.StringInto(&rv.namespace)
				case "object":
					if rv.kind != "" && (rv.kind != "Pod" || rv.group != "") {
						return r.Skip()
					}
					rv.pod, rv.podErr = mutate.DecodeFrom(r)
					return rv.podErr
				}
				return r.Skip()
			})
		}
		return r.Skip()
	})
	switch {
	case rv.podErr != nil:
		return rv, rv.podErr
	case err == nil:
		err = r.End()
	}
	if err == nil && !hasRequest {
		err = errors.New("it has no request")
	}
	return rv, err
}

// encodeResponse writes to out the AdmissionReview that answers rv, in rv's API version. The
// responses the handler builds are written by hand (see jsonwrite); any other goes through
// encoding/json, whose output TestEncodeResponse holds the hand-written one to.
func encodeResponse(out *bytes.Buffer, rv review, resp *admissionv1.AdmissionResponse) {
	apiVersion := rv.apiVersion
	if apiVersion != "admission.k8s.io/v1beta1" {
		apiVersion = "admission.k8s.io/v1"
	}
	resp.UID = types.UID(rv.uid)
	st := resp.Result
	if resp.AuditAnnotations != nil || st != nil && (st.TypeMeta != metav1.TypeMeta{} || st.ListMeta != metav1.ListMeta{} || st.Details != nil) {
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		err := enc.Encode(admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: "AdmissionReview"},
			Response: resp,
		})
		if err != nil { // a response of strings, bytes and a bool always encodes
			panic(fmt.Sprintf("encoding an admission response: %v", err))
		}
		out.Truncate(out.Len() - 1) // Encode ends with a newline
		return
	}
	o := jsonwrite.Open(out)
	o.Str("kind", "AdmissionReview", false)
	o.Str("apiVersion", apiVersion, false)
	o.Key("response")
	r := jsonwrite.Open(out)
	r.Str("uid", rv.uid, false)
	r.Key("allowed")
	out.WriteString(strconv.FormatBool(resp.Allowed))
	if st != nil {
		r.Key("status")
		so := jsonwrite.Open(out)
		so.Key("metadata")
		out.WriteString("{}")
		so.Str("status", st.Status, true)
		so.Str("message", st.Message, true)
		so.Str("reason", string(st.Reason), true)
		so.Int("code", int64(st.Code), true)
		so.Close()
	}
	if len(resp.Patch) > 0 {
		r.Key("patch")
		out.WriteByte('"')
		out.Write(base64.StdEncoding.AppendEncode(out.AvailableBuffer(), resp.Patch))
		out.WriteByte('"')
	}
	if resp.PatchType != nil {
		r.Str("patchType", string(*resp.PatchType), false)
	}
	r.Strs("warnings", resp.Warnings)
	r.Close()
	o.Close()
}
