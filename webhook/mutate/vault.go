package mutate

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/webhook/annotations"
)

// validateVault checks the connection defaults (the --vault-* flags, --default-auth-type,
// --token-audience) with the rules of the matching annotations.
func (d *Defaults) validateVault() []error {
	var errs []error
	check := func(flag, v string, validate func(string) (string, error)) {
		if v == "" {
			return
		}
		if _, err := validate(v); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", flag, v, err))
		}
	}
	check("--vault-namespace", d.VaultNamespace, annotations.ValidateNamespace)
	check("--vault-tls-server-name", d.VaultTLSServerName, annotations.ValidateServerName)
	check("--vault-proxy-address", d.VaultProxyAddr, annotations.ValidateProxyAddress)
	check("--vault-tls-secret", d.VaultTLSSecret, annotations.ValidateTLSSecret)
	check("--token-audience", d.TokenAudience, annotations.ValidateAudience)
	check("--default-auth-type", d.AuthType, annotations.ValidateAuthType) // "": kubernetes
	return errs
}

// vaultProblems are the connection checks that need the defaults: a plain-HTTP address sends
// the agent's token and the secrets in clear, so only a webhook that allows it accepts one.
func vaultProblems(opts annotations.Options, d Defaults) []string {
	if annotations.IsHTTP(opts.Vault.Address) && !d.AllowHTTPVault {
		return []string{fmt.Sprintf("%s=%q: this webhook refuses plain-HTTP Vault addresses, which would send the agent's token and the secrets unencrypted: use https:// (or start the webhook with --allow-http-vault)",
			contract.AnnotationVaultAddress, opts.Vault.Address)}
	}
	return nil
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
	}
	if p.tlsSecret() != "" {
		v.CACert, v.CACertFile = "", contract.TLSCAFile
		v.ClientCert, v.ClientKey, v.ClientCertOptional = contract.TLSClientCert, contract.TLSClientKey, true
	}
	return v
}

// authMethod is the contract's method; kubernetes stays implicit (the empty method).
func (p *plan) authMethod() string {
	if pick(p.opts.Vault.AuthType, p.d.AuthType) == contract.AuthJWT {
		return contract.AuthJWT
	}
	return ""
}

// tlsVolume is the tls-secret's Secret. Its files are 0444 like the token's because the agent
// runs as its own non-root user; no app container mounts it.
func (p *plan) tlsVolume() corev1.Volume {
	return corev1.Volume{Name: contract.TLSVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: p.tlsSecret(), DefaultMode: ptr.To(int32(0o444)),
	}}}
}

func tlsMount() corev1.VolumeMount {
	return corev1.VolumeMount{Name: contract.TLSVolume, MountPath: contract.TLSDir, ReadOnly: true}
}
