package mutate

import (
	"fmt"
	"path"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-injector/vault-injector/contract"
)

// mountPath is one place the selected containers mount the secrets volume, with the
// annotation that put it there (for messages).
type mountPath struct{ path, key string }

// planExtraPaths collects the secrets' volume-path-<name> other than volume-path: vault-k8s
// writes such a secret under that directory, so the secrets volume is mounted there too and the
// file appears where vault-k8s puts it. One volume cannot be mounted over itself: nested paths
// are refused.
func (p *plan) planExtraPaths() []string {
	var problems []string
	seen := map[string]bool{p.volumePath: true}
	for _, s := range p.opts.Secrets { // sorted by name, so the first key names a shared path
		if s.VolumePath == "" || seen[s.VolumePath] {
			continue
		}
		seen[s.VolumePath] = true
		key := contract.AnnotationVolumePathPrefix + s.Name
		for _, other := range p.mountPaths() {
			if overlaps(s.VolumePath, other.path) {
				problems = append(problems, fmt.Sprintf("%s=%q is inside or above %s (%s): the secrets volume cannot be mounted within itself: use a separate directory",
					key, s.VolumePath, other.key, other.path))
			}
		}
		p.extraPaths = append(p.extraPaths, mountPath{path: s.VolumePath, key: key})
	}
	sort.Slice(p.extraPaths, func(i, j int) bool { return p.extraPaths[i].path < p.extraPaths[j].path })
	return problems
}

// mountPaths are volume-path and then the extra paths.
func (p *plan) mountPaths() []mountPath {
	return append([]mountPath{{path: p.volumePath, key: contract.AnnotationVolumePath}}, p.extraPaths...)
}

// secretsMounts are what each selected app container gets appended to its volumeMounts: the
// volume at volume-path, then at each extra path; read-only unless volume-read-write asks
// otherwise (vault-k8s mounts it read-write).
func (p *plan) secretsMounts() []any {
	ms := make([]any, 0, 1+len(p.extraPaths))
	for _, mp := range p.mountPaths() {
		ms = append(ms, corev1.VolumeMount{Name: contract.SecretsVolume, MountPath: mp.path, ReadOnly: !p.opts.VolumeReadWrite})
	}
	return ms
}

// planCopiedMounts copies the volume mounts of the container agent-copy-volume-mounts names into
// the agent, read-only (the agent only reads them), without the service-account token mounts,
// as vault-k8s does. A mount that needs the container's own environment (subPathExpr) or that
// would cover one of the agent's own directories is refused.
func (p *plan) planCopiedMounts(pod *corev1.Pod) []string {
	from := p.opts.CopyVolumeMountsFrom
	if from == "" {
		return nil
	}
	key := contract.AnnotationAgentCopyVolumeMounts
	var src *corev1.Container
	var have []string
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range cs {
			have = append(have, cs[i].Name)
			if cs[i].Name == from && src == nil {
				src = &cs[i]
			}
		}
	}
	if src == nil {
		sort.Strings(have)
		return []string{fmt.Sprintf("%s=%q names no container of the pod (its containers: %s): name the container whose volume mounts the agent needs",
			key, from, strings.Join(have, ", "))}
	}
	own := []string{contract.AgentSecretsDir, contract.TokenDir, contract.ConfigDir, contract.TLSDir, contract.HandoverDir}
	var problems []string
	for _, m := range src.VolumeMounts {
		if strings.Contains(strings.ToLower(m.MountPath), "serviceaccount") {
			continue // the agent has its own token
		}
		if m.SubPathExpr != "" {
			problems = append(problems, fmt.Sprintf("%s=%q: its mount of %q uses subPathExpr, which expands the container's own environment, not the agent's: use subPath, or leave that container out",
				key, from, m.Name))
			continue
		}
		mp := path.Clean("/" + m.MountPath)
		for _, d := range own {
			if overlaps(mp, d) {
				problems = append(problems, fmt.Sprintf("%s=%q: its mount of %q at %s overlaps the agent's own %s: move that mount, or leave that container out",
					key, from, m.Name, m.MountPath, d))
			}
		}
		p.copied = append(p.copied, corev1.VolumeMount{Name: m.Name, MountPath: m.MountPath, SubPath: m.SubPath, ReadOnly: true})
	}
	return problems
}

// templateFileProblems refuses a template-file-<name> that the agent could not read: its path
// must be under one of the mounts copied from agent-copy-volume-mounts' container (the agent's
// own image has no templates of the app's).
func (p *plan) templateFileProblems() []string {
	var problems []string
	for _, s := range p.opts.Secrets {
		if s.TemplateFile == "" || p.copiedMountOf(s.TemplateFile) != "" {
			continue
		}
		key := contract.AnnotationTemplateFilePrefix + s.Name
		if p.opts.CopyVolumeMountsFrom == "" {
			problems = append(problems, fmt.Sprintf("%s=%q: the agent sees no file of the app's: set %s to the container that mounts it",
				key, s.TemplateFile, contract.AnnotationAgentCopyVolumeMounts))
			continue
		}
		problems = append(problems, fmt.Sprintf("%s=%q is under none of the mounts of container %q, which %s copies into the agent: set %s to the container that mounts it",
			key, s.TemplateFile, p.opts.CopyVolumeMountsFrom, contract.AnnotationAgentCopyVolumeMounts, contract.AnnotationAgentCopyVolumeMounts))
	}
	return problems
}

// copiedMountOf is the path of the mount copied into the agent that file lies under (the
// deepest, when mounts nest), or "".
func (p *plan) copiedMountOf(file string) string {
	best := ""
	for _, m := range p.copied {
		mp := path.Clean("/" + m.MountPath)
		if under(file, mp) && len(mp) > len(best) {
			best = mp
		}
	}
	return best
}
