// Package server adapts the mutation core to admission requests and serves it over TLS with
// health, readiness and Prometheus metrics.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"

	"gomodules.xyz/jsonpatch/v2"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/vault-injector/vault-injector/webhook/mutate"
)

// Handler is the /mutate admission handler.
type Handler struct {
	Defaults mutate.Defaults
	Metrics  *Metrics
}

var _ admission.Handler = (*Handler)(nil)

// Handle injects opted-in pods. It logs request identity and decision codes only: never the
// pod, never annotation values (a template may hold anything).
func (h *Handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	log := logf.FromContext(ctx).WithValues("namespace", req.Namespace)
	if req.Kind.Group != "" || req.Kind.Kind != "Pod" || req.Operation != admissionv1.Create {
		h.Metrics.skip("not-a-pod-create")
		return admission.Allowed("vault-injector only mutates pods on create")
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		h.Metrics.deny("undecodable")
		log.Info("pod refused: body does not decode as a pod", "reason", "undecodable")
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the pod: %w", err))
	}
	log = log.WithValues("name", podName(&pod))
	res, err := mutate.Pod(&pod, h.Defaults)
	var denial *mutate.Denial
	switch {
	case errors.As(err, &denial):
		h.Metrics.deny(denial.Reason)
		log.Info("pod refused", "reason", denial.Reason)
		return admission.Denied(denial.Error()).WithWarnings(res.Warnings...)
	case err != nil:
		h.Metrics.deny("internal")
		log.Error(err, "injection failed")
		return admission.Errored(http.StatusInternalServerError, err)
	case res.Skipped != "":
		h.Metrics.skip(res.Skipped)
		log.V(1).Info("pod left unchanged", "reason", res.Skipped)
		return admission.Allowed(res.Skipped).WithWarnings(res.Warnings...)
	}
	resp := PatchResponse(req.Object.Raw, &pod, res.Pod)
	if resp.Allowed {
		h.Metrics.inject(res.Mode)
		log.Info("vault agent injected", "mode", res.Mode, "warnings", len(res.Warnings))
	}
	return resp.WithWarnings(res.Warnings...)
}

// PatchResponse diffs the raw request object against the injected pod (injected from
// original, the decoded raw). Decoding into Go types and encoding again is not lossless: it
// drops fields this build does not know and adds empty ones ("resources": {}). The ops that
// round trip alone produces are left out, so the patch holds only the injection and never
// removes a user's field.
func PatchResponse(raw []byte, original, injected *corev1.Pod) admission.Response {
	want, err := json.Marshal(injected)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encoding the injected pod: %w", err))
	}
	roundTrip, err := json.Marshal(original)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encoding the pod: %w", err))
	}
	noise, err := jsonpatch.CreatePatch(raw, roundTrip)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("diffing the pod: %w", err))
	}
	resp := admission.PatchResponseFromRaw(raw, want)
	resp.Patches = slices.DeleteFunc(resp.Patches, func(op jsonpatch.Operation) bool {
		return op.Operation == "remove" || slices.ContainsFunc(noise, func(n jsonpatch.Operation) bool {
			return n.Operation == op.Operation && n.Path == op.Path && reflect.DeepEqual(n.Value, op.Value)
		})
	})
	return resp
}

// podName is the name for logs; pods created by controllers only have generateName here.
func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName + "*"
}
