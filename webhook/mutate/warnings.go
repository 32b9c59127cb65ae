package mutate

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/webhook/annotations"
)

// readabilityWarnings flags app containers that will not be able to read their secret files:
// the agent writes them as its own user, so a container running as another UID needs the
// "other" read bit, or the group read bit plus a pod fsGroup (which the emptyDir inherits).
// One warning per container, naming every secret it cannot read.
func (p *plan) readabilityWarnings(pod *corev1.Pod) []string {
	var warnings []string
	fsGroup := pod.Spec.SecurityContext != nil && pod.Spec.SecurityContext.FSGroup != nil
	var unreadable []annotations.Secret
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			uid := effectiveUID(pod, c)
			if !p.targets[c.Name] || uid == nil || *uid == p.d.RunAsUser {
				continue
			}
			unreadable = unreadable[:0]
			for _, s := range p.opts.Secrets {
				if s.Perms&0o004 == 0 && (s.Perms&0o040 == 0 || !fsGroup) {
					unreadable = append(unreadable, s)
				}
			}
			if w := unreadableWarning(c.Name, *uid, p.d.RunAsUser, unreadable); w != "" {
				warnings = append(warnings, w)
			}
		}
	}
	return warnings
}

func unreadableWarning(container string, uid, agentUID int64, secrets []annotations.Secret) string {
	switch len(secrets) {
	case 0:
		return ""
	case 1:
		s := secrets[0]
		return fmt.Sprintf("container %q runs as UID %d but secret %q is written with mode %s by UID %d, so it cannot read it: run it as UID %d, or set %s%s to 0440 and a pod securityContext.fsGroup",
			container, uid, s.Name, s.Perms, agentUID, agentUID, contract.AnnotationPermsPrefix, s.Name)
	}
	var b strings.Builder
	for i, s := range secrets {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q (mode %s)", s.Name, s.Perms)
	}
	return fmt.Sprintf("container %q runs as UID %d but secrets %s are written by UID %d, so it cannot read them: run it as UID %d, or set each one's %s<name> to 0440 and a pod securityContext.fsGroup",
		container, uid, b.String(), agentUID, agentUID, contract.AnnotationPermsPrefix)
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
