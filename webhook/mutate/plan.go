package mutate

import (
	"fmt"
	"path"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/webhook/annotations"
)

// plan is everything resolved from annotations and defaults before the pod is touched.
type plan struct {
	d          Defaults
	opts       annotations.Options
	shape      Shape
	volumePath string
	extraPaths []mountPath          // the secrets' volume-path-<name> (paths.go)
	copied     []corev1.VolumeMount // agent-copy-volume-mounts' container's, read-only (paths.go)
	// patchedInit and patchedSidecar are the agent containers after the JSON patch
	// annotations (agentpatch.go); nil without them.
	patchedInit, patchedSidecar *corev1.Container
	targets                     map[string]bool // containers (and init containers) that get the secrets mount
	config                      string          // the agent's contract.Config as JSON
	warnings                    []string        // why the plan differs from what was asked, and what cannot work
}

// newPlan plans the injection into pod: the agent's shape, the containers that get the
// secrets, the conflicts with what the pod has, the agent's config (resolve.go) and its
// budget; and the warnings for what differs from what was asked or will not work. Every
// problem comes back at once, in one *Denial.
func newPlan(pod *corev1.Pod, opts annotations.Options, d Defaults) (*plan, error) {
	p := &plan{d: d, opts: opts, shape: ShapeNative, volumePath: opts.VolumePath}
	switch {
	case opts.Mode == contract.ModeInitOnly:
		p.shape = ShapeInitOnly
	case d.Sidecar == SidecarClassic:
		p.shape = ShapeClassic
	}
	p.adjustShape(pod)
	if p.volumePath == "" {
		p.volumePath = contract.DefaultVolumePath
	}
	var problems []string
	targets, err := selectTargets(pod, opts.Containers, opts.ContainersIncludeInit)
	if err != nil {
		problems = append(problems, err.Error())
	}
	p.targets = targets
	problems = append(problems, p.planExtraPaths()...) // before conflicts, which checks them
	problems = append(problems, p.conflicts(pod)...)
	problems = append(problems, p.planCopiedMounts(pod)...)
	problems = append(problems, p.templateFileProblems()...) // after planCopiedMounts, which it reads
	problems = append(problems, p.planAgentPatches()...)     // after every other input of the agent containers
	problems = append(problems, p.planReload(pod)...)
	problems = append(problems, p.tlsKeyProblems()...)
	p.warnings = append(p.warnings, p.readabilityWarnings(pod)...) // after planReload: it may change the agent's UID
	cfg, err := p.agentConfig()
	if err != nil {
		problems = append(problems, err.Error())
	} else if err := p.annotationBudget(pod, cfg); err != nil {
		problems = append(problems, err.Error())
	} else if err := p.patchBudget(pod, cfg); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return nil, &Denial{Reason: DenyConflict, Err: fmt.Errorf("cannot inject the vault agent: %s", strings.Join(problems, "; "))}
	}
	p.config = cfg
	return p, nil
}

// adjustShape picks a shape that can work for this pod and says why it differs from the
// configured one; it also warns about settings that cannot work on this pod.
func (p *plan) adjustShape(pod *corev1.Pod) {
	if p.shape == ShapeClassic && (pod.Spec.RestartPolicy == corev1.RestartPolicyNever || pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure) {
		// A classic sidecar never exits, so a run-to-completion pod would never complete.
		p.shape = ShapeInitOnly
		p.warnings = append(p.warnings, fmt.Sprintf(
			"the pod has restartPolicy %s and this webhook runs classic sidecars (--sidecar=classic), which never exit and would keep it from completing: the agent is injected init-only (secrets rendered once, not refreshed); set %s=%s to say so",
			pod.Spec.RestartPolicy, contract.AnnotationMode, contract.ModeInitOnly))
	}
	if pod.Spec.HostNetwork && p.metricsPort() != 0 && p.shape != ShapeInitOnly {
		p.warnings = append(p.warnings, fmt.Sprintf(
			"the pod uses hostNetwork, so the agent's metrics port %d (--agent-metrics-port) is a port of the node: a second such pod on the node fails to bind it",
			p.d.AgentMetricsPort))
	}
}

// selectTargets are the containers named (all when names is nil), and with includeInit every
// init container as well.
func selectTargets(pod *corev1.Pod, names []string, includeInit bool) (map[string]bool, error) {
	all := map[string]bool{}
	var have []string
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			all[c.Name] = true
			have = append(have, c.Name)
		}
	}
	if names == nil {
		return all, nil
	}
	targets := map[string]bool{}
	var missing []string
	for _, n := range names {
		if !all[n] {
			missing = append(missing, n)
		}
		targets[n] = true
	}
	if len(missing) > 0 {
		sort.Strings(have)
		return nil, fmt.Errorf("%s=%q names %s, which the pod does not have (its containers: %s): list existing container names",
			contract.AnnotationContainers, strings.Join(names, ","), strings.Join(missing, ", "), strings.Join(have, ", "))
	}
	if includeInit {
		for _, c := range pod.Spec.InitContainers {
			targets[c.Name] = true
		}
	}
	return targets, nil
}

