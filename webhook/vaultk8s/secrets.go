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
	{"agent-inject-template-file-", func(t *translator, k, raw, v string) {
		if strings.TrimSpace(v) == "" {
			t.warn(k, "it is empty, and vault-k8s ignores an empty template file too")
			return
		}
		t.secret(raw, k).templateFile = v
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
	{"agent-template-left-delim-", func(t *translator, k, raw, v string) { t.secret(raw, k).left = v }},
	{"agent-template-right-delim-", func(t *translator, k, raw, v string) { t.secret(raw, k).right = v }},
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
		if !s.hasSecret && !s.hasTemplate && s.templateFile == "" {
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
		if t.tokenFileTaken(s, name) {
			continue
		}
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
	if s.templateFile != "" && s.hasTemplate {
		// vault-k8s reads the template file only when the secret has no template.
		t.warn(Prefix+"agent-inject-template-file-"+s.raw, "agent-inject-template-%s is set too, and vault-k8s renders that template, ignoring the file", s.raw)
	}
	if s.templateFile != "" && !s.hasTemplate {
		// The file is read by the agent at start, with the checks of a template annotation; a
		// file with no secret path reads its secrets with secret "<path>".
		if p != "" {
			t.out[contract.AnnotationSecretPrefix+name] = p
		}
		t.out[contract.AnnotationTemplateFilePrefix+name] = s.templateFile
	} else if s.hasTemplate {
		for _, msg := range checkFuncs(tmpl, s.left, s.right) {
			t.refuse(Prefix+"agent-inject-template-"+s.raw, "%s", msg)
		}
		if !s.hasSecret {
			// vault-k8s allows a template alone: its first secret call gives the dot a path; a
			// template that calls none needs no path unless it reads the dot.
			if p = firstSecretPath(tmpl, s.left, s.right); p == "" && readsDot(tmpl, s.left, s.right) {
				t.refuse(Prefix+"agent-inject-template-"+s.raw, `the template reads its own secret (.Data) but calls no secret "<path>": add agent-inject-secret-%s with the Vault path`, s.raw)
				return
			}
		}
	} else {
		tmpl = fmt.Sprintf(DefaultMapTemplate, p)
		if strings.EqualFold(t.in[Prefix+"agent-inject-default-template"], "json") {
			tmpl = fmt.Sprintf(DefaultJSONTemplate, p)
		}
	}
	if s.templateFile == "" || s.hasTemplate {
		if p != "" {
			t.out[contract.AnnotationSecretPrefix+name] = p
		}
		t.out[contract.AnnotationTemplatePrefix+name] = tmpl
	}
	if s.file != "" {
		// vault-k8s joins the file to the volume path, so a leading "/" stays inside it.
		t.out[contract.AnnotationFilePrefix+name] = strings.TrimPrefix(path.Clean("/"+s.file), "/")
	}
	perms := s.perms
	if perms == "" {
		perms = DefaultPerms
	}
	t.out[contract.AnnotationPermsPrefix+name] = perms
	// vault-k8s hands the delimiters to Vault Agent for the default template too, which then
	// renders it as text; the parser checks them.
	if s.left != "" {
		t.out[contract.AnnotationLeftDelimPrefix+name] = s.left
	}
	if s.right != "" {
		t.out[contract.AnnotationRightDelimPrefix+name] = s.right
	}
	if s.volumePath != "" {
		t.out[contract.AnnotationVolumePathPrefix+name] = s.volumePath
	}
	// Every translated template was written for Vault Agent.
	t.out[contract.AnnotationCompatPrefix+name] = contract.CompatVaultAgent
	if s.strict {
		t.out[contract.AnnotationCompatPrefix+name] = contract.CompatVaultAgentStrict
	}
}

// tokenFileTaken refuses a secret whose file is the one agent-inject-token writes (vault-k8s
// would have its agent and its template overwrite each other's file).
func (t *translator) tokenFileTaken(s *secret, name string) bool {
	if on, _ := strconv.ParseBool(t.in[Prefix+"agent-inject-token"]); !on {
		return false
	}
	file, key := name, Prefix+"agent-inject-secret-"+s.raw
	switch {
	case s.hasSecret:
	case s.hasTemplate:
		key = Prefix + "agent-inject-template-" + s.raw
	default:
		key = Prefix + "agent-inject-template-file-" + s.raw
	}
	if s.file != "" {
		file, key = strings.TrimPrefix(path.Clean("/"+s.file), "/"), Prefix+"agent-inject-file-"+s.raw
	}
	if !contract.FilesCollide(file, contract.TokenSinkName) {
		return false
	}
	t.refuse(key, "the file %q collides with the token file %q that %sagent-inject-token writes: name the file otherwise with %sagent-inject-file-%s",
		file, contract.TokenSinkName, Prefix, Prefix, s.raw)
	return true
}

func (t *translator) preserveCase(raw string) bool {
	v, ok := t.in[Prefix+"preserve-secret-case-"+raw]
	if !ok {
		v = t.in[Prefix+"preserve-secret-case"]
	}
	b, _ := strconv.ParseBool(v)
	return b
}
