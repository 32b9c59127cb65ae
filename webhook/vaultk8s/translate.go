// Package vaultk8s translates the annotations of HashiCorp's Vault Agent Injector (vault-k8s,
// prefix vault.hashicorp.com/) into vault-injector.io ones, with vault-k8s' defaults. It is pure
// and imports no Kubernetes code: admission (--accept-vault-k8s-annotations), the inject
// preview and `webhook migrate` share it, and the normal annotation parser then checks the
// result.
// Every vault.hashicorp.com key gets a Verdict: translated, warned (dropped, with why) or
// refused (with why and what to use instead); none is ignored silently.
package vaultk8s

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/internal/shorten"
)

// Prefix starts every vault-k8s annotation.
const Prefix = "vault.hashicorp.com/"

// Keys of vault-k8s that decide what a pod is.
const (
	AnnotationInject = Prefix + "agent-inject"
	AnnotationStatus = Prefix + "agent-inject-status"
)

// vault-k8s defaults (agent-inject/agent/config.go): templates used when a secret has none.
const (
	DefaultMapTemplate  = "{{ with secret \"%s\" }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}"
	DefaultJSONTemplate = "{{ with secret \"%s\" }}{{ .Data | toJSON }}\n{{ end }}"
	// DefaultPerms is consul-template's file mode, which vault-k8s files get unless
	// agent-inject-perms-<name> says otherwise; apps running as any UID read them.
	DefaultPerms = "0644"
)

// Verdict is what happened to one vault.hashicorp.com key.
type Verdict string

const (
	Translated Verdict = "translated" // carried into vault-injector.io annotations (or already our behaviour)
	Warned     Verdict = "warned"     // dropped with a warning saying why
	Refused    Verdict = "refused"    // the pod cannot be injected as asked
)

// Result is a translation.
type Result struct {
	// Annotations are the input's, with every vault.hashicorp.com key replaced by the
	// vault-injector.io keys it means. Nil when Problems is not empty.
	Annotations map[string]string
	// AlreadyInjected: vault-k8s injected this pod (agent-inject-status: injected).
	AlreadyInjected bool
	Verdicts        map[string]Verdict // every vault.hashicorp.com key of the input
	// Origins names, for each vault-injector.io key written, the vault.hashicorp.com keys it
	// comes from, so a later refusal can name the key the user wrote.
	Origins  map[string][]string
	Warnings []string
	Problems []string
}

// ourKey matches a vault-injector.io annotation key in a message.
var ourKey = regexp.MustCompile(regexp.QuoteMeta(contract.Prefix) + `[A-Za-z0-9._-]*[A-Za-z0-9]`)

// NameOrigins follows each vault-injector.io key msg names with the vault.hashicorp.com keys
// it was translated from (Origins), so a refusal names the annotation the user wrote.
func (r Result) NameOrigins(msg string) string {
	return ourKey.ReplaceAllStringFunc(msg, func(k string) string {
		if from := r.Origins[k]; len(from) > 0 {
			return k + " (from " + strings.Join(from, ", ") + ")"
		}
		return k
	})
}

// OptedIn reports whether a pod asks vault-k8s for injection. Only "true", as the
// MutatingWebhookConfiguration's matchConditions test it.
func OptedIn(annotations map[string]string) bool {
	return annotations[AnnotationInject] == contract.InjectTrue
}

// Has reports whether any annotation is a vault-k8s one.
func Has(annotations map[string]string) bool {
	for k := range annotations {
		if strings.HasPrefix(k, Prefix) {
			return true
		}
	}
	return false
}

// Translate maps the vault.hashicorp.com annotations of a pod to vault-injector.io ones.
func Translate(in map[string]string) Result {
	t := &translator{in: in, out: map[string]string{}, res: Result{Verdicts: map[string]Verdict{}, Origins: map[string][]string{}}}
	t.run()
	sort.Strings(t.res.Warnings)
	sort.Strings(t.res.Problems)
	if len(t.res.Problems) == 0 {
		t.res.Annotations = t.out
	}
	return t.res
}

