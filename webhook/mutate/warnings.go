package mutate

import (
	"strconv"
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

// unreadableWarning is written without fmt: a Deployment's pod gets one per container in
// every response, and Sprintf was most of their cost.
func unreadableWarning(container string, uid, agentUID int64, secrets []annotations.Secret) string {
	if len(secrets) == 0 {
		return ""
	}
	var b strings.Builder
	b.Grow(256 + 32*len(secrets))
	str := func(s string) { b.WriteString(s) }
	num := func(n int64) { b.WriteString(strconv.FormatInt(n, 10)) }
	str("container ")
	str(strconv.Quote(container))
	str(" runs as UID ")
	num(uid)
	if len(secrets) == 1 {
		s := secrets[0]
		str(" but secret ")
		str(strconv.Quote(s.Name))
		str(" is written with mode ")
		str(s.Perms.String())
		str(" by UID ")
		num(agentUID)
		str(", so it cannot read it: run it as UID ")
		num(agentUID)
		str(", or set " + contract.AnnotationPermsPrefix)
		str(s.Name)
		str(" to 0440 and a pod securityContext.fsGroup")
		return b.String()
	}
	str(" but secrets ")
	for i, s := range secrets {
		if i > 0 {
			str(", ")
		}
		str(strconv.Quote(s.Name))
		str(" (mode ")
		str(s.Perms.String())
		str(")")
	}
	str(" are written by UID ")
	num(agentUID)
	str(", so it cannot read them: run it as UID ")
	num(agentUID)
	str(", or set each one's " + contract.AnnotationPermsPrefix + "<name> to 0440 and a pod securityContext.fsGroup")
	return b.String()
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
