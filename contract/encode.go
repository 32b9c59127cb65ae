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
	c.Vault.appendJSON(b)
	o.Key("auth")
	c.Auth.appendJSON(b)
	o.Key("secrets")
	if c.Secrets == nil {
		b.WriteString("null")
	} else {
		b.WriteByte('[')
		for i := range c.Secrets {
			if i > 0 {
				b.WriteByte(',')
			}
			c.Secrets[i].appendJSON(b)
		}
		b.WriteByte(']')
	}
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
		r.appendJSON(b)
	}
	o.Str("metricsListen", c.MetricsListen, true)
	o.Close()
}

func (v *Vault) appendJSON(b *bytes.Buffer) {
	o := jsonwrite.Open(b)
	o.Str("address", v.Address, true)
	o.Str("namespace", v.Namespace, true)
	o.Str("caCert", v.CACert, true)
	o.Str("caCertFile", v.CACertFile, true)
	o.Str("clientCertFile", v.ClientCert, true)
	o.Str("clientKeyFile", v.ClientKey, true)
	o.Str("tlsServerName", v.ServerName, true)
	o.Bool("clientCertOptional", v.ClientCertOptional)
	o.Str("proxyAddress", v.ProxyAddress, true)
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

func (s *Secret) appendJSON(b *bytes.Buffer) {
	o := jsonwrite.Open(b)
	o.Str("name", s.Name, false)
	o.Str("path", s.Path, false)
	o.Str("format", s.Format, true)
	o.Str("template", s.Template, true)
	o.Str("file", s.File, false)
	o.Str("perms", s.Perms.String(), false)
	o.Str("compat", s.Compat, true)
	o.Close()
}

func (r *Reload) appendJSON(b *bytes.Buffer) {
	o := jsonwrite.Open(b)
	o.Str("http", r.HTTP, true)
	o.Str("signal", r.Signal, true)
	o.Str("process", r.Process, true)
	o.Close()
}
