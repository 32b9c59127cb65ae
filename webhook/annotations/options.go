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
	"github.com/vault-injector/vault-injector/internal/shorten"
)

// Options is what the annotations ask for. Zero values mean "use the cluster default".
type Options struct {
	Role       string
	AuthPath   string
	Mode       string
	Refresh    time.Duration
	Containers []string // nil: every container
	// ContainersIncludeInit: with Containers, every init container is selected too.
	ContainersIncludeInit bool
	VolumePath            string
	// VolumeReadWrite: the app containers mount the secrets volume read-write.
	VolumeReadWrite bool

	CPURequest, CPULimit, MemoryRequest, MemoryLimit *resource.Quantity
	// CopyVolumeMountsFrom names the container whose mounts the agent copies, read-only.
	CopyVolumeMountsFrom string
	// AgentJSONPatch and AgentInitJSONPatch are JSON patches of the agent containers, checked
	// for syntax here and for what they change when the plan applies them.
	AgentJSONPatch, AgentInitJSONPatch string

	Vault VaultOptions // connection to Vault (vault.go)

	Secrets []Secret // sorted by Name

	Reload Reload // zero value: no notification beyond the version file (reload.go)

	// InjectToken: the agent keeps its Vault token in the secrets volume (inject-token).
	InjectToken bool

	// Unknown are the vault-injector.io keys Parse ignored (typos), sorted; each has a warning.
	Unknown []string
}

// Secret is one secret-<name> annotation with its per-secret companions.
type Secret struct {
	Name     string
	Path     string
	Template string
	// TemplateFile is the path of the template in the agent container (template-file-<name>).
	TemplateFile string
	Format       string
	File         string
	Perms        contract.FileMode
	Compat       string // "" or a contract.CompatVaultAgent value; only with Template
	// LeftDelim, RightDelim replace "{{" and "}}" in Template ("" for the default).
	LeftDelim, RightDelim string
	// VolumePath: a further mount path of the secrets volume where this file is read.
	VolumePath string
}

// Error lists every invalid annotation of a pod. Its message is what a user sees when the API
// server refuses the pod.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "invalid vault-injector annotation: " + e.Problems[0]
	}
	listed := e.Problems
	if len(listed) > maxListedProblems {
		listed = append(listed[:maxListedProblems:maxListedProblems], fmt.Sprintf("and %d more", len(e.Problems)-maxListedProblems))
	}
	return fmt.Sprintf("%d invalid vault-injector annotations: %s", len(e.Problems), strings.Join(listed, "; "))
}

// maxListedProblems bounds the message of a pod with thousands of bad annotations.
const maxListedProblems = 50

// OptedIn reports whether the pod asks for injection.
func OptedIn(annotations map[string]string) bool {
	return annotations[contract.AnnotationInject] == contract.InjectTrue
}

// Parse reads every vault-injector.io annotation. It returns the options, warnings for
// annotations it ignores (typos, unknown keys) and an *Error when any annotation is invalid.
func Parse(annotations map[string]string) (Options, []string, error) {
	if err := checkAnnotationsSize(annotations); err != nil {
		return Options{}, nil, &Error{Problems: []string{err.Error()}}
	}
	p := parser{in: annotations, secrets: map[string]*Secret{}}
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
	in       map[string]string
	opts     Options
	secrets  map[string]*Secret
	pending  []companion // per-secret annotations, applied once every secret-<name> is known
	problems []string
	warnings []string
	tooMany  bool // MaxSecrets passed, said once
}

type companion struct {
	key, name, value string
	apply            secretField
}

func (p *parser) problem(key, value, msg string) {
	if p.isTemplateKey(key) {
		// A template may embed anything; name it, never echo it.
		p.problems = append(p.problems, fmt.Sprintf("%s: %s", key, msg))
		return
	}
	p.problems = append(p.problems, fmt.Sprintf("%s=%q: %s", key, Shorten(value), msg))
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
	if name, apply, ok := p.secretField(key); ok {
		p.pending = append(p.pending, companion{key: key, name: name, value: value, apply: apply})
		return
	}
	p.opts.Unknown = append(p.opts.Unknown, key)
	switch n := len(p.opts.Unknown); {
	case n <= maxUnknownWarnings:
		p.warnings = append(p.warnings, unknownKeyWarning(key))
	case n == maxUnknownWarnings+1:
		p.warnings = append(p.warnings, "more unknown vault-injector.io annotations are ignored; the first ones are listed above")
	}
}

// isTemplateKey reports whether key holds a template (not a template file's path).
func (p *parser) isTemplateKey(key string) bool {
	_, file := p.templateFileKey(key)
	return strings.HasPrefix(key, contract.AnnotationTemplatePrefix) && !file
}

