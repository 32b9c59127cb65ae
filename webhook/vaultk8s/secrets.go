package vaultk8s

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/vault-injector/vault-injector/contract"
)

type secretPrefix struct {
	prefix string
	apply  func(t *translator, key, raw, value string)
}

// secretPrefixes are the per-secret vault-k8s annotations, longest prefix first. Companions
// are matched to agent-inject-secret-<raw> by the raw suffix, as vault-k8s does.
var secretPrefixes = []secretPrefix{
	{"agent-inject-template-file-", func(t *translator, k, _, _ string) {
		t.refuse(k, "templates are not read from files in the agent's image: put the template itself in agent-inject-template-<name>")
	}},
	{"agent-inject-template-", func(t *translator, k, raw, v string) {
		if strings.TrimSpace(v) == "" {
			t.warn(k, "it is empty, and vault-k8s ignores an empty template too")
			return
		}
		s := t.secret(raw, k)
		s.template, s.hasTemplate = v, true
	}},
	{"agent-inject-secret-", func(t *translator, k, raw, v string) {
		if strings.TrimSpace(v) == "" {
			t.warn(k, "it is empty, and vault-k8s ignores an empty secret path too")
			return
		}
		s := t.secret(raw, k)
		s.path, s.hasSecret = v, true
	}},
	{"agent-inject-file-", func(t *translator, k, raw, v string) { t.secret(raw, k).file = v }},
	{"agent-inject-perms-", func(t *translator, k, raw, v string) { t.secret(raw, k).perms = v }},
	{"agent-inject-command-", func(t *translator, k, _, _ string) {
		t.refuse(k, "the agent runs no commands: to make the app reload its files, use vault-injector.io/reload-http (a URL POSTed after each new set of files) or vault-injector.io/reload-signal with reload-process (a signal sent to the app's process)")
	}},
	{"agent-template-left-delim-", delim("{{")},
	{"agent-template-right-delim-", delim("}}")},
	{"error-on-missing-key-", func(t *translator, k, raw, v string) {
		b, err := strconv.ParseBool(v)
		switch {
		case err != nil:
			t.refuse(k, "must be true or false, as vault-k8s requires")
		default:
			t.secret(raw, k).strict = b
		}
	}},
	{"preserve-secret-case-", func(t *translator, k, raw, v string) {
		if _, err := strconv.ParseBool(v); err != nil {
			t.refuse(k, "must be true or false, as vault-k8s requires")
			return
		}
		t.secret(raw, k)
	}},
	{"secret-volume-path-", func(t *translator, k, raw, v string) {
		pod := t.in[Prefix+"secret-volume-path"]
		if pod == "" {
			pod = contract.DefaultVolumePath
		}
		s := t.secret(raw, k)
		if path.Clean(v) != pod {
			// vault-k8s writes the file under v: the secrets volume is mounted there too.
			s.volumePath = path.Clean(v)
		}
	}},
	{"auth-config-", func(t *translator, k, _, _ string) {
		t.refuse(k, "extra settings of the auth method are not supported: the agent logs in with the pod's projected service-account token and role")
	}},
	{"agent-telemetry-", func(t *translator, k, _, _ string) {
		t.warn(k, "the agent serves its own /healthz and /metrics on localhost (the webhook's --agent-metrics-port)")
	}},
}

func delim(want string) func(t *translator, k, raw, v string) {
	return func(t *translator, k, raw, v string) {
		if v != want {
			t.refuse(k, "templates use the delimiters {{ and }}: rewrite the template with them")
			return
		}
		t.secret(raw, k)
	}
}

// secret returns the secret of raw name, remembering key as one of its annotations.
func (t *translator) secret(raw, key string) *secret {
	s, ok := t.secrets[raw]
	if !ok {
		s = &secret{raw: raw}
		t.secrets[raw] = s
	}
	s.keys = append(s.keys, key)
	t.verdict(key, Translated)
	return s
}

// finishSecrets writes each secret's vault-injector.io keys with vault-k8s' defaults: file
// <name> (lower-cased unless preserve-secret-case) under the volume, the default `map` (or
// `json`) template, mode 0644, and Vault Agent's template behaviour (compat-<name>).
func (t *translator) finishSecrets() {
	raws := make([]string, 0, len(t.secrets))
	for r := range t.secrets {
		raws = append(raws, r)
	}
	sort.Strings(raws)
	byName := map[string]string{}
	for _, raw := range raws {
		s := t.secrets[raw]
		if !s.hasSecret && !s.hasTemplate {
			for _, k := range s.keys {
				t.warn(k, "there is no agent-inject-secret-%s or agent-inject-template-%s for it to apply to (vault-k8s ignores it too)", raw, raw)
			}
			continue
		}
		name := raw
		if !t.preserveCase(raw) {
			name = strings.ToLower(raw)
		}
		if other, dup := byName[name]; dup {
			t.refuse(s.keys[0], "secret %q names the same file as secret %q once lower-cased: rename one, or set preserve-secret-case", raw, other)
			continue
		}
		byName[name] = raw
		had := make(map[string]bool, len(t.out))
		for k := range t.out {
			had[k] = true
		}
		t.writeSecret(s, name)
		for k := range t.out {
			if !had[k] {
				t.res.Origins[k] = s.keys
			}
		}
	}
}

func (t *translator) writeSecret(s *secret, name string) {
	p := s.path
	tmpl := s.template
	if s.hasTemplate {
		for _, msg := range checkFuncs(tmpl) {
			t.refuse(Prefix+"agent-inject-template-"+s.raw, "%s", msg)
		}
		if !s.hasSecret {
			// vault-k8s allows a template alone; the agent needs a path for the template's dot.
			if p = firstSecretPath(tmpl); p == "" {
				t.refuse(Prefix+"agent-inject-template-"+s.raw, `the template calls no secret "<path>": add agent-inject-secret-%s with the Vault path`, s.raw)
				return
			}
		}
	} else {
		tmpl = fmt.Sprintf(DefaultMapTemplate, p)
		if strings.EqualFold(t.in[Prefix+"agent-inject-default-template"], "json") {
			tmpl = fmt.Sprintf(DefaultJSONTemplate, p)
		}
	}
	t.out[contract.AnnotationSecretPrefix+name] = p
	t.out[contract.AnnotationTemplatePrefix+name] = tmpl
	if s.file != "" {
		// vault-k8s joins the file to the volume path, so a leading "/" stays inside it.
		t.out[contract.AnnotationFilePrefix+name] = strings.TrimPrefix(path.Clean("/"+s.file), "/")
	}
	perms := s.perms
	if perms == "" {
		perms = DefaultPerms
	}
	t.out[contract.AnnotationPermsPrefix+name] = perms
	if s.volumePath != "" {
		t.out[contract.AnnotationVolumePathPrefix+name] = s.volumePath
	}
	// Every translated template was written for Vault Agent.
	t.out[contract.AnnotationCompatPrefix+name] = contract.CompatVaultAgent
	if s.strict {
		t.out[contract.AnnotationCompatPrefix+name] = contract.CompatVaultAgentStrict
	}
}

func (t *translator) preserveCase(raw string) bool {
	v, ok := t.in[Prefix+"preserve-secret-case-"+raw]
	if !ok {
		v = t.in[Prefix+"preserve-secret-case"]
	}
	b, _ := strconv.ParseBool(v)
	return b
}
