// Package annotations parses a pod's vault-injector.io annotations, once, into a typed Options
// value. Every key goes through one table of validators; every problem is collected, and each
// message names the annotation, the bad value and what is accepted.
package annotations

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/vault-injector/vault-injector/contract"
)

// Options is what the annotations ask for. Zero values mean "use the cluster default".
type Options struct {
	Role       string
	AuthPath   string
	Mode       string
	Refresh    time.Duration
	Containers []string // nil: every container
	VolumePath string

	CPURequest, CPULimit, MemoryRequest, MemoryLimit *resource.Quantity

	Secrets []Secret // sorted by Name
}

// Secret is one secret-<name> annotation with its per-secret companions.
type Secret struct {
	Name     string
	Path     string
	Template string
	Format   string
	File     string
	Perms    contract.FileMode
}

// Error lists every invalid annotation of a pod. Its message is what a user sees when the API
// server refuses the pod.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "invalid vault-injector annotation: " + e.Problems[0]
	}
	return fmt.Sprintf("%d invalid vault-injector annotations: %s", len(e.Problems), strings.Join(e.Problems, "; "))
}

// OptedIn reports whether the pod asks for injection.
func OptedIn(annotations map[string]string) bool {
	return annotations[contract.AnnotationInject] == contract.InjectTrue
}

// Parse reads every vault-injector.io annotation. It returns the options, warnings for
// annotations it ignores (typos, unknown keys) and an *Error when any annotation is invalid.
func Parse(annotations map[string]string) (Options, []string, error) {
	p := parser{secrets: map[string]*Secret{}}
	keys := make([]string, 0, len(annotations))
	for k := range annotations {
		if strings.HasPrefix(k, contract.Prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys) // stable messages
	for _, k := range keys {
		p.parse(k, annotations[k])
	}
	p.finish()
	if len(p.problems) > 0 {
		return Options{}, p.warnings, &Error{Problems: p.problems}
	}
	return p.opts, p.warnings, nil
}

type parser struct {
	opts     Options
	secrets  map[string]*Secret
	pending  []companion // per-secret annotations, applied once every secret-<name> is known
	problems []string
	warnings []string
}

type companion struct {
	key, name, value string
	apply            secretField
}

func (p *parser) problem(key, value, msg string) {
	if strings.HasPrefix(key, contract.AnnotationTemplatePrefix) {
		// A template may embed anything; name it, never echo it.
		p.problems = append(p.problems, fmt.Sprintf("%s: %s", key, msg))
		return
	}
	p.problems = append(p.problems, fmt.Sprintf("%s=%q: %s", key, shorten(value), msg))
}

func (p *parser) parse(key, value string) {
	if f, ok := fields[key]; ok {
		if err := f(&p.opts, value); err != nil {
			p.problem(key, value, err.Error())
		}
		return
	}
	if name, ok := strings.CutPrefix(key, contract.AnnotationSecretPrefix); ok {
		p.parseSecret(key, name, value)
		return
	}
	for prefix, apply := range secretFields {
		if name, ok := strings.CutPrefix(key, prefix); ok {
			p.pending = append(p.pending, companion{key: key, name: name, value: value, apply: apply})
			return
		}
	}
	p.warnings = append(p.warnings, unknownKeyWarning(key))
}

func (p *parser) parseSecret(key, name, value string) {
	if err := contract.ValidateSecretName(name); err != nil {
		p.problem(key, value, err.Error())
		return
	}
	if err := validateVaultPath(value); err != nil {
		p.problem(key, value, err.Error())
		return
	}
	p.secrets[name] = &Secret{Name: name, Path: value, Format: contract.FormatJSON, File: name, Perms: contract.DefaultPerms}
}

// finish applies per-secret annotations and checks what spans several annotations.
func (p *parser) finish() {
	for _, c := range p.pending {
		s, ok := p.secrets[c.name]
		if !ok {
			p.problem(c.key, c.value, fmt.Sprintf("no secret %q to apply it to: add %s%s with the Vault path", c.name, contract.AnnotationSecretPrefix, c.name))
			continue
		}
		if err := c.apply(s, c.value); err != nil {
			p.problem(c.key, c.value, err.Error())
		}
	}
	names := make([]string, 0, len(p.secrets))
	for n := range p.secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		s := p.secrets[n]
		for _, other := range names[:i] {
			if contract.FilesCollide(s.File, p.secrets[other].File) {
				p.problem(contract.AnnotationFilePrefix+n, s.File, fmt.Sprintf("collides with file %q of secret %q: give each secret its own file, not one inside another", p.secrets[other].File, other))
			}
		}
		if s.Template != "" && s.Format != contract.FormatJSON {
			p.warnings = append(p.warnings, fmt.Sprintf("%s%s is ignored because %s%s is set", contract.AnnotationFormatPrefix, n, contract.AnnotationTemplatePrefix, n))
		}
		p.opts.Secrets = append(p.opts.Secrets, *s)
	}
	p.checkResources()
}

func (p *parser) checkResources() {
	o := &p.opts
	pairs := []struct {
		req, lim         *resource.Quantity
		reqKey, limitKey string
	}{
		{o.CPURequest, o.CPULimit, contract.AnnotationAgentCPURequest, contract.AnnotationAgentCPULimit},
		{o.MemoryRequest, o.MemoryLimit, contract.AnnotationAgentMemoryRequest, contract.AnnotationAgentMemoryLimit},
	}
	for _, r := range pairs {
		if r.req != nil && r.lim != nil && r.req.Cmp(*r.lim) > 0 {
			p.problem(r.reqKey, r.req.String(), fmt.Sprintf("request is above %s=%s: the request must not exceed the limit", r.limitKey, r.lim.String()))
		}
	}
}

// shorten keeps messages readable when a value (a template, say) is long.
func shorten(v string) string {
	const max = 80
	if len(v) <= max {
		return v
	}
	return v[:max] + "…"
}

var errEmpty = errors.New("value is empty")
