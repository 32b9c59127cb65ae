package mutate

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
	"unsafe"

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
	warnings = append(warnings, p.warnings...)
	return Result{Patch: p.patch(pod), Shape: p.shape, Warnings: append(warnings, p.readabilityWarnings(pod)...)}, nil
}

// plan is everything resolved from annotations and defaults before the pod is touched.
type plan struct {
	d          Defaults
	opts       annotations.Options
	shape      Shape
	volumePath string
	targets    map[string]bool // containers (and init containers) that get the secrets mount
	config     string          // the agent's contract.Config as JSON
	warnings   []string        // why the plan differs from what was asked, and what cannot work
}

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
	targets, err := selectTargets(pod, opts.Containers)
	if err != nil {
		problems = append(problems, err.Error())
	}
	p.targets = targets
	problems = append(problems, p.conflicts(pod)...)
	problems = append(problems, p.planReload(pod)...)
	cfg, err := p.agentConfig()
	if err != nil {
		problems = append(problems, err.Error())
	} else if err := p.annotationBudget(pod, cfg); err != nil {
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
	ours := map[string]bool{contract.SecretsVolume: true, contract.TokenVolume: true, contract.ConfigVolume: true, contract.HandoverVolume: true, contract.TLSVolume: true}
	for _, v := range pod.Spec.Volumes {
		if ours[v.Name] {
			problems = append(problems, fmt.Sprintf("the pod already has a volume named %q, which the injector adds: rename that volume", v.Name))
		}
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.Name == contract.AgentContainer || c.Name == contract.AgentInitContainer {
				problems = append(problems, fmt.Sprintf("the pod already has a container named %q, which the injector adds, but no %s annotation: rename that container",
					c.Name, contract.AnnotationStatus))
			}
			if !p.targets[c.Name] {
				continue
			}
			for _, m := range c.VolumeMounts {
				// Cleaned: the runtime mounts "/vault//secrets/" at /vault/secrets too.
				mp := path.Clean("/" + m.MountPath)
				if mp == p.volumePath || strings.HasPrefix(p.volumePath, strings.TrimSuffix(mp, "/")+"/") || strings.HasPrefix(mp, p.volumePath+"/") {
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
		Version:     contract.ConfigVersion,
		Vault:       p.vaultConfig(),
		Auth:        contract.Auth{Method: p.authMethod(), Path: authPath, Role: role, TokenFile: contract.TokenFile},
		SecretsDir:  contract.AgentSecretsDir,
		Refresh:     contract.Duration{Duration: refresh},
		InitTimeout: contract.Duration{Duration: contract.DefaultInitTimeout},
		Backoff: contract.Backoff{Min: contract.Duration{Duration: contract.DefaultBackoffMin},
			Max: contract.Duration{Duration: contract.DefaultBackoffMax}},
		MetricsPort: p.d.AgentMetricsPort,
		Secrets:     []contract.Secret{},
	}
	p.applyReload(&cfg)
	if p.shape == ShapeClassic {
		cfg.HandoverFile = contract.HandoverFile
	}
	for _, s := range p.opts.Secrets {
		cs := contract.Secret{Name: s.Name, Path: s.Path, Format: s.Format, Template: s.Template, File: s.File, Perms: s.Perms}
		if s.Template != "" {
			cs.Format = ""
			cs.Compat = s.Compat
		}
		cfg.Secrets = append(cfg.Secrets, cs)
	}
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	var b bytes.Buffer
	size := 1024 // the fixed part, with room for a few secrets
	for _, s := range cfg.Secrets {
		size += 128 + len(s.Template) + len(s.Template)/8 // quotes and newlines are escaped
	}
	b.Grow(size)
	cfg.AppendJSON(&b)
	// The string shares b's bytes instead of copying them, as strings.Builder does: b is
	// never written again.
	return unsafe.String(unsafe.SliceData(b.Bytes()), b.Len()), nil
}

// startupProbeBudget covers the agent's whole first-render window, so a slow Vault delays the
// app instead of restarting the agent mid-retry.
var startupProbeBudget = contract.DefaultInitTimeout + 30*time.Second
