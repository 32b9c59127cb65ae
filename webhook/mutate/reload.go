package mutate

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/vault-injector/vault-injector/contract"
)

// Values of Defaults.AgentMetrics (--agent-metrics).
const (
	AgentMetricsOff      = "off"
	AgentMetricsLoopback = "loopback" // 127.0.0.1:--agent-metrics-port, as before the flag existed
	AgentMetricsPod      = "pod"      // the pod IP, with a containerPort named vault-metrics
)

func (d *Defaults) validateAgentMetrics() error {
	switch d.AgentMetrics {
	case AgentMetricsOff, AgentMetricsLoopback:
	case AgentMetricsPod:
		if d.AgentMetricsPort == 0 {
			return errors.New("--agent-metrics=pod needs --agent-metrics-port (the port Prometheus scrapes on the pod IP)")
		}
	default:
		return fmt.Errorf("agent metrics %q is invalid: use %s, %s or %s (--agent-metrics)", d.AgentMetrics, AgentMetricsOff, AgentMetricsLoopback, AgentMetricsPod)
	}
	return nil
}

// metricsPort is the agent's metrics port in its config (0: no endpoint).
func (p *plan) metricsPort() int {
	if p.d.AgentMetrics == AgentMetricsOff {
		return 0
	}
	return p.d.AgentMetricsPort
}

// agentPorts names the metrics port of a long-running agent that listens on the pod IP, so a
// PodMonitor (or the prometheus.io annotations convention) finds it.
func (p *plan) agentPorts(once bool) []corev1.ContainerPort {
	if once || p.d.AgentMetrics != AgentMetricsPod || p.metricsPort() == 0 {
		return nil
	}
	return []corev1.ContainerPort{{Name: contract.MetricsPortName, ContainerPort: int32(p.metricsPort()), Protocol: corev1.ProtocolTCP}}
}

// applyReload fills the agent config's reload and metrics settings.
func (p *plan) applyReload(cfg *contract.Config) {
	cfg.MetricsPort = p.metricsPort()
	if p.d.AgentMetrics == AgentMetricsPod {
		cfg.MetricsListen = contract.MetricsListenPod
	}
	r := p.opts.Reload
	if p.shape != ShapeInitOnly && (r.HTTP != "" || r.Signal != "") {
		cfg.Reload = &contract.Reload{HTTP: r.HTTP, Signal: r.Signal, Process: r.Process}
	}
}

// signalMode reports whether the agent signals the app: it then shares the pod's process
// namespace and runs as the app's UID.
func (p *plan) signalMode() bool {
	return p.opts.Reload.Signal != "" && p.shape != ShapeInitOnly
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

// reloadOps are the pod-level adds of issue 13, after the annotations: the injected label, and
// shareProcessNamespace for reload-signal.
func (p *plan) reloadOps(pod *corev1.Pod, add func(path string, v any)) {
	switch {
	case pod.Labels[contract.LabelInjected] == contract.LabelInjectedValue:
	case len(pod.Labels) == 0: // metadata.labels may be absent: add the whole map
		add("/metadata/labels", map[string]string{contract.LabelInjected: contract.LabelInjectedValue})
	default:
		add("/metadata/labels/"+escapeKey(contract.LabelInjected), contract.LabelInjectedValue)
	}
	if p.signalMode() && pod.Spec.ShareProcessNamespace == nil {
		add("/spec/shareProcessNamespace", ptr.To(true))
	}
}
