package mutate

import (
	"bytes"
	"fmt"
	"sort"
	"unsafe"

	"github.com/vault-injector/vault-injector/contract"
)

// agentConfig resolves the options and the defaults into the agent's config, validated, as the
// JSON the pod carries in its agent-config annotation.
func (p *plan) agentConfig() (string, error) {
	role := pick(p.opts.Role, p.d.Role) // not empty: parse refuses a pod without one (roleProblem)
	authPath := pick(p.opts.AuthPath, p.d.AuthPath)
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
	p.applyMetrics(&cfg)
	p.applyReload(&cfg)
	if p.shape == ShapeClassic {
		cfg.HandoverFile = contract.HandoverFile
	}
	if p.opts.InjectToken {
		cfg.TokenSink = contract.TokenSinkName
	}
	for _, s := range p.opts.Secrets {
		cs := contract.Secret{Name: s.Name, Path: s.Path, Format: s.Format, Template: s.Template, TemplateFile: s.TemplateFile,
			File: s.File, Perms: s.Perms}
		if s.TemplateFile != "" {
			cs.TemplateFileRoot = p.copiedMountOf(s.TemplateFile)
		}
		if s.Template != "" || s.TemplateFile != "" {
			cs.Format = ""
			cs.Compat = s.Compat
			cs.LeftDelim, cs.RightDelim = s.LeftDelim, s.RightDelim
		}
		cfg.Secrets = append(cfg.Secrets, cs)
	}
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	return encodeConfig(&cfg), nil
}

// encodeConfig writes cfg as JSON into a buffer sized for it once.
func encodeConfig(cfg *contract.Config) string {
	var b bytes.Buffer
	size := 1024 // the fixed part, with room for a few secrets
	for _, s := range cfg.Secrets {
		size += 128 + len(s.Template) + len(s.Template)/8 // quotes and newlines are escaped
	}
	b.Grow(size)
	cfg.AppendJSON(&b)
	// The string shares b's bytes instead of copying them, as strings.Builder does: b is
	// never written again.
	return unsafe.String(unsafe.SliceData(b.Bytes()), b.Len())
}

// pick is the annotation's value, else the flag's.
func pick(annotated, flag string) string {
	if annotated != "" {
		return annotated
	}
	return flag
}

func (p *plan) tlsSecret() string     { return pick(p.opts.Vault.TLSSecret, p.d.VaultTLSSecret) }
func (p *plan) tokenAudience() string { return pick(p.opts.Vault.TokenAudience, p.d.TokenAudience) }

// vaultConfig resolves how the agent reaches Vault. A tls-secret replaces the cluster CA
// bundle: the pod asked for its own trust.
func (p *plan) vaultConfig() contract.Vault {
	v := contract.Vault{
		Address:      pick(p.opts.Vault.Address, p.d.VaultAddr),
		Namespace:    pick(p.opts.Vault.Namespace, p.d.VaultNamespace),
		CACert:       p.d.VaultCACert,
		ServerName:   pick(p.opts.Vault.ServerName, p.d.VaultTLSServerName),
		ProxyAddress: pick(p.opts.Vault.ProxyAddress, p.d.VaultProxyAddr),
		// parse refuses it without --allow-vault-tls-skip-verify
		InsecureSkipVerify: p.opts.Vault.TLSSkipVerify,
	}
	if p.tlsSecret() != "" {
		o := p.opts.Vault
		v.CACert, v.CACertFile = "", tlsFile(o.CAKey, contract.TLSCAFile)
		v.ClientCert, v.ClientKey = tlsFile(o.ClientCertKey, contract.TLSClientCert), tlsFile(o.ClientKeyKey, contract.TLSClientKey)
		// Named keys ask for a client certificate: a missing one is then an error.
		v.ClientCertOptional = o.ClientCertKey == "" && o.ClientKeyKey == ""
	}
	return v
}

// tlsFile is the file of the tls-secret's key in the agent, else def.
func tlsFile(key, def string) string {
	if key == "" {
		return def
	}
	return contract.TLSDir + "/" + key
}

// tlsKeyProblems refuses Secret keys without a tls-secret to read them from, and half a client
// certificate.
func (p *plan) tlsKeyProblems() []string {
	o := p.opts.Vault
	var problems []string
	if p.tlsSecret() == "" {
		for key, v := range map[string]string{contract.AnnotationTLSCAFile: o.CAKey, contract.AnnotationTLSClientCertFile: o.ClientCertKey, contract.AnnotationTLSClientKeyFile: o.ClientKeyKey} {
			if v != "" {
				problems = append(problems, fmt.Sprintf("%s names a key of the TLS Secret, but the pod has no %s and the webhook no --vault-tls-secret: set %s to the Secret holding %s",
					key, contract.AnnotationTLSSecret, contract.AnnotationTLSSecret, v))
			}
		}
		sort.Strings(problems)
	}
	if (o.ClientCertKey == "") != (o.ClientKeyKey == "") {
		problems = append(problems, fmt.Sprintf("%s and %s go together (a client certificate and its key): set both, or neither for tls.crt and tls.key",
			contract.AnnotationTLSClientCertFile, contract.AnnotationTLSClientKeyFile))
	}
	return problems
}

// authMethod is the contract's method; kubernetes stays implicit (the empty method).
func (p *plan) authMethod() string {
	if pick(p.opts.Vault.AuthType, p.d.AuthType) == contract.AuthJWT {
		return contract.AuthJWT
	}
	return ""
}

// metricsPort is the agent's metrics port in its config (0: no endpoint).
func (p *plan) metricsPort() int {
	if p.d.AgentMetrics == AgentMetricsOff {
		return 0
	}
	return p.d.AgentMetricsPort
}

// applyMetrics fills where the agent config's metrics endpoint listens.
func (p *plan) applyMetrics(cfg *contract.Config) {
	cfg.MetricsPort = p.metricsPort()
	if p.d.AgentMetrics == AgentMetricsPod {
		cfg.MetricsListen = contract.MetricsListenPod
	}
}

// applyReload fills how the agent config notifies the app of new files.
func (p *plan) applyReload(cfg *contract.Config) {
	r := p.opts.Reload
	if p.shape != ShapeInitOnly && (r.HTTP != "" || r.Signal != "") {
		cfg.Reload = &contract.Reload{HTTP: r.HTTP, Signal: r.Signal, Process: r.Process}
	}
}

// signalMode reports whether the agent signals the app: it then shares the pod's process
// namespace and runs as the app's UID.
func (p *plan) signalMode() bool {
	return p.opts.Reload.Signal != "" && p.shape != ShapeInitOnly
}
