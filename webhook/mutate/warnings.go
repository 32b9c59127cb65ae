package mutate

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-injector/vault-injector/contract"
)

// readabilityWarnings flags app containers that will not be able to read their secret files:
// the agent writes them as its own user, so a container running as another UID needs the
// "other" read bit, or the group read bit plus a pod fsGroup (which the emptyDir inherits).
func (p *plan) readabilityWarnings(pod *corev1.Pod) []string {
	var warnings []string
	fsGroup := pod.Spec.SecurityContext != nil && pod.Spec.SecurityContext.FSGroup != nil
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			uid := effectiveUID(pod, c)
			if !p.targets[c.Name] || uid == nil || *uid == p.d.RunAsUser {
				continue
			}
			for _, s := range p.opts.Secrets {
				if s.Perms&0o004 != 0 || (s.Perms&0o040 != 0 && fsGroup) {
					continue
				}
				warnings = append(warnings, fmt.Sprintf(
					"container %q runs as UID %d but secret %q is written with mode %s by UID %d, so it cannot read it: run it as UID %d, or set %s%s to 0440 and a pod securityContext.fsGroup",
					c.Name, *uid, s.Name, s.Perms, p.d.RunAsUser, p.d.RunAsUser, contract.AnnotationPermsPrefix, s.Name))
			}
		}
	}
	return warnings
}

func effectiveUID(pod *corev1.Pod, c corev1.Container) *int64 {
	if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
		return c.SecurityContext.RunAsUser
	}
	if pod.Spec.SecurityContext != nil {
		return pod.Spec.SecurityContext.RunAsUser
	}
	return nil
}
