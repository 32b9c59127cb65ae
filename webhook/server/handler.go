// Package server adapts the mutation core to admission requests and serves it over TLS with
// health, readiness and Prometheus metrics.
package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vault-injector/vault-injector/webhook/mutate"
)

// Handler is the /mutate admission endpoint. It reads the review itself, in one pass (see
// decodeReview): the generic admission decoding of controller-runtime scanned every request
// four times and was a third of the webhook's CPU.
type Handler struct {
	Defaults mutate.Defaults
	Metrics  *Metrics
	Log      *slog.Logger

	bodies bodyBudget // what the handler holds of request bodies at once
}

// log writes the admission's one line: the request's identity, then what was decided. Typed
// attributes: this line is written for every pod, and logr's key-value form cost twice as much.
func (h *Handler) log(level slog.Level, msg string, rv review, nameKey, name string, decision ...slog.Attr) {
	if !h.Log.Enabled(context.Background(), level) {
		return
	}
	attrs := append([]slog.Attr{slog.String("requestID", rv.uid), slog.String("namespace", rv.namespace), slog.String(nameKey, name)}, decision...)
	h.Log.LogAttrs(context.Background(), level, msg, attrs...)
}

// ServeHTTP answers one AdmissionReview. Every answer is an AdmissionReview with status 200, as
// the API server expects; refusals carry their code and message in the response's result.
func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	bufs := buffers.Get().(*reusable)
	defer buffers.Put(bufs)
	bufs.patch.Reset()
	bufs.out.Reset()
	body, charged, code, err := readRequest(req, bufs.body, &h.bodies)
	if cap(body) <= maxPooledBody {
		bufs.body = body[:0] // the decoded review keeps no reference to it: strings are copies
	}
	func() {
		defer h.bodies.give(charged) // before the answer is written: a slow reader holds no budget
		onWorker(func() { h.answer(body, code, err, &bufs.patch, &bufs.out) })
	}()
	w.Header()["Content-Type"] = jsonContentType
	_, _ = w.Write(bufs.out.Bytes())
}

// jsonContentType is shared by every response's header, which nothing changes after the
// handler: Header().Set allocated it anew for each.
var jsonContentType = []string{"application/json"}

// answer writes to out the response to body, or to the error of reading it.
func (h *Handler) answer(body []byte, code int, err error, patch, out *bytes.Buffer) {
	var rv review
	if err == nil {
		rv, code, err = parseReview(body)
	} else {
		rv = scanIdentity(body) // the body may be cut or too large to decode: its head names it
	}
	var resp admissionv1.AdmissionResponse
	switch {
	case errors.Is(err, errBusy):
		h.Metrics.deny("busy")
		h.Log.LogAttrs(context.Background(), slog.LevelInfo, "request refused", slog.String("requestID", rv.uid),
			slog.String("reason", "busy"), slog.Int64("bodyBudgetInUse", h.bodies.used.Load()))
		resp = busy()
	case err != nil:
		// The error names the JSON problem, never a value of the pod.
		h.Metrics.deny("undecodable")
		h.Log.LogAttrs(context.Background(), slog.LevelInfo, "request refused", slog.String("requestID", rv.uid),
			slog.String("namespace", rv.namespace), slog.String("reason", "undecodable"), slog.String("error", err.Error()))
		resp = errored(code, err)
	default:
		resp = h.admit(rv, patch)
	}
	encodeResponse(out, rv, &resp)
}

// reusable holds the buffers of one request: each is a few KiB, and allocating them anew was
// a large share of the webhook's garbage. A body over maxPooledBody is not kept, so one huge
// pod does not pin its memory in the pool.
type reusable struct {
	patch, out bytes.Buffer
	body       []byte
}

const maxPooledBody = 64 << 10

var buffers = sync.Pool{New: func() any { return new(reusable) }}

