package annotations

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"sync"
	"text/template"
	"time"

	jsonpatchapply "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/vault-injector/vault-injector/contract"
)

// The validator table: one entry per pod-wide annotation.
var fields = map[string]func(*Options, string) error{
	contract.AnnotationInject:      validateInject,
	contract.AnnotationStatus:      func(*Options, string) error { return nil }, // written by the webhook
	contract.AnnotationAgentConfig: func(*Options, string) error { return nil },
	contract.AnnotationRole: func(o *Options, v string) (err error) {
		o.Role, err = validateName(v, "a Vault role name")
		return err
	},
	contract.AnnotationAuthPath: func(o *Options, v string) (err error) {
		o.AuthPath, err = validateAuthPath(v)
		return err
	},
	contract.AnnotationMode: func(o *Options, v string) error {
		if v != contract.ModeSidecar && v != contract.ModeInitOnly {
			return fmt.Errorf("mode must be %q (render before the app starts, then keep fresh) or %q (render once, for Jobs)", contract.ModeSidecar, contract.ModeInitOnly)
		}
		o.Mode = v
		return nil
	},
	contract.AnnotationRefresh: func(o *Options, v string) (err error) {
		o.Refresh, err = validateRefresh(v)
		return err
	},
	contract.AnnotationContainers: func(o *Options, v string) (err error) {
		o.Containers, err = validateContainerList(v)
		return err
	},
	contract.AnnotationInjectToken: func(o *Options, v string) error {
		if v != "true" && v != "false" {
			return errors.New(`use "true" to have the agent keep its Vault token in the secrets volume (file token), or "false"`)
		}
		o.InjectToken = v == "true"
		return nil
	},
	contract.AnnotationContainersIncludeInit: func(o *Options, v string) (err error) {
		o.ContainersIncludeInit, err = validateBool(v)
		return err
	},
	contract.AnnotationAgentCopyVolumeMounts: func(o *Options, v string) error {
		if errs := validation.IsDNS1123Label(v); len(errs) > 0 {
			return fmt.Errorf("must be the name of one of the pod's containers or init containers (%s)", errs[0])
		}
		o.CopyVolumeMountsFrom = v
		return nil
	},
	contract.AnnotationAgentJSONPatch: func(o *Options, v string) (err error) {
		o.AgentJSONPatch, err = validateJSONPatch(v)
		return err
	},
	contract.AnnotationAgentInitJSONPatch: func(o *Options, v string) (err error) {
		o.AgentInitJSONPatch, err = validateJSONPatch(v)
		return err
	},
	contract.AnnotationVolumeReadWrite: func(o *Options, v string) (err error) {
		o.VolumeReadWrite, err = validateBool(v)
		return err
	},
	contract.AnnotationVolumePath: func(o *Options, v string) (err error) {
		o.VolumePath, err = validateMountPath(v)
		return err
	},
	contract.AnnotationAgentCPURequest:    quantity(func(o *Options) **resource.Quantity { return &o.CPURequest }),
	contract.AnnotationAgentCPULimit:      quantity(func(o *Options) **resource.Quantity { return &o.CPULimit }),
	contract.AnnotationAgentMemoryRequest: quantity(func(o *Options) **resource.Quantity { return &o.MemoryRequest }),
	contract.AnnotationAgentMemoryLimit:   quantity(func(o *Options) **resource.Quantity { return &o.MemoryLimit }),

	// Reload notifications (reload.go).
	contract.AnnotationReloadHTTP:    validateReloadHTTP,
	contract.AnnotationReloadSignal:  validateReloadSignal,
	contract.AnnotationReloadProcess: validateReloadProcess,
	// Connection to Vault (vault.go).
	contract.AnnotationTLSSecret:     vaultField(ValidateTLSSecret, func(o *Options) *string { return &o.Vault.TLSSecret }),
	contract.AnnotationTLSServerName: vaultField(ValidateServerName, func(o *Options) *string { return &o.Vault.ServerName }),
	contract.AnnotationVaultAddress:  vaultField(ValidateVaultAddress, func(o *Options) *string { return &o.Vault.Address }),
	contract.AnnotationNamespace:     vaultField(ValidateNamespace, func(o *Options) *string { return &o.Vault.Namespace }),
	contract.AnnotationAuthType:      vaultField(ValidateAuthType, func(o *Options) *string { return &o.Vault.AuthType }),
	contract.AnnotationProxyAddress:  vaultField(ValidateProxyAddress, func(o *Options) *string { return &o.Vault.ProxyAddress }),
	contract.AnnotationTokenAudience: vaultField(ValidateAudience, func(o *Options) *string { return &o.Vault.TokenAudience }),
	contract.AnnotationTLSSkipVerify: func(o *Options, v string) (err error) {
		o.Vault.TLSSkipVerify, err = validateBool(v)
		return err
	},
	contract.AnnotationTLSCAFile:         vaultField(ValidateSecretKey, func(o *Options) *string { return &o.Vault.CAKey }),
	contract.AnnotationTLSClientCertFile: vaultField(ValidateSecretKey, func(o *Options) *string { return &o.Vault.ClientCertKey }),
	contract.AnnotationTLSClientKeyFile:  vaultField(ValidateSecretKey, func(o *Options) *string { return &o.Vault.ClientKeyKey }),
}