type translator struct {
	in, out map[string]string
	res     Result
	secrets map[string]*secret // by raw name (the key's suffix)
}

// secret gathers one agent-inject-secret-<name> and its companions.
type secret struct {
	raw, path, template, file, perms string
	templateFile                     string   // agent-inject-template-file-<name>
	left, right                      string   // template delimiters, "" for the defaults
	volumePath                       string   // secret-volume-path-<name>, when not the pod's
	hasSecret, hasTemplate, strict   bool     // strict: error-on-missing-key
	keys                             []string // its vault.hashicorp.com annotations
}

func (t *translator) verdict(key string, v Verdict) {
	if old, ok := t.res.Verdicts[key]; ok && old == Refused {
		return
	}
	t.res.Verdicts[key] = v
}

func (t *translator) set(key, ourKey, value string) {
	t.out[ourKey] = value
	t.res.Origins[ourKey] = append(t.res.Origins[ourKey], key)
	t.verdict(key, Translated)
}

func (t *translator) warn(key, format string, a ...any) {
	t.res.Warnings = append(t.res.Warnings, t.name(key)+" is not used by vault-injector: "+fmt.Sprintf(format, a...))
	t.verdict(key, Warned)
}

func (t *translator) refuse(key, format string, a ...any) {
	t.res.Problems = append(t.res.Problems, t.name(key)+": "+fmt.Sprintf(format, a...))
	t.res.Verdicts[key] = Refused
}

// name is the key with its value for messages; a template may embed anything, so it is named,
// never echoed.
func (t *translator) name(key string) string {
	if strings.HasPrefix(key, Prefix+"agent-inject-template-") && !strings.HasPrefix(key, Prefix+"agent-inject-template-file-") {
		return key
	}
	return fmt.Sprintf("%s=%q", key, shorten.String(t.in[key], 60))
}

func (t *translator) run() {
	var ours []string
	keys := make([]string, 0, len(t.in))
	for k, v := range t.in {
		switch {
		case strings.HasPrefix(k, Prefix):
			keys = append(keys, k)
		case k == contract.AnnotationStatus || k == contract.AnnotationAgentConfig:
			t.out[k] = v // written by this webhook
		case strings.HasPrefix(k, contract.Prefix):
			ours = append(ours, k)
		default:
			t.out[k] = v
		}
	}
	sort.Strings(keys)
	if len(ours) > 0 && len(keys) > 0 {
		sort.Strings(ours)
		t.res.Problems = append(t.res.Problems, fmt.Sprintf(
			"the pod mixes vault.hashicorp.com annotations with vault-injector.io ones (%s): use one dialect; `webhook migrate` rewrites the vault.hashicorp.com ones",
			strings.Join(ours, ", ")))
		for _, k := range keys {
			t.res.Verdicts[k] = Refused
		}
		return
	}
	if t.in[AnnotationStatus] == "injected" {
		t.res.AlreadyInjected = true
	}
	t.secrets = map[string]*secret{}
	for _, k := range keys {
		t.key(k, t.in[k])
	}
	t.finishSecrets()
}

// key dispatches one vault.hashicorp.com key: exact keys first, then per-secret prefixes
// (longest first, so agent-inject-template-file-x is not template "file-x").
func (t *translator) key(k, v string) {
	name := strings.TrimPrefix(k, Prefix)
	if f, ok := podKeys[name]; ok {
		f(t, k, v)
		return
	}
	for _, p := range secretPrefixes {
		if raw, ok := strings.CutPrefix(name, p.prefix); ok && raw != "" {
			p.apply(t, k, raw, v)
			return
		}
	}
	t.warn(k, "vault-k8s has no such annotation either (a typo?); see the mapping table in docs/migrating-from-vault-k8s.md")
}