// ourVolumes are the volumes the injector adds, with what a container mounting one would get.
var ourVolumes = map[string]string{
	contract.SecretsVolume:  "the secrets volume, mounted as it asks (read-write where it says so) instead of read-only",
	contract.TokenVolume:    "the agent's service-account token, which logs in to Vault",
	contract.ConfigVolume:   "the agent's configuration",
	contract.HandoverVolume: "the agent's Vault token",
	contract.TLSVolume:      "the agent's Vault TLS files, its client key included",
}

// conflicts finds names, paths and ports of the pod that the injection would collide with.
func (p *plan) conflicts(pod *corev1.Pod) []string {
	var problems []string
	declared := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		if _, ok := ourVolumes[v.Name]; ok {
			declared[v.Name] = true
			problems = append(problems, fmt.Sprintf("the pod already has a volume named %q, which the injector adds: rename that volume", v.Name))
		}
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.Name == contract.AgentContainer || c.Name == contract.AgentInitContainer {
				problems = append(problems, fmt.Sprintf("the pod already has a container named %q, which the injector adds, but no %s annotation: rename that container",
					c.Name, contract.AnnotationStatus))
			}
			problems = append(problems, ourMounts(c.Name, c.VolumeMounts, declared)...)
			if p.targets[c.Name] {
				problems = append(problems, p.pathOverlaps(c)...)
			}
		}
	}
	for _, e := range pod.Spec.EphemeralContainers {
		problems = append(problems, ourMounts(e.Name, e.VolumeMounts, declared)...)
	}
	return append(problems, p.metricsPortConflicts(pod)...)
}

// ourMounts refuses a container's mounts of the injector's volumes, which the pod does not
// declare (declared ones are refused as clashes already): the API server would refuse such a
// mount, but once the injector adds the volume it succeeds, and the container gets what the
// volume holds for the agent alone.
func ourMounts(container string, mounts []corev1.VolumeMount, declared map[string]bool) []string {
	var problems []string
	for _, m := range mounts {
		what, ok := ourVolumes[m.Name]
		if !ok || declared[m.Name] {
			continue
		}
		problems = append(problems, fmt.Sprintf("container %q mounts volume %q, which the pod does not have and the injector adds for the agent: the container would get %s: remove that mount (the injector mounts the secrets read-only at %s into the containers %s selects)",
			container, m.Name, what, contract.AnnotationVolumePath, contract.AnnotationContainers))
	}
	return problems
}

// pathOverlaps refuses a selected container's mounts at, above or below a secrets path.
func (p *plan) pathOverlaps(c corev1.Container) []string {
	var problems []string
	for _, m := range c.VolumeMounts {
		// Cleaned: the runtime mounts "/vault//secrets/" at /vault/secrets too.
		mp := path.Clean("/" + m.MountPath)
		for _, sp := range p.mountPaths() {
			if overlaps(mp, sp.path) {
				problems = append(problems, fmt.Sprintf("container %q already mounts %q at %s, which overlaps the secrets path %s: set %s to a free directory",
					c.Name, m.Name, m.MountPath, sp.path, sp.key))
			}
		}
	}
	return problems
}

// overlaps reports whether a is b, or a directory above or below it.
func overlaps(a, b string) bool {
	return a == b || under(b, a) || under(a, b)
}