type secretField func(*Secret, string) error

// The validator table for per-secret annotations, keyed by prefix.
var secretFields = map[string]secretField{
	contract.AnnotationTemplatePrefix: func(s *Secret, v string) error {
		if strings.TrimSpace(v) == "" {
			return errEmpty
		}
		// The delimiters are applied first (finish), so the checks parse with them.
		if err := checkTemplateCost(v, s.LeftDelim, s.RightDelim); err != nil {
			return err
		}
		if err := checkTemplate(v, s.LeftDelim, s.RightDelim); err != nil {
			return err
		}
		s.Template = v
		return nil
	},
	// Matched before template- (parser.secretField).
	contract.AnnotationTemplateFilePrefix: templateFileField,
	contract.AnnotationLeftDelimPrefix:    delimField(func(s *Secret) *string { return &s.LeftDelim }),
	contract.AnnotationRightDelimPrefix:   delimField(func(s *Secret) *string { return &s.RightDelim }),
	contract.AnnotationFormatPrefix: func(s *Secret, v string) error {
		if err := contract.ValidateFormat(v); err != nil {
			return err
		}
		s.Format = v
		return nil
	},
	contract.AnnotationFilePrefix: func(s *Secret, v string) error {
		if err := contract.ValidateFilePath(v); err != nil {
			return err
		}
		s.File = v
		return nil
	},
	contract.AnnotationVolumePathPrefix: func(s *Secret, v string) (err error) {
		s.VolumePath, err = validateMountPath(v)
		return err
	},
	contract.AnnotationPermsPrefix: func(s *Secret, v string) (err error) {
		s.Perms, err = contract.ParseFileMode(v)
		return err
	},
	contract.AnnotationCompatPrefix: func(s *Secret, v string) error {
		if err := contract.ValidateCompat(v); err != nil {
			return err
		}
		s.Compat = v
		return nil
	},
}

// templateFileField is template-file-<name>; where the file is is checked against the agent's
// mounts when the pod is planned (webhook/mutate), its content by the agent when it starts.
func templateFileField(s *Secret, v string) error {
	if err := contract.ValidateTemplateFile(v); err != nil {
		return err
	}
	s.TemplateFile = v
	return nil
}

func validateInject(_ *Options, v string) error {
	if v != "true" && v != "false" {
		return errors.New(`use "true" to inject the agent or "false" (or no annotation) to leave the pod alone`)
	}
	return nil
}

// validateJSONPatch accepts an RFC 6902 JSON patch whose ops each have a path.
func validateJSONPatch(v string) (string, error) {
	patch, err := jsonpatchapply.DecodePatch([]byte(v))
	if err != nil {
		return "", errors.New(`must be a JSON patch (RFC 6902) of the agent container, such as [{"op":"add","path":"/env/-","value":{"name":"X","value":"y"}}]`)
	}
	for i, op := range patch {
		if _, err := op.Path(); err != nil {
			return "", fmt.Errorf("op %d has no path: every op needs a JSON pointer into the agent container", i)
		}
	}
	return v, nil
}

