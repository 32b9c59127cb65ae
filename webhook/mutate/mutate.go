// Package mutate is the pure core of the injector: a pod and the cluster defaults in, the JSON
// patch that adds the agent out. No HTTP, no clients, no globals; the admission handler and the
// `inject` preview CLI are thin adapters over Pod. A pod goes through four stages, each in its
// own file: parse (annotations into options, checked with the defaults), resolve (options and
// defaults into the agent's contract.Config), plan (against the pod: shape, targets, conflicts,
// budgets, warnings) and emit (the patch's add ops and the values they add; encode.go writes
// them).
package mutate

import (
	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/webhook/annotations"
	"github.com/vault-injector/vault-injector/webhook/vaultk8s"
)

// SkipReason says why a pod comes back unchanged; logged and counted.
type SkipReason string

const (
	SkipNotOptedIn      SkipReason = "not-opted-in"
	SkipAlreadyInjected SkipReason = "already-injected"
)

// DenyReason says why a pod is refused; logged and counted. The message is for users.
type DenyReason string

const (
	DenyInvalidAnnotations DenyReason = "invalid-annotations"
	DenyConflict           DenyReason = "conflict"
)

// Shape is how the agent is added to a pod.
type Shape string

const (
	ShapeNative   Shape = "native-sidecar"  // one init container with restartPolicy Always
	ShapeClassic  Shape = "classic-sidecar" // an init container plus a regular container
	ShapeInitOnly Shape = "init-only"       // one init container that renders once
)

// Result is the outcome for one pod.
type Result struct {
	// Patch adds the agent to the pod as sent: explicit add ops in a fixed order, built from the
	// plan, never from a diff. Empty when Skipped is set.
	Patch    []jsonpatch.Operation
	Skipped  SkipReason // set when the pod is left alone
	Shape    Shape      // set when injected
	Warnings []string   // admission warnings (typos, ignored annotations, unreadable files)
}

// Denial is why a pod must be refused.
type Denial struct {
	Reason DenyReason
	Err    error
}

func (d *Denial) Error() string { return d.Err.Error() }

func (d *Denial) Unwrap() error { return d.Err }

// Pod plans the agent's injection into pod as its annotations ask and returns the JSON patch
// that carries it out. It never changes pod. A pod that does not opt in, or is already
// injected, comes back as a skip; bad annotations and name clashes come back as a *Denial.
func Pod(pod *corev1.Pod, d Defaults) (Result, error) {
	if d.AcceptVaultK8s && vaultk8s.Has(pod.Annotations) {
		return vaultK8sPod(pod, d)
	}
	if !annotations.OptedIn(pod.Annotations) {
		return Result{Skipped: SkipNotOptedIn, Warnings: injectValueWarning(pod.Annotations)}, nil
	}
	// Only the status annotation marks a pod as injected: a container that merely carries one of
	// our names is a clash, refused below, not a reason to pass the pod through.
	if pod.Annotations[contract.AnnotationStatus] == contract.StatusInjected {
		return Result{Skipped: SkipAlreadyInjected}, nil
	}
	opts, warnings, err := annotations.Parse(pod.Annotations)
	if err == nil {
		err = crossChecks(opts, d)
	}
	if err != nil {
		return Result{Warnings: warnings}, &Denial{Reason: DenyInvalidAnnotations, Err: err}
	}
	p, err := newPlan(pod, opts, d)
	if err != nil {
		return Result{Warnings: warnings}, err
	}
	return Result{Patch: p.patch(pod), Shape: p.shape, Warnings: append(warnings, p.warnings...)}, nil
}