// templateFileKey reports whether key is template-file-<name> of secret name (see secretField).
func (p *parser) templateFileKey(key string) (string, bool) {
	name, ok := strings.CutPrefix(key, contract.AnnotationTemplateFilePrefix)
	if !ok {
		return "", false
	}
	_, declared := p.in[contract.AnnotationSecretPrefix+"file-"+name]
	return name, !declared
}

// secretField finds the per-secret annotation key belongs to. template-file-<name> is the
// template file of <name>, as vault-k8s reads agent-inject-template-file-<name>, unless the pod
// declares a secret file-<name> (secret-file-<name>): then it stays that secret's template, as
// before template files existed.
func (p *parser) secretField(key string) (string, secretField, bool) {
	if name, ok := p.templateFileKey(key); ok {
		return name, templateFileField, true
	}
	for prefix, apply := range secretFields {
		if name, ok := strings.CutPrefix(key, prefix); ok && prefix != contract.AnnotationTemplateFilePrefix {
			return name, apply, true
		}
	}
	return "", nil, false
}

// maxUnknownWarnings keeps a pod with thousands of stray keys from costing thousands of
// suggestions and a response the size of its annotations.
const maxUnknownWarnings = 10

func (p *parser) parseSecret(key, name, value string) {
	if len(p.secrets) == MaxSecrets {
		if !p.tooMany {
			p.problem(key, value, fmt.Sprintf("more than %d secret-<name> annotations: a pod may fetch at most %d secrets; use fewer, or templates that combine several keys", MaxSecrets, MaxSecrets))
		}
		p.tooMany = true
		return
	}
	if err := contract.ValidateSecretName(name); err != nil {
		p.problem(key, value, err.Error())
		return
	}
	if err := contract.ValidateVaultPath(value); err != nil {
		p.problem(key, value, err.Error())
		return
	}
	p.secrets[name] = newSecret(name, value)
}

// newSecret is secret name at path with the defaults its companions may change.
func newSecret(name, path string) *Secret {
	return &Secret{Name: name, Path: path, Format: contract.FormatJSON, File: name, Perms: contract.DefaultPerms}
}

// finish applies per-secret annotations and checks what spans several annotations.
func (p *parser) finish() {
	p.templatesAlone()
	// Delimiters first: the template's checks parse with them.
	for _, delims := range []bool{true, false} {
		for _, c := range p.pending {
			if isDelimKey(c.key) != delims {
				continue
			}
			s, ok := p.secrets[c.name]
			if !ok {
				p.problem(c.key, c.value, fmt.Sprintf("no secret %q to apply it to: add %s%s with the Vault path", c.name, contract.AnnotationSecretPrefix, c.name))
				continue
			}
			if err := c.apply(s, c.value); err != nil {
				p.problem(c.key, c.value, err.Error())
			}
		}
		if delims {
			for _, n := range sortedNames(p.secrets) {
				p.checkDelimPair(p.secrets[n])
			}
		}
	}
	names := sortedNames(p.secrets)
	for i, n := range names {
		s := p.secrets[n]
		p.checkTokenFile(s)
		for _, other := range names[:i] {
			if contract.FilesCollide(s.File, p.secrets[other].File) {
				p.problem(contract.AnnotationFilePrefix+n, s.File, fmt.Sprintf("collides with file %q of secret %q: give each secret its own file, not one inside another", p.secrets[other].File, other))
			}
		}
		if s.Template != "" && s.TemplateFile != "" {
			p.problem(contract.AnnotationTemplateFilePrefix+n, s.TemplateFile, fmt.Sprintf("%s%s is set too: a secret has one template, so remove one of them", contract.AnnotationTemplatePrefix, n))
		}
		if s.TemplateFile != "" && s.Format != contract.FormatJSON {
			p.warnings = append(p.warnings, fmt.Sprintf("%s%s is ignored because %s%s is set", contract.AnnotationFormatPrefix, n, contract.AnnotationTemplateFilePrefix, n))
		}
		if s.Template != "" && s.Format != contract.FormatJSON {
			p.warnings = append(p.warnings, fmt.Sprintf("%s%s is ignored because %s%s is set", contract.AnnotationFormatPrefix, n, contract.AnnotationTemplatePrefix, n))
		}
		if s.Compat != "" && s.Template == "" && s.TemplateFile == "" {
			p.warnings = append(p.warnings, fmt.Sprintf("%s%s is ignored because %s%s is not set", contract.AnnotationCompatPrefix, n, contract.AnnotationTemplatePrefix, n))
			s.Compat = ""
		}
		if (s.LeftDelim != "" || s.RightDelim != "") && s.Template == "" && s.TemplateFile == "" {
			p.warnings = append(p.warnings, fmt.Sprintf("%s%s and %s%s are ignored because %s%s is not set",
				contract.AnnotationLeftDelimPrefix, n, contract.AnnotationRightDelimPrefix, n, contract.AnnotationTemplatePrefix, n))
			s.LeftDelim, s.RightDelim = "", ""
		}
		p.opts.Secrets = append(p.opts.Secrets, *s)
	}
	p.checkWrites()
	p.checkResources()
	p.checkReload()
}