// validateBool accepts exactly "true" and "false", as inject does.
func validateBool(v string) (bool, error) {
	if v != "true" && v != "false" {
		return false, errors.New(`must be "true" or "false"`)
	}
	return v == "true", nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$`)

func validateName(v, what string) (string, error) {
	if !nameRE.MatchString(v) {
		return "", fmt.Errorf("must be %s: 1-128 letters, digits, '-', '_', '.', '@'", what)
	}
	return v, nil
}

var mountRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`)

// validateAuthPath accepts "auth/kubernetes", "kubernetes" or "auth/clusters/prod" and returns
// the "auth/..." form. "us-west-org/auth/kubernetes" (an "auth" segment after a prefix) is a
// mount in the Vault Enterprise namespace us-west-org, below the pod's namespace, as Vault
// Agent reads vault-k8s' auth-path: it is kept as it is, and the agent logs in at
// us-west-org/auth/kubernetes/login.
func validateAuthPath(v string) (string, error) {
	bad := errors.New("must be a Vault auth mount such as auth/kubernetes, or <namespace>/auth/<mount> for a mount in a child namespace")
	p := strings.Trim(v, "/")
	if i := strings.Index(p, "/auth/"); i > 0 && !strings.HasPrefix(p, "auth/") {
		ns, mount := p[:i], p[i+len("/auth/"):]
		if !validMount(ns) || !validMount(mount) {
			return "", bad
		}
		return ns + "/auth/" + mount, nil
	}
	p = strings.TrimPrefix(p, "auth/")
	if !validMount(p) {
		return "", bad
	}
	return "auth/" + p, nil
}

func validMount(p string) bool {
	return mountRE.MatchString(p) && !strings.Contains("/"+p+"/", "/../") && !strings.Contains("/"+p+"/", "/./")
}

const minRefresh, maxRefresh = 5 * time.Second, 24 * time.Hour

func validateRefresh(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < minRefresh || d > maxRefresh {
		return 0, fmt.Errorf("must be a duration from %s to %s, such as 30s, 5m or 1h", minRefresh, maxRefresh)
	}
	return d, nil
}

func validateContainerList(v string) ([]string, error) {
	var names []string
	seen := map[string]bool{}
	for _, n := range strings.Split(v, ",") {
		n = strings.TrimSpace(n)
		if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
			return nil, fmt.Errorf("must be a comma-separated list of container names such as app,worker (%q: %s)", n, errs[0])
		}
		if !seen[n] {
			names = append(names, n)
		}
		seen[n] = true
	}
	return names, nil
}

func validateMountPath(v string) (string, error) {
	if !path.IsAbs(v) || path.Clean(v) != v || v == "/" || strings.ContainsAny(v, ":\\") {
		return "", errors.New("must be a clean absolute directory such as /vault/secrets, not '/'")
	}
	if err := checkSystemPath(v); err != nil {
		return "", err
	}
	return v, nil
}

// systemDirs would hide what the image or the runtime needs if the secrets volume covered them.
var systemDirs = map[string]bool{
	"/bin": true, "/boot": true, "/dev": true, "/etc": true, "/home": true, "/lib": true, "/lib32": true,
	"/lib64": true, "/proc": true, "/root": true, "/run": true, "/sbin": true, "/sys": true, "/tmp": true,
	"/usr": true, "/usr/bin": true, "/usr/lib": true, "/usr/local": true, "/usr/sbin": true, "/var": true,
	"/var/lib": true, "/var/run": true, "/var/tmp": true,
}

// serviceAccountDirs are where the kubelet mounts the pod's API token (/var/run is /run).
var serviceAccountDirs = []string{
	"/var/run/secrets/kubernetes.io/serviceaccount", "/run/secrets/kubernetes.io/serviceaccount",
}

