package contract

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ConfigVersion is the schema version of Config. The agent refuses other versions, so a
// webhook/agent version skew fails loudly instead of half-working.
const ConfigVersion = "v1"

// Output formats of a secret file. FormatRawPrefix is followed by the key to write.
const (
	FormatJSON      = "json"
	FormatYAML      = "yaml"
	FormatEnv       = "env"
	FormatRawPrefix = "raw:"
)

// Defaults shared by the webhook (which resolves them into every Config) and the agent.
const (
	DefaultAuthPath    = "auth/kubernetes"
	DefaultRefresh     = 5 * time.Minute
	DefaultPerms       = FileMode(0o400)
	DefaultInitTimeout = 2 * time.Minute
	DefaultBackoffMin  = 500 * time.Millisecond
	DefaultBackoffMax  = 30 * time.Second
	// DefaultMaxSecretBytes caps one Vault response when MaxSecretBytes is 0: a secret file is
	// small, and the agent must not follow a huge answer into its memory limit.
	DefaultMaxSecretBytes = 1 << 20
	// MaxMaxSecretBytes is the largest MaxSecretBytes accepted: the agent decodes a response in
	// memory (several times its size; measured by test/agentbench to keep the agent under 48 MiB).
	MaxMaxSecretBytes = 4 << 20
	// DefaultRenderTimeout bounds the time a template runs when RenderTimeout is 0 (Vault
	// requests excluded): text/template cannot be stopped, so past it the agent exits.
	DefaultRenderTimeout = 10 * time.Second
)

// Config is everything the agent needs, resolved by the webhook from annotations and cluster
// defaults. It travels as JSON in AnnotationAgentConfig.
type Config struct {
	Version string `json:"version"`
	Vault   Vault  `json:"vault"`
	Auth    Auth   `json:"auth"`
	// Secrets are rendered as one set: all files change together.
	Secrets []Secret `json:"secrets"`
	// SecretsDir is where the files are written (the agent's mount of SecretsVolume).
	SecretsDir string `json:"secretsDir"`
	// Refresh is how often secrets without a lease are re-read.
	Refresh Duration `json:"refresh"`
	// InitTimeout bounds the first render of `agent run --once` before it gives up.
	InitTimeout Duration `json:"initTimeout"`
	Backoff     Backoff  `json:"backoff"`
	// HandoverFile, when set (classic mode), is where the init agent leaves its Vault token and
	// where the sidecar looks for it before logging in.
	HandoverFile string `json:"handoverFile,omitempty"`
	// MetricsPort, when non-zero, serves /healthz and /metrics on 127.0.0.1 (sidecar only).
	MetricsPort int `json:"metricsPort,omitempty"`
	// MaxSecretBytes caps the size of one Vault response (0: DefaultMaxSecretBytes); a larger
	// answer fails that secret and its last good file stays.
	MaxSecretBytes int64 `json:"maxSecretBytes,omitempty"`
	// RenderTimeout bounds one secret's rendering, Vault requests excluded (0:
	// DefaultRenderTimeout). A render past it makes the agent exit with the secret's name.
	RenderTimeout Duration `json:"renderTimeout,omitzero"`
	// Reload, when set, notifies the app after each new generation of files (never the first).
	Reload *Reload `json:"reload,omitempty"`
	// MetricsListen is MetricsListenLoopback or MetricsListenPod.
	MetricsListen string `json:"metricsListen,omitempty"`
	// TokenSink, when set, is a file under SecretsDir (TokenSinkName) where the agent keeps its
	// current Vault token for the app (inject-token): rewritten whole after every login and
	// renewal, mode TokenSinkPerms. No secret file may take its place.
	TokenSink string `json:"tokenSink,omitempty"`
}

// TokenSinkName is the token file's name under SecretsDir with inject-token, as vault-k8s'
// agent-inject-token names it; TokenSinkPerms is Vault Agent's file sink mode.
const (
	TokenSinkName  = "token"
	TokenSinkPerms = FileMode(0o640)
)

// SecretBytesLimit is MaxSecretBytes with its default applied.
func (c *Config) SecretBytesLimit() int64 {
	if c.MaxSecretBytes == 0 {
		return DefaultMaxSecretBytes
	}
	return c.MaxSecretBytes
}

// RenderBudget is RenderTimeout with its default applied.
func (c *Config) RenderBudget() time.Duration {
	if c.RenderTimeout.Duration == 0 {
		return DefaultRenderTimeout
	}
	return c.RenderTimeout.Duration
}