// under reports whether path p lies strictly inside directory dir.
func under(p, dir string) bool {
	return strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// metricsPortConflicts refuses an app container that declares the agent's metrics port while
// the agent serves it: the pod's containers share one network namespace, so one of the two
// could not listen, and the agent exits when it cannot. Init containers run beside the native
// sidecar (it starts first); beside the classic one only those that keep running do.
func (p *plan) metricsPortConflicts(pod *corev1.Pod) []string {
	port := p.metricsPort()
	if port == 0 || p.shape == ShapeInitOnly {
		return nil
	}
	var problems []string
	check := func(c corev1.Container) {
		for _, cp := range c.Ports {
			if int(cp.ContainerPort) == port && (cp.Protocol == "" || cp.Protocol == corev1.ProtocolTCP) {
				problems = append(problems, fmt.Sprintf("container %q declares containerPort %d, the port the agent serves its metrics on (the webhook's --agent-metrics-port): the pod's containers share one network namespace, so the agent could not listen and would exit, again and again: move the container to another port, or ask the webhook's operators for another --agent-metrics-port",
					c.Name, port))
			}
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if p.shape == ShapeNative || c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			check(c)
		}
	}
	for _, c := range pod.Spec.Containers {
		check(c)
	}
	return problems
}

// planReload checks what the reload annotations need from the pod and, for reload-signal, makes
// the agent run as the app's UID: signalling another UID needs CAP_KILL, which the restricted
// Pod Security Standard forbids.
func (p *plan) planReload(pod *corev1.Pod) []string {
	r := p.opts.Reload
	if p.shape == ShapeInitOnly && (r.HTTP != "" || r.Signal != "") {
		key := contract.AnnotationReloadHTTP
		if r.Signal != "" {
			key = contract.AnnotationReloadSignal
		}
		p.warnings = append(p.warnings, fmt.Sprintf("%s is ignored: the agent is init-only and renders once, so there is no new generation to announce", key))
		return nil
	}
	if !p.signalMode() {
		return nil
	}
	var problems []string
	if pod.Spec.ShareProcessNamespace != nil && !*pod.Spec.ShareProcessNamespace {
		problems = append(problems, fmt.Sprintf("%s needs a shared process namespace, but the pod sets shareProcessNamespace: false: remove it, or use %s",
			contract.AnnotationReloadSignal, contract.AnnotationReloadHTTP))
	}
	uid, err := p.appUID(pod)
	if err != nil {
		return append(problems, err.Error())
	}
	p.d.RunAsUser = uid
	return problems
}

// appUID is the one UID the selected app containers run as (their runAsUser, else the pod's).
func (p *plan) appUID(pod *corev1.Pod) (int64, error) {
	why := fmt.Sprintf("%s: the agent must run as the app's UID to signal %q (another UID would need CAP_KILL, which the restricted Pod Security Standard forbids)",
		contract.AnnotationReloadSignal, p.opts.Reload.Process)
	uids := map[int64][]string{}
	var unset []string
	for _, c := range pod.Spec.Containers {
		if !p.targets[c.Name] {
			continue
		}
		if u := effectiveUID(pod, c); u != nil {
			uids[*u] = append(uids[*u], c.Name)
		} else {
			unset = append(unset, c.Name)
		}
	}
	switch {
	case len(unset) > 0:
		return 0, fmt.Errorf("%s, and container %s has no runAsUser, in its securityContext or the pod's: set runAsUser to the UID the app runs as",
			why, strings.Join(unset, ", "))
	case len(uids) > 1:
		var list []string
		for u, names := range uids {
			list = append(list, fmt.Sprintf("%s as %d", strings.Join(names, ", "), u))
		}
		sort.Strings(list)
		return 0, fmt.Errorf("%s, but the selected containers run as different UIDs (%s): set %s to the container that runs %q",
			why, strings.Join(list, "; "), contract.AnnotationContainers, p.opts.Reload.Process)
	}
	for u := range uids {
		if u == 0 {
			return 0, fmt.Errorf("%s, and the app runs as root (runAsUser 0), which the agent may not: run the app as a non-root UID", why)
		}
		return u, nil
	}
	return 0, fmt.Errorf("%s, and no app container is selected", why)
}

// annotationBudget refuses a pod whose annotations would pass the API server's limit once the
// webhook adds its own, naming the templates (the agent config repeats each of them).
func (p *plan) annotationBudget(pod *corev1.Pod, config string) error {
	total := 0
	for k, v := range pod.Annotations {
		if k != contract.AnnotationStatus && k != contract.AnnotationAgentConfig {
			total += len(k) + len(v)
		}
	}
	total += len(contract.AnnotationStatus) + len(contract.StatusInjected) + len(contract.AnnotationAgentConfig) + len(config)
	if total <= annotations.MaxAnnotationsBytes {
		return nil
	}
	msg := fmt.Sprintf("the pod's annotations would total %d bytes after injection, over the API server's limit of %d bytes (keys plus values), because %s (%d bytes) repeats every template",
		total, annotations.MaxAnnotationsBytes, contract.AnnotationAgentConfig, len(config))
	templates := annotations.Largest(pod.Annotations, 3, func(k string) bool {
		return strings.HasPrefix(k, contract.AnnotationTemplatePrefix)
	})
	if templates != "" {
		return fmt.Errorf("%s: shorten the largest templates: %s", msg, templates)
	}
	return fmt.Errorf("%s: shorten the largest annotations: %s", msg, annotations.Largest(pod.Annotations, 3, nil))
}