// checkSystemPath refuses mount paths that cover a system directory or sit in the kernel's
// virtual filesystems, and paths over or under the service-account token mount. A directory
// below /etc, such as /etc/app/secrets, stays allowed.
func checkSystemPath(v string) error {
	const accepted = "use a directory of its own, such as /vault/secrets or /etc/<app>/secrets"
	if systemDirs[v] {
		return fmt.Errorf("is a system directory, which the secrets volume would hide: %s", accepted)
	}
	for _, virtual := range []string{"/proc/", "/sys/", "/dev/"} {
		if strings.HasPrefix(v, virtual) {
			return fmt.Errorf("is inside %s, a kernel or device filesystem: %s", strings.TrimSuffix(virtual, "/"), accepted)
		}
	}
	for _, sa := range serviceAccountDirs {
		if v == sa || strings.HasPrefix(sa, v+"/") || strings.HasPrefix(v, sa+"/") {
			return fmt.Errorf("overlaps %s, where the kubelet mounts the pod's service-account token: %s", sa, accepted)
		}
	}
	return nil
}

// quantity parses an agent resource; "" means none (a zero quantity, which the agent container
// then omits, whatever the flag says), as vault-k8s documents for its agent-limits-*.
func quantity(field func(*Options) **resource.Quantity) func(*Options, string) error {
	return func(o *Options, v string) error {
		if v == "" {
			*field(o) = &resource.Quantity{}
			return nil
		}
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() <= 0 {
			return errors.New(`must be a positive Kubernetes quantity such as 50m (CPU) or 32Mi (memory), or "" for none`)
		}
		*field(o) = &q
		return nil
	}
}

// checkTemplate parses a template with stand-ins for the agent's functions, so syntax errors are
// refused at admission instead of failing later in the pod. Verdicts are remembered: all pods
// of a Deployment carry the same templates, and parsing is a large share of an admission.
func checkTemplate(v, left, right string) error {
	key := v
	if left != "" || right != "" {
		key = left + "\x00" + right + "\x00" + v
	}
	if ok, err := templateVerdicts.get(key); ok {
		return err
	}
	var err error
	t, perr := newTemplate(left, right).Parse(v)
	if perr != nil {
		err = fmt.Errorf("is not a valid Go template: %s", strings.TrimPrefix(perr.Error(), "template: :"))
	} else if err = contract.CheckTemplateCalls(t); err == nil {
		err = contract.CheckTemplatePaths(t)
	}
	templateVerdicts.put(key, err)
	return err
}

// newTemplate is a template with the agent's function names and the secret's delimiters.
func newTemplate(left, right string) *template.Template {
	sec := contract.Secret{LeftDelim: left, RightDelim: right}
	l, r := sec.Delims()
	return template.New("").Delims(l, r).Funcs(stubFuncs).Option("missingkey=error")
}

// delimField sets a delimiter; the pair is checked together in finish.
func delimField(field func(*Secret) *string) secretField {
	return func(s *Secret, v string) error {
		if err := contract.ValidateDelim(v); err != nil {
			return err
		}
		*field(s) = v
		return nil
	}
}

// templateStandsAlone reports whether a template parses and never reads its own dot, so it
// needs no secret-<name> path.
func templateStandsAlone(v, left, right string) bool {
	t, err := newTemplate(left, right).Parse(v)
	return err == nil && !contract.TemplateReadsDot(t)
}

var stubFuncs = func() template.FuncMap {
	funcs := template.FuncMap{}
	for _, name := range contract.TemplateFuncs {
		funcs[name] = func(...any) (any, error) { return nil, nil }
	}
	return funcs
}()

// templateVerdicts is bounded by the bytes of the templates it holds, and starts over when full.
var templateVerdicts = verdictCache{max: 1 << 20}

type verdictCache struct {
	mu    sync.Mutex
	m     map[string]error
	bytes int
	max   int
}

func (c *verdictCache) get(k string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	err, ok := c.m[k]
	return ok, err
}

func (c *verdictCache) put(k string, err error) {
	if len(k) > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || c.bytes+len(k) > c.max {
		c.m, c.bytes = map[string]error{}, 0
	}
	c.m[k] = err
	c.bytes += len(k)
}

// ValidateRole checks a Vault role name (the webhook's --default-role) like the role annotation.
func ValidateRole(v string) error {
	_, err := validateName(v, "a Vault role name")
	return err
}

// NormalizeAuthPath returns the "auth/<mount>" form of an auth mount, as the auth-path
// annotation does.
func NormalizeAuthPath(v string) (string, error) { return validateAuthPath(v) }
