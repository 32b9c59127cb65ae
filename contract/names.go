// Package contract is the one place that fixes what the webhook and the agent agree on: the
// vault-injector.io annotations, the names and paths of everything injected into a pod, and the
// agent's versioned configuration schema. It is a leaf: it imports no Kubernetes code, so the
// agent binary stays free of client libraries.
package contract

// Prefix starts every annotation the injector reads or writes.
const Prefix = "vault-injector.io/"

// Annotations a user sets on a pod (template). Per-secret keys are a prefix plus the secret's
// name, e.g. "vault-injector.io/secret-db" and "vault-injector.io/format-db".
const (
	AnnotationInject     = Prefix + "inject"
	AnnotationRole       = Prefix + "role"
	AnnotationAuthPath   = Prefix + "auth-path"
	AnnotationMode       = Prefix + "mode"
	AnnotationRefresh    = Prefix + "refresh"
	AnnotationContainers = Prefix + "containers"
	AnnotationVolumePath = Prefix + "volume-path"
	// AnnotationContainersIncludeInit "true": with AnnotationContainers, every init container
	// gets the secrets mount too, as vault-k8s mounts them (written by the translation).
	AnnotationContainersIncludeInit = Prefix + "containers-include-init"
	// AnnotationVolumeReadWrite "true" mounts the secrets volume read-write into the app
	// containers, as vault-k8s does (written by the translation); read-only by default.
	AnnotationVolumeReadWrite    = Prefix + "volume-read-write"
	AnnotationAgentCPURequest    = Prefix + "agent-cpu-request"
	AnnotationAgentCPULimit      = Prefix + "agent-cpu-limit"
	AnnotationAgentMemoryRequest = Prefix + "agent-memory-request"
	AnnotationAgentMemoryLimit   = Prefix + "agent-memory-limit"
	// AnnotationAgentCopyVolumeMounts names a container whose volume mounts the agent gets
	// too, read-only (vault-k8s' agent-copy-volume-mounts).
	AnnotationAgentCopyVolumeMounts = Prefix + "agent-copy-volume-mounts"
	// AnnotationAgentJSONPatch and AnnotationAgentInitJSONPatch are RFC 6902 patches of the
	// long-running and the init agent container (vault-k8s' agent-json-patch and
	// agent-init-json-patch), checked against the restricted Pod Security Standard.
	AnnotationAgentJSONPatch     = Prefix + "agent-json-patch"
	AnnotationAgentInitJSONPatch = Prefix + "agent-init-json-patch"

	// Connection to Vault, per pod; each has a webhook flag as its cluster default.
	AnnotationTLSSecret     = Prefix + "tls-secret"
	AnnotationTLSServerName = Prefix + "tls-server-name"
	AnnotationVaultAddress  = Prefix + "vault-address"
	AnnotationNamespace     = Prefix + "namespace"
	AnnotationAuthType      = Prefix + "auth-type"
	AnnotationProxyAddress  = Prefix + "proxy-address"
	AnnotationTokenAudience = Prefix + "token-audience"
	// AnnotationTLSSkipVerify "true": the agent does not verify Vault's certificate; only with
	// the webhook's --allow-vault-tls-skip-verify.
	AnnotationTLSSkipVerify = Prefix + "tls-skip-verify"
	// Keys of the tls-secret's Secret the agent reads, instead of ca.crt, tls.crt and tls.key.
	AnnotationTLSCAFile         = Prefix + "tls-ca-file"
	AnnotationTLSClientCertFile = Prefix + "tls-client-cert-file"
	AnnotationTLSClientKeyFile  = Prefix + "tls-client-key-file"

	// AnnotationInjectToken "true" has the agent keep its Vault token in the secrets volume, as
	// file TokenSinkName (Config.TokenSink), for apps that call Vault themselves.
	AnnotationInjectToken = Prefix + "inject-token"

	AnnotationSecretPrefix   = Prefix + "secret-"
	AnnotationTemplatePrefix = Prefix + "template-"
	// AnnotationTemplateFilePrefix + name: the absolute path, inside the agent container, of a
	// file holding that secret's template (Secret.TemplateFile), instead of template-<name>. It
	// must be under a mount the agent copies with AnnotationAgentCopyVolumeMounts.
	AnnotationTemplateFilePrefix = Prefix + "template-file-"
	AnnotationFormatPrefix       = Prefix + "format-"
	AnnotationFilePrefix         = Prefix + "file-"
	AnnotationPermsPrefix        = Prefix + "perms-"
	// AnnotationVolumePathPrefix + name: a further directory where the selected containers
	// mount the secrets volume, so that secret's file is also at <dir>/<file> (vault-k8s'
	// secret-volume-path-<name>).
	AnnotationVolumePathPrefix = Prefix + "volume-path-"
	// AnnotationCompatPrefix + name: CompatVaultAgent or CompatVaultAgentStrict makes that
	// secret's template render as Vault Agent's.
	AnnotationCompatPrefix = Prefix + "compat-"
	// AnnotationLeftDelimPrefix and AnnotationRightDelimPrefix + name replace "{{" and "}}" in
	// that secret's template (Secret.LeftDelim, RightDelim).
	AnnotationLeftDelimPrefix  = Prefix + "left-delim-"
	AnnotationRightDelimPrefix = Prefix + "right-delim-"
)