// checkWrites refuses, for templates calling writeToFile with constant arguments, what the
// agent would refuse at start: a path outside its secrets dir or on another secret's file, a
// named owner or group, a bad mode or flag.
func (p *parser) checkWrites() {
	var files []string
	for _, s := range p.opts.Secrets {
		files = append(files, s.File)
	}
	if p.opts.InjectToken {
		files = append(files, contract.TokenSinkName)
	}
	files = append(files, contract.VersionFile)
	for _, s := range p.opts.Secrets {
		if !strings.Contains(s.Template, contract.WriteToFileFunc) {
			continue
		}
		t, err := newTemplate(s.LeftDelim, s.RightDelim).Parse(s.Template)
		if err != nil {
			continue // reported by the template's own check
		}
		if err := contract.CheckWriteToFile(t, contract.AgentSecretsDir, files); err != nil {
			p.problem(contract.AnnotationTemplatePrefix+s.Name, "", err.Error())
		}
	}
}

func sortedNames(m map[string]*Secret) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func isDelimKey(k string) bool {
	return strings.HasPrefix(k, contract.AnnotationLeftDelimPrefix) || strings.HasPrefix(k, contract.AnnotationRightDelimPrefix)
}

// checkDelimPair refuses equal delimiters (once both are applied; each alone was checked), and
// drops them, so the template is not also refused for a parse it cannot have.
func (p *parser) checkDelimPair(s *Secret) {
	if s.LeftDelim == "" && s.RightDelim == "" {
		return
	}
	if err := contract.ValidateDelims(s.LeftDelim, s.RightDelim); err != nil {
		key := contract.AnnotationRightDelimPrefix + s.Name
		p.problem(key, s.RightDelim, err.Error()+": set "+contract.AnnotationLeftDelimPrefix+s.Name+" and "+key+" to different markers")
		s.LeftDelim, s.RightDelim = "", ""
	}
}

// templatesAlone makes a secret of each template-<name> without secret-<name> whose template
// never reads its own dot (static text, or text that names its paths with secret "<path>"):
// such a secret has no path. One that reads .Data keeps the "no secret to apply it to" refusal,
// which also catches a typo in the name.
func (p *parser) templatesAlone() {
	for _, c := range p.pending {
		if _, ok := p.secrets[c.name]; ok || !strings.HasPrefix(c.key, contract.AnnotationTemplatePrefix) {
			continue
		}
		if _, file := p.templateFileKey(c.key); file {
			// A template file: admission cannot see whether it reads its dot; the agent
			// refuses an empty path when it does.
			if contract.ValidateSecretName(c.name) == nil && len(p.secrets) < MaxSecrets {
				p.secrets[c.name] = newSecret(c.name, "")
			}
			continue
		}
		left, right := p.in[contract.AnnotationLeftDelimPrefix+c.name], p.in[contract.AnnotationRightDelimPrefix+c.name]
		if contract.ValidateSecretName(c.name) != nil || len(p.secrets) == MaxSecrets || contract.ValidateDelims(left, right) != nil ||
			!templateStandsAlone(c.value, left, right) {
			continue
		}
		p.secrets[c.name] = newSecret(c.name, "")
	}
}

// checkTokenFile refuses a secret whose file would take the place of the agent's token file.
func (p *parser) checkTokenFile(s *Secret) {
	if !p.opts.InjectToken || !contract.FilesCollide(s.File, contract.TokenSinkName) {
		return
	}
	key := contract.AnnotationFilePrefix + s.Name
	if s.File == s.Name {
		key = contract.AnnotationSecretPrefix + s.Name // the file is named after the secret
	}
	p.problem(key, p.rawValue(key, s), fmt.Sprintf("file %q collides with the agent's token file %q, which %s=true writes: give the secret another file with %s%s",
		s.File, contract.TokenSinkName, contract.AnnotationInjectToken, contract.AnnotationFilePrefix, s.Name))
}

func (p *parser) rawValue(key string, s *Secret) string {
	if strings.HasPrefix(key, contract.AnnotationSecretPrefix) {
		return s.Path
	}
	return s.File
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

// Shorten keeps messages readable when a value (a template, say) is long.
func Shorten(v string) string { return shorten.String(v, 80) }

var errEmpty = errors.New("value is empty")
