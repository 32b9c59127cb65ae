// Package server adapts the mutation core to admission requests and serves it over TLS with
// health, readiness and Prometheus metrics.
package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/utils/ptr"
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

// Handle injects opted-in pods. It logs one line per decision with request identity and codes
// only: never the pod, never annotation values (a template may hold anything).
func (h *Handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	log := logf.FromContext(ctx)
	if req.Kind.Group != "" || req.Kind.Kind != "Pod" || req.Operation != admissionv1.Create {
		h.Metrics.skip("not-a-pod-create")
		return admission.Allowed("vault-injector only mutates pods on create")
	}
	pod, err := mutate.Decode(req.Object.Raw)
	if err != nil {
		h.Metrics.deny("undecodable")
		log.Info("pod refused", "reason", "undecodable")
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the pod: %w", err))
	}
	// requestLogger names the request; pods made by controllers only have generateName here.
	if pod.Name == "" {
		log = log.WithValues("generateName", pod.GenerateName)
	}
	res, err := mutate.Pod(pod, h.Defaults)
	var denial *mutate.Denial
	switch {
	case errors.As(err, &denial):
		h.Metrics.deny(string(denial.Reason))
		log.Info("pod refused", "reason", denial.Reason)
		return admission.Denied(denial.Error()).WithWarnings(res.Warnings...)
	case err != nil:
		h.Metrics.deny("internal")
		log.Error(err, "injection failed")
		return admission.Errored(http.StatusInternalServerError, err)
	case res.Skipped != "":
		h.Metrics.skip(string(res.Skipped))
		log.V(1).Info("pod left unchanged", "reason", res.Skipped)
		return admission.Allowed(string(res.Skipped)).WithWarnings(res.Warnings...)
	}
	patch, err := mutate.EncodePatch(res.Patch)
	if err != nil {
		h.Metrics.deny("internal")
		log.Error(err, "encoding the patch failed")
		return admission.Errored(http.StatusInternalServerError, err)
	}
	h.Metrics.inject(string(res.Shape))
	log.Info("vault agent injected", "shape", res.Shape, "warnings", len(res.Warnings))
	// The encoded patch goes in directly: controller-runtime only encodes Patches when set.
	resp := admission.Allowed("")
	resp.Patch, resp.PatchType = patch, ptr.To(admissionv1.PatchTypeJSONPatch)
	return resp.WithWarnings(res.Warnings...)
}