// Vault says how to reach the Vault server. Empty fields fall back to the VAULT_* environment.
type Vault struct {
	Address    string `json:"address,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	CACert     string `json:"caCert,omitempty"` // PEM
	CACertFile string `json:"caCertFile,omitempty"`
	ClientCert string `json:"clientCertFile,omitempty"`
	ClientKey  string `json:"clientKeyFile,omitempty"`
	ServerName string `json:"tlsServerName,omitempty"`
	// ClientCertOptional: missing ClientCert and ClientKey files mean no client certificate
	// (a tls-secret with ca.crt only); the webhook cannot see which keys the Secret has.
	ClientCertOptional bool `json:"clientCertOptional,omitempty"`
	// ProxyAddress, when set, is the HTTP(S) proxy every request to Vault goes through.
	ProxyAddress string `json:"proxyAddress,omitempty"`
	// InsecureSkipVerify: the agent does not verify Vault's certificate (vault-k8s'
	// tls-skip-verify; the webhook writes it only with --allow-vault-tls-skip-verify).
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// Auth methods of the agent. The webhook resolves AuthKubernetes (empty means the same) or
// AuthJWT (Vault's jwt method, logging in with the projected token and a role); AuthToken exists so the agent can run against a Vault without a cluster (tests, benchmarks,
// local runs): TokenFile then holds a Vault token, re-read at every login.
const (
	AuthKubernetes = "kubernetes"
	AuthToken      = "token"
	AuthJWT        = "jwt"
)

// Auth is the Vault login: kubernetes auth unless Method says otherwise.
type Auth struct {
	// Method is AuthKubernetes (the default when empty), AuthJWT or AuthToken.
	Method string `json:"method,omitempty"`
	// Path is the auth mount, e.g. "auth/kubernetes", or "<namespace>/auth/<mount>" for a mount in
	// a child namespace of Vault.Namespace (logged in to at <namespace>/auth/<mount>/login).
	Path string `json:"path"`
	Role string `json:"role"`
	// TokenFile is the projected service-account token (or, with AuthToken, a Vault token),
	// read afresh at every login.
	TokenFile string `json:"tokenFile"`
}

// Secret is one file to render.
type Secret struct {
	// Name identifies the secret in annotations, logs and metrics.
	Name string `json:"name"`
	// Path is the Vault logical path (KV v1, KV v2 with or without "data/", or dynamic).
	Path string `json:"path"`
	// Format is FormatJSON, FormatYAML, FormatEnv or FormatRawPrefix+key; ignored with Template
	// or TemplateFile.
	Format   string `json:"format,omitempty"`
	Template string `json:"template,omitempty"`
	// TemplateFile, instead of Template, is an absolute path inside the agent container (one of
	// the app's volumes, through agent-copy-volume-mounts) holding the template, as Vault
	// Agent's template `source`. The agent reads it once at start and applies the checks
	// admission applies to Template; the webhook cannot see its content, so it needs no Path.
	TemplateFile string `json:"templateFile,omitempty"`
	// TemplateFileRoot is the mount TemplateFile lies under. The agent opens the file inside it
	// and follows no symlink out of it (a ConfigMap volume's own links stay inside), so an app
	// that writes into a shared volume cannot point the agent at its own token.
	TemplateFileRoot string `json:"templateFileRoot,omitempty"`
	// File is the file name or relative path under SecretsDir.
	File  string   `json:"file"`
	Perms FileMode `json:"perms"`
	// Compat, CompatVaultAgent or CompatVaultAgentStrict, makes Template render as Vault
	// Agent's where the two differ (toJSON escapes <, > and &; toYAML is yaml.v2's; a missing
	// key is "<no value>" unless strict), so translated vault-k8s templates write the same bytes.
	Compat string `json:"compat,omitempty"`
	// LeftDelim and RightDelim, when set, replace the template's "{{" and "}}" (Vault Agent's
	// left_delimiter/right_delimiter); see ValidateDelims.
	LeftDelim  string `json:"leftDelim,omitempty"`
	RightDelim string `json:"rightDelim,omitempty"`
}

// TemplateFileInRoot is TemplateFile relative to TemplateFileRoot, or an error when the root is
// not an absolute clean directory that holds it.
func (s *Secret) TemplateFileInRoot() (string, error) {
	root := s.TemplateFileRoot
	if root == "" || !path.IsAbs(root) || path.Clean(root) != root {
		return "", fmt.Errorf("templateFileRoot %q must be the absolute, clean path of the mount that holds templateFile", root)
	}
	rel, ok := strings.CutPrefix(s.TemplateFile, strings.TrimSuffix(root, "/")+"/")
	if !ok || rel == "" {
		return "", fmt.Errorf("templateFile %s is not under templateFileRoot %s", s.TemplateFile, root)
	}
	return rel, nil
}

// HasTemplate reports whether the secret renders a template (Template or TemplateFile) rather
// than a Format.
func (s *Secret) HasTemplate() bool { return s.Template != "" || s.TemplateFile != "" }

// Template delimiters of a Secret without LeftDelim or RightDelim.
const (
	DefaultLeftDelim  = "{{"
	DefaultRightDelim = "}}"
	// MaxDelimBytes bounds a delimiter: they are markers, not text.
	MaxDelimBytes = 16
)

// Delims returns the secret's template delimiters, defaults applied.
func (s *Secret) Delims() (left, right string) {
	left, right = s.LeftDelim, s.RightDelim
	if left == "" {
		left = DefaultLeftDelim
	}
	if right == "" {
		right = DefaultRightDelim
	}
	return left, right
}

// ValidateDelim accepts one template delimiter: 1-16 bytes of visible characters, no white
// space (text/template trims white space next to "{{- " by it, so a delimiter with white space
// cannot be told apart from the text).
func ValidateDelim(d string) error {
	if d == "" || len(d) > MaxDelimBytes || !utf8.ValidString(d) {
		return fmt.Errorf("delimiter %q is invalid: use 1-%d visible characters, such as [[ or ]]", d, MaxDelimBytes)
	}
	for _, r := range d {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("delimiter %q is invalid: it must not contain white space or invisible characters; use, for example, [[ or ]]", d)
		}
	}
	return nil
}

// ValidateDelims checks a secret's delimiters, defaults applied to the one not set: each
// valid, and left and right different (text/template could not tell an action's start from
// its end).
func ValidateDelims(left, right string) error {
	s := Secret{LeftDelim: left, RightDelim: right}
	l, r := s.Delims()
	var errs []error
	if left != "" {
		errs = append(errs, ValidateDelim(left))
	}
	if right != "" {
		errs = append(errs, ValidateDelim(right))
	}
	if l == r {
		errs = append(errs, fmt.Errorf("left and right delimiters are both %q: use two different ones, such as [[ and ]]", l))
	}
	return errors.Join(errs...)
}

// Backoff bounds the exponential retry delay (with jitter) after failures.
type Backoff struct {
	Min Duration `json:"min"`
	Max Duration `json:"max"`
}

// Load reads and validates a Config file.
func Load(file string) (*Config, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading agent config: %w", err)
	}
	return Parse(b)
}

// Parse decodes and validates a Config.
func Parse(b []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decoding agent config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate reports every problem of c at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Version != ConfigVersion {
		bad("config version %q is not supported (want %q): webhook and agent versions differ", c.Version, ConfigVersion)
	}
	switch c.Auth.Method {
	case "", AuthKubernetes, AuthJWT:
		if c.Auth.Path == "" || c.Auth.Role == "" || c.Auth.TokenFile == "" {
			bad("auth.path, auth.role and auth.tokenFile are required")
		}
	case AuthToken:
		if c.Auth.TokenFile == "" {
			bad("auth.tokenFile is required")
		}
	default:
		bad("auth.method %q is not supported: use %q, %q or %q", c.Auth.Method, AuthKubernetes, AuthJWT, AuthToken)
	}
	if c.SecretsDir == "" {
		bad("secretsDir is required")
	}
	if c.Refresh.Duration <= 0 || c.InitTimeout.Duration <= 0 {
		bad("refresh and initTimeout must be positive")
	}
	if c.Backoff.Min.Duration <= 0 || c.Backoff.Max.Duration < c.Backoff.Min.Duration {
		bad("backoff.min must be positive and not above backoff.max")
	}
	if c.MaxSecretBytes < 0 || c.MaxSecretBytes > MaxMaxSecretBytes {
		bad("maxSecretBytes %d must be between 1 and %d (0: the default, %d)", c.MaxSecretBytes, MaxMaxSecretBytes, DefaultMaxSecretBytes)
	}
	if c.RenderTimeout.Duration < 0 {
		bad("renderTimeout must not be negative (0: the default, %s)", DefaultRenderTimeout)
	}
	if c.TokenSink != "" {
		if err := ValidateFilePath(c.TokenSink); err != nil {
			bad("tokenSink: %w", err)
		}
	}
	errs = append(errs, c.validateReload(), c.validateMetrics())
	errs = append(errs, c.validateSecrets()...)
	return errors.Join(errs...)
}

// validateSecrets reports every problem of c.Secrets: each secret alone, and pairs that clash.
func (c *Config) validateSecrets() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	seenName := map[string]bool{}
	for i, s := range c.Secrets {
		if err := ValidateSecretName(s.Name); err != nil {
			errs = append(errs, err)
		}
		if seenName[s.Name] {
			bad("secret %q is listed twice", s.Name)
		}
		seenName[s.Name] = true
		// A template alone may have no path: the webhook checks that it never reads its dot,
		// and the agent refuses to fetch an empty path. A template file likewise (its content
		// is read by the agent only).
		if s.Path != "" || !s.HasTemplate() {
			if err := ValidateVaultPath(s.Path); err != nil {
				bad("secret %q: path %q %w", s.Name, s.Path, err)
			}
		}
		if s.TemplateFile != "" {
			if s.Template != "" {
				bad("secret %q: template and templateFile are both set: use one", s.Name)
			}
			if err := ValidateTemplateFile(s.TemplateFile); err != nil {
				bad("secret %q: %w", s.Name, err)
			}
			if _, err := s.TemplateFileInRoot(); s.TemplateFileRoot != "" && err != nil { // the agent requires one
				bad("secret %q: %w", s.Name, err)
			}
		}
		if !s.HasTemplate() {
			if err := ValidateFormat(s.Format); err != nil {
				bad("secret %q: %w", s.Name, err)
			}
		}
		if err := ValidateFilePath(s.File); err != nil {
			bad("secret %q: %w", s.Name, err)
		}
		if c.TokenSink != "" && FilesCollide(s.File, c.TokenSink) {
			bad("secret %q: file %q collides with the token file %q", s.Name, s.File, c.TokenSink)
		}
		for _, other := range c.Secrets[:i] {
			if FilesCollide(s.File, other.File) {
				bad("secret %q: file %q collides with file %q of secret %q", s.Name, s.File, other.File, other.Name)
			}
		}
		if s.LeftDelim != "" || s.RightDelim != "" {
			if err := ValidateDelims(s.LeftDelim, s.RightDelim); err != nil {
				bad("secret %q: %w", s.Name, err)
			}
		}
		if s.Compat != "" {
			if err := ValidateCompat(s.Compat); err != nil {
				bad("secret %q: %w", s.Name, err)
			}
		}
		if s.Perms&^0o777 != 0 || s.Perms == 0 {
			bad("secret %q: perms %s must be between 0001 and 0777", s.Name, s.Perms)
		}
	}
	return errs
}

// ValidateSecretName accepts names such as "db", "db-config.txt" or "api_key": 1-63 of
// [A-Za-z0-9_.-], starting with a letter or digit. (A loop, not a regexp: the webhook checks
// every secret of every pod.)
func ValidateSecretName(name string) error {
	ok := len(name) >= 1 && len(name) <= 63 && isAlnum(name[0])
	for i := 1; ok && i < len(name); i++ {
		c := name[i]
		ok = isAlnum(c) || c == '_' || c == '.' || c == '-'
	}
	if !ok {
		return fmt.Errorf("secret name %q is invalid: use 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit", name)
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// ValidateCompat accepts the values of AnnotationCompatPrefix.
func ValidateCompat(v string) error {
	if v != CompatVaultAgent && v != CompatVaultAgentStrict {
		return fmt.Errorf("compat %q is invalid: use %s (a missing key renders <no value>, as in Vault Agent) or %s (a missing key fails the render)",
			v, CompatVaultAgent, CompatVaultAgentStrict)
	}
	return nil
}

// ValidateFormat accepts the output formats of a secret file.
func ValidateFormat(f string) error {
	switch {
	case f == FormatJSON || f == FormatYAML || f == FormatEnv:
		return nil
	case strings.HasPrefix(f, FormatRawPrefix) && len(f) > len(FormatRawPrefix):
		return nil
	}
	return fmt.Errorf("format %q is invalid: use json, yaml, env or raw:<key>", f)
}

// FilesCollide reports whether two secret files cannot both exist: the same path, or one is a
// directory of the other ("tls" and "tls/ca.pem").
func FilesCollide(a, b string) bool {
	return a == b || strings.HasPrefix(b, a+"/") || strings.HasPrefix(a, b+"/")
}

// Duration is a time.Duration written as a Go duration string ("5m") in JSON.
type Duration struct{ time.Duration }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"5m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// FileMode is a permission mode written as an octal string ("0400") in JSON.
type FileMode uint32

func (m FileMode) String() string {
	s := strconv.FormatUint(uint64(m), 8)
	return "0000"[min(len(s), 4):] + s // %04o, without fmt: every secret of every pod has one
}

func (m FileMode) MarshalJSON() ([]byte, error) { return json.Marshal(m.String()) }

func (m *FileMode) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("file mode must be an octal string such as \"0400\": %w", err)
	}
	v, err := ParseFileMode(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ParseFileMode parses an octal permission mode such as "0400" or "440".
func ParseFileMode(s string) (FileMode, error) {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v == 0 || v > 0o777 || len(s) > 4 {
		return 0, fmt.Errorf("file mode %q is invalid: use an octal mode from 0001 to 0777, such as 0400", s)
	}
	return FileMode(v), nil
}
