package mutate

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/webhook/annotations"
)

// Skip reasons: why a pod comes back unchanged. They are codes, logged and counted.
const (
	SkipNotOptedIn         = "not-opted-in"
	SkipAlreadyInjected    = "already-injected"
	ModeNative             = "native-sidecar"
	ModeClassic            = "classic-sidecar"
	ModeInitOnly           = "init-only"
	DenyInvalidAnnotations = "invalid-annotations"
	DenyConflict           = "conflict"
)

// Result is the outcome for one pod.
type Result struct {
	Pod      *corev1.Pod // the injected pod; nil when Skipped is set
	Skipped  string      // a Skip* code when the pod is left alone
	Mode     string      // a Mode* code when injected
	Warnings []string    // admission warnings (typos, ignored annotations, unreadable files)
}

// Denial is why a pod must be refused. Reason is a code for metrics; the message is for users.
type Denial struct {
	Reason string
	Err    error
}

func (d *Denial) Error() string { return d.Err.Error() }
func (d *Denial) Unwrap() error { return d.Err }

// Pod injects the agent into a copy of pod as its annotations ask. It never changes pod. A pod
// that does not opt in, or is already injected, comes back as a skip; bad annotations and
// name clashes come back as a *Denial.
func Pod(pod *corev1.Pod, d Defaults) (Result, error) {
	if !annotations.OptedIn(pod.Annotations) {
		return Result{Skipped: SkipNotOptedIn}, nil
	}
	if injected(pod) {
		return Result{Skipped: SkipAlreadyInjected}, nil
	}
	opts, warnings, err := annotations.Parse(pod.Annotations)
	if err != nil {
		return Result{Warnings: warnings}, &Denial{Reason: DenyInvalidAnnotations, Err: err}
	}
	p, err := newPlan(pod, opts, d)
	if err != nil {
		return Result{Warnings: warnings}, err
	}
	out := pod.DeepCopy()
	p.apply(out)
	return Result{Pod: out, Mode: p.mode, Warnings: append(warnings, p.readabilityWarnings(pod)...)}, nil
}

// injected is true when the status annotation or any agent container is present, so
// reinvocation and re-submission of an injected pod change nothing.
func injected(pod *corev1.Pod) bool {
	if pod.Annotations[contract.AnnotationStatus] == contract.StatusInjected {
		return true
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.Name == contract.AgentContainer || c.Name == contract.AgentInitContainer {
				return true
			}
		}
	}
	return false
}

// plan is everything resolved from annotations and defaults before the pod is touched.
type plan struct {
	d          Defaults
	opts       annotations.Options
	mode       string
	volumePath string
	targets    map[string]bool // containers (and init containers) that get the secrets mount
	config     string          // the agent's contract.Config as JSON
}

func newPlan(pod *corev1.Pod, opts annotations.Options, d Defaults) (*plan, error) {
	p := &plan{d: d, opts: opts, mode: ModeNative, volumePath: opts.VolumePath}
	switch {
	case opts.Mode == contract.ModeInitOnly:
		p.mode = ModeInitOnly
	case d.Sidecar == SidecarClassic:
		p.mode = ModeClassic
	}
	if p.volumePath == "" {
		p.volumePath = contract.DefaultVolumePath
	}
	var problems []string
	targets, err := selectTargets(pod, opts.Containers)
	if err != nil {
		problems = append(problems, err.Error())
	}
	p.targets = targets
	problems = append(problems, p.conflicts(pod)...)
	cfg, err := p.agentConfig()
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return nil, &Denial{Reason: DenyConflict, Err: fmt.Errorf("cannot inject the vault agent: %s", strings.Join(problems, "; "))}
	}
	p.config = cfg
	return p, nil
}

func selectTargets(pod *corev1.Pod, names []string) (map[string]bool, error) {
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
	return targets, nil
}

// conflicts finds names and paths of the pod that the injection would collide with.
func (p *plan) conflicts(pod *corev1.Pod) []string {
	var problems []string
	ours := map[string]bool{contract.SecretsVolume: true, contract.TokenVolume: true, contract.ConfigVolume: true, contract.HandoverVolume: true}
	for _, v := range pod.Spec.Volumes {
		if ours[v.Name] {
			problems = append(problems, fmt.Sprintf("the pod already has a volume named %q, which the injector adds: rename that volume", v.Name))
		}
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if !p.targets[c.Name] {
				continue
			}
			for _, m := range c.VolumeMounts {
				if m.MountPath == p.volumePath || strings.HasPrefix(p.volumePath, strings.TrimSuffix(m.MountPath, "/")+"/") || strings.HasPrefix(m.MountPath, p.volumePath+"/") {
					problems = append(problems, fmt.Sprintf("container %q already mounts %q at %s, which overlaps the secrets path %s: set %s to a free directory",
						c.Name, m.Name, m.MountPath, p.volumePath, contract.AnnotationVolumePath))
				}
			}
		}
	}
	return problems
}

func (p *plan) agentConfig() (string, error) {
	role := p.opts.Role
	if role == "" {
		role = p.d.Role
	}
	if role == "" {
		return "", fmt.Errorf("no Vault role: set %s (this webhook has no --default-role)", contract.AnnotationRole)
	}
	authPath := p.opts.AuthPath
	if authPath == "" {
		authPath = p.d.AuthPath
	}
	refresh := p.opts.Refresh
	if refresh == 0 {
		refresh = contract.DefaultRefresh
	}
	cfg := contract.Config{
		Version: contract.ConfigVersion,
		Vault: contract.Vault{Address: p.d.VaultAddr, Namespace: p.d.VaultNamespace,
			CACert: p.d.VaultCACert, ServerName: p.d.VaultTLSServerName},
		Auth:        contract.Auth{Path: authPath, Role: role, TokenFile: contract.TokenFile},
		SecretsDir:  contract.AgentSecretsDir,
		Refresh:     contract.Duration{Duration: refresh},
		InitTimeout: contract.Duration{Duration: contract.DefaultInitTimeout},
		Backoff: contract.Backoff{Min: contract.Duration{Duration: contract.DefaultBackoffMin},
			Max: contract.Duration{Duration: contract.DefaultBackoffMax}},
		MetricsPort: p.d.AgentMetricsPort,
		Secrets:     []contract.Secret{},
	}
	if p.mode == ModeClassic {
		cfg.HandoverFile = contract.HandoverFile
	}
	for _, s := range p.opts.Secrets {
		cs := contract.Secret{Name: s.Name, Path: s.Path, Format: s.Format, Template: s.Template, File: s.File, Perms: s.Perms}
		if s.Template != "" {
			cs.Format = ""
		}
		cfg.Secrets = append(cfg.Secrets, cs)
	}
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	b, err := json.Marshal(cfg)
	return string(b), err
}

// startupProbeBudget covers the agent's whole first-render window, so a slow Vault delays the
// app instead of restarting the agent mid-retry.
var startupProbeBudget = contract.DefaultInitTimeout + 30*time.Second