// Annotations the webhook writes.
const (
	// AnnotationStatus marks an injected pod; its value is StatusInjected.
	AnnotationStatus = Prefix + "status"
	// AnnotationAgentConfig holds the resolved agent Config as JSON. The agent reads it through a
	// downwardAPI volume file (ConfigFile), which has no env-var size limit.
	AnnotationAgentConfig = Prefix + "agent-config"

	StatusInjected = "injected"
	InjectTrue     = "true"
)

// Values of AnnotationCompatPrefix (and Secret.Compat) for templates written for Vault Agent,
// such as those translated from vault-k8s annotations: its functions' output, and a missing
// map key rendering "<no value>" (CompatVaultAgent, Vault Agent's default) or failing the
// render (CompatVaultAgentStrict, its error_on_missing_key).
const (
	CompatVaultAgent       = "vault-agent"
	CompatVaultAgentStrict = "vault-agent-strict"
)

// Values of AnnotationMode.
const (
	ModeSidecar  = "sidecar"
	ModeInitOnly = "init-only"
)

// Names of the containers and volumes the webhook adds. User containers or volumes with these
// names are refused.
const (
	// AgentContainer is the long-running agent: a native sidecar (init container with
	// restartPolicy Always) or, in classic mode, a regular container.
	AgentContainer = "vault-agent"
	// AgentInitContainer renders once and exits (mode init-only, and classic mode's first step).
	AgentInitContainer = "vault-agent-init"

	SecretsVolume  = "vault-secrets"      // in-memory emptyDir with the rendered files
	TokenVolume    = "vault-agent-sa"     // projected service-account token, agent only
	ConfigVolume   = "vault-agent-config" // downwardAPI file with AnnotationAgentConfig
	HandoverVolume = "vault-agent-token"  // classic mode: Vault token from init to sidecar
	TLSVolume      = "vault-agent-tls"    // the tls-secret annotation's Secret, agent only
)

// Paths inside the agent's containers. DefaultVolumePath is also where app containers see the
// secrets unless the volume-path annotation says otherwise.
const (
	DefaultVolumePath = "/vault/secrets"
	AgentSecretsDir   = "/vault/secrets"
	TokenDir          = "/var/run/secrets/vault-injector/serviceaccount"
	TokenFile         = TokenDir + "/token"
	ConfigDir         = "/vault/config"
	ConfigFileName    = "agent-config.json"
	ConfigFile        = ConfigDir + "/" + ConfigFileName
	HandoverDir       = "/vault/agent-token"
	HandoverFile      = HandoverDir + "/token"

	// TLSDir holds the tls-secret's keys, named as in a kubernetes.io/tls Secret.
	TLSDir        = "/vault/tls"
	TLSCAFile     = TLSDir + "/ca.crt"
	TLSClientCert = TLSDir + "/tls.crt"
	TLSClientKey  = TLSDir + "/tls.key"

	// AgentBinary is the agent's entrypoint in its image (Dockerfile.agent); the startup probe
	// execs it, so the image needs no shell.
	AgentBinary = "/usr/local/bin/vault-injector-agent"
)

// VersionFile is written by the agent into every generation of the secrets dir: one line with
// the generation counter and the time it was published, for apps and probes that watch it.
// No secret file may use this name.
const VersionFile = ".version"

// Agent subcommands and flags the webhook puts in the injected containers' args.
const (
	AgentCmdRun   = "run"
	AgentCmdReady = "ready"
	AgentFlagOnce = "--once"
	AgentFlagConf = "--config"
)

// TemplateFuncs names every function the agent offers to templates (beyond text/template's
// builtins). The webhook parses templates with these names at admission, so a typo in a
// template is refused before the pod exists; the agent's tests keep the list in step.
var TemplateFuncs = []string{
	"secret", "toJSON", "toJSONPretty", "toYAML", "base64Encode", "base64Decode", "base64URLEncode",
	"base64URLDecode", "shellQuote", "envKey", "toUpper", "toLower", "trimSpace", "split", "join",
	"replaceAll", "contains", "keys", "timestamp", "pkiCert", WriteToFileFunc,
}