// admit decides on one review. It logs one line per decision with the request's identity and
// codes only: never the pod, never annotation values (a template may hold anything).
func (h *Handler) admit(rv review, patch *bytes.Buffer) admissionv1.AdmissionResponse {
	if rv.group != "" || rv.kind != "Pod" || rv.operation != string(admissionv1.Create) {
		h.Metrics.skip("not-a-pod-create")
		return allowed("vault-injector only mutates pods on create")
	}
	pod := rv.pod
	if pod == nil { // the review had no object
		pod = &corev1.Pod{}
	}
	// Pods made by controllers have no name yet at admission: name them by generateName.
	nameKey, name := "name", pod.Name
	if name == "" {
		nameKey, name = "generateName", pod.GenerateName
	}
	res, err := mutate.Pod(pod, h.Defaults)
	var denial *mutate.Denial
	switch {
	case errors.As(err, &denial):
		h.Metrics.deny(string(denial.Reason))
		h.log(slog.LevelInfo, "pod refused", rv, nameKey, name, slog.String("reason", string(denial.Reason)))
		resp := denied(denial.Error())
		resp.Warnings = res.Warnings
		return resp
	case err != nil:
		h.Metrics.deny("internal")
		h.log(slog.LevelError, "injection failed", rv, nameKey, name, slog.String("error", err.Error()))
		return errored(http.StatusInternalServerError, err)
	case res.Skipped != "":
		h.Metrics.skip(string(res.Skipped))
		h.log(slog.LevelDebug, "pod left unchanged", rv, nameKey, name, slog.String("reason", string(res.Skipped)))
		resp := allowed(string(res.Skipped))
		resp.Warnings = res.Warnings
		return resp
	}
	if err := mutate.AppendPatch(patch, res.Patch); err != nil {
		h.Metrics.deny("internal")
		h.log(slog.LevelError, "encoding the patch failed", rv, nameKey, name, slog.String("error", err.Error()))
		return errored(http.StatusInternalServerError, err)
	}
	h.Metrics.inject(string(res.Shape))
	h.log(slog.LevelInfo, "vault agent injected", rv, nameKey, name, slog.String("shape", string(res.Shape)), slog.Int("warnings", len(res.Warnings)))
	return admissionv1.AdmissionResponse{
		Allowed: true, Patch: patch.Bytes(), PatchType: ptr.To(admissionv1.PatchTypeJSONPatch), Warnings: res.Warnings,
	}
}

func allowed(reason string) admissionv1.AdmissionResponse {
	return admissionv1.AdmissionResponse{Allowed: true, Result: &metav1.Status{Code: http.StatusOK, Message: reason}}
}

func denied(message string) admissionv1.AdmissionResponse {
	return admissionv1.AdmissionResponse{Result: &metav1.Status{Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden, Message: message}}
}

// busy is the refusal of a body the budget had no room for: 429 with a Retry-After, which
// the API server passes on to its client (client-go retries such answers by itself).
func busy() admissionv1.AdmissionResponse {
	return admissionv1.AdmissionResponse{Result: &metav1.Status{Code: http.StatusTooManyRequests, Reason: metav1.StatusReasonTooManyRequests,
		Message: errBusy.Error(), Details: &metav1.StatusDetails{RetryAfterSeconds: 1}}}
}

func errored(code int, err error) admissionv1.AdmissionResponse {
	return admissionv1.AdmissionResponse{Result: &metav1.Status{Code: int32(code), Message: err.Error()}}
}

// recoverPanics turns a panic in h into a refusal with status 500, logged: one bad request
// must not take down the replica (the fuzz tests call the handler without it).
func recoverPanics(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				log.Error("admission handler panicked", "panic", fmt.Sprint(p))
				resp := errored(http.StatusInternalServerError, errors.New("the webhook failed on this request; its log has the reason"))
				var out bytes.Buffer
				encodeResponse(&out, review{}, &resp)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(out.Bytes())
			}
		}()
		h.ServeHTTP(w, req)
	})
}
