package mutate

import (
	"errors"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/webhook/annotations"
	"github.com/vault-injector/vault-injector/webhook/vaultk8s"
)

// vaultK8sPod injects a pod annotated for HashiCorp's vault-k8s injector: its
// vault.hashicorp.com annotations are translated, then the pod goes through the same core as
// any other, so the same files come out and the patch adds only our agent.
func vaultK8sPod(pod *corev1.Pod, d Defaults) (Result, error) {
	// inject: "false" is this injector's explicit opt-out, for a pod left to vault-k8s while
	// both webhooks run; any other mix of the two dialects is refused below.
	if !vaultk8s.OptedIn(pod.Annotations) && !annotations.OptedIn(pod.Annotations) ||
		pod.Annotations[contract.AnnotationInject] == "false" {
		return Result{Skipped: SkipNotOptedIn}, nil
	}
	if pod.Annotations[contract.AnnotationStatus] == contract.StatusInjected {
		return Result{Skipped: SkipAlreadyInjected}, nil
	}
	tr := vaultk8s.Translate(pod.Annotations)
	if len(tr.Problems) > 0 {
		return Result{Warnings: tr.Warnings}, &Denial{Reason: DenyInvalidAnnotations, Err: &annotations.Error{Problems: tr.Problems}}
	}
	if tr.AlreadyInjected {
		return Result{Skipped: SkipAlreadyInjected, Warnings: []string{
			vaultk8s.AnnotationStatus + ` is "injected": vault-k8s injected this pod, so vault-injector leaves it alone (run one injector for a pod)`}}, nil
	}
	translated := *pod
	translated.Annotations = tr.Annotations
	d.AcceptVaultK8s = false // the translation has no vault.hashicorp.com keys left
	res, err := Pod(&translated, d)
	res.Warnings = append(tr.Warnings, res.Warnings...)
	var denial *Denial
	if errors.As(err, &denial) {
		denial.Err = namingOrigins(denial.Err, tr)
	}
	return res, err
}

// namingOrigins names, in a refusal, the vault.hashicorp.com key behind each vault-injector.io
// key it names.
func namingOrigins(err error, tr vaultk8s.Result) error {
	var ae *annotations.Error
	if errors.As(err, &ae) {
		for i, p := range ae.Problems {
			ae.Problems[i] = tr.NameOrigins(p)
		}
		return err
	}
	return errors.New(tr.NameOrigins(err.Error()))
}
