package contract

import (
	"bytes"

	"github.com/vault-injector/vault-injector/internal/jsonwrite"
)

// AppendJSON writes c to b as JSON, byte for byte what encoding/json writes for it with HTML
// escaping off, without its reflection: the webhook writes one into every pod it injects. No
// HTML escaping: templates are often XML or HTML, and "\u003c" for every "<" would multiply
// their size in the annotation, which the API server caps. Every field of Config is written
// here, in the order and with the omitempty of its struct tag, so there is no fallback;
// TestAppendJSON holds the two together for every field.
func (c *Config) AppendJSON(b *bytes.Buffer) {
	o := jsonwrite.Open(b)
	o.Str("version", c.Version, false)
	o.Key("vault")
	v := jsonwrite.Open(b)
	v.Str("address", c.Vault.Address, true)
	v.Str("namespace", c.Vault.Namespace, true)
	v.Str("caCert", c.Vault.CACert, true)
	v.Str("caCertFile", c.Vault.CACertFile, true)
	v.Str("clientCertFile", c.Vault.ClientCert, true)
	v.Str("clientKeyFile", c.Vault.ClientKey, true)
	v.Str("tlsServerName", c.Vault.ServerName, true)
	v.Bool("clientCertOptional", c.Vault.ClientCertOptional)
	v.Str("proxyAddress", c.Vault.ProxyAddress, true)
	v.Bool("insecureSkipVerify", c.Vault.InsecureSkipVerify)
	v.Close()
	o.Key("auth")
	c.Auth.appendJSON(b)
	o.Key("secrets")
	appendSecrets(b, c.Secrets)
	o.Str("secretsDir", c.SecretsDir, false)
	o.Str("refresh", c.Refresh.String(), false)
	o.Str("initTimeout", c.InitTimeout.String(), false)
	o.Key("backoff")
	bo := jsonwrite.Open(b)
	bo.Str("min", c.Backoff.Min.String(), false)
	bo.Str("max", c.Backoff.Max.String(), false)
	bo.Close()
	o.Str("handoverFile", c.HandoverFile, true)
	o.Int("metricsPort", int64(c.MetricsPort), true)
	o.Int("maxSecretBytes", c.MaxSecretBytes, true)
	if c.RenderTimeout.Duration != 0 {
		o.Str("renderTimeout", c.RenderTimeout.String(), false)
	}
	if r := c.Reload; r != nil {
		o.Key("reload")
		ro := jsonwrite.Open(b)
		ro.Str("http", r.HTTP, true)
		ro.Str("signal", r.Signal, true)
		ro.Str("process", r.Process, true)
		ro.Close()
	}
	o.Str("metricsListen", c.MetricsListen, true)
	o.Str("tokenSink", c.TokenSink, true)
	o.Close()
}

func (a *Auth) appendJSON(b *bytes.Buffer) {
	o := jsonwrite.Open(b)
	o.Str("method", a.Method, true)
	o.Str("path", a.Path, false)
	o.Str("role", a.Role, false)
	o.Str("tokenFile", a.TokenFile, false)
	o.Close()
}

func appendSecrets(b *bytes.Buffer, secrets []Secret) {
	if secrets == nil {
		b.WriteString("null")
		return
	}
	b.WriteByte('[')
	for i, s := range secrets {
		if i > 0 {
			b.WriteByte(',')
		}
		so := jsonwrite.Open(b)
		so.Str("name", s.Name, false)
		so.Str("path", s.Path, false)
		so.Str("format", s.Format, true)
		so.Str("template", s.Template, true)
		so.Str("templateFile", s.TemplateFile, true)
		so.Str("templateFileRoot", s.TemplateFileRoot, true)
		so.Str("file", s.File, false)
		so.Str("perms", s.Perms.String(), false)
		so.Str("compat", s.Compat, true)
		so.Str("leftDelim", s.LeftDelim, true)
		so.Str("rightDelim", s.RightDelim, true)
		so.Close()
	}
	b.WriteByte(']')
}
