package mutate

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/vault-injector/vault-injector/contract"
)

// The values the plan adds (the agent container, its volumes, mounts and strings) are written
// here by hand, byte for byte as encoding/json writes them (HTML not escaped): its reflection
// was the largest cost of a response. Each writer covers the fields the plan sets; a value
// with any other field set is left to encoding/json whole, so nothing can be dropped.
// TestHandEncoding holds the writers to encoding/json for every field of these types.

// appendValue writes v as JSON; it falls back to enc (an encoding/json Encoder on b with HTML
// escaping off) for values the writers do not cover.
func appendValue(b *bytes.Buffer, enc *json.Encoder, v any) error {
	start := b.Len()
	ok := false
	switch v := v.(type) {
	case string:
		appendString(b, v)
		ok = true
	case *bool:
		if v != nil {
			b.WriteString(strconv.FormatBool(*v))
			ok = true
		}
	case map[string]string:
		ok = appendStringMap(b, v)
	case corev1.VolumeMount:
		ok = appendMount(b, &v)
	case corev1.Volume:
		ok = appendVolume(b, &v)
	case corev1.Container:
		ok = appendContainer(b, &v)
	case []corev1.Container:
		ok = appendList(b, v, appendContainer)
	case []any:
		ok = appendList(b, v, func(b *bytes.Buffer, v *any) bool { return appendValue(b, enc, *v) == nil })
	}
	if ok {
		return nil
	}
	b.Truncate(start)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode ends each value with a newline
	return nil
}

func appendList[T any](b *bytes.Buffer, l []T, each func(*bytes.Buffer, *T) bool) bool {
	if l == nil {
		b.WriteString("null")
		return true
	}
	b.WriteByte('[')
	for i := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		if !each(b, &l[i]) {
			return false
		}
	}
	b.WriteByte(']')
	return true
}

// obj writes one JSON object's members in order; the writers follow the fields' Go order,
// which is encoding/json's.
type obj struct {
	b    *bytes.Buffer
	more bool
}

func open(b *bytes.Buffer) obj { b.WriteByte('{'); return obj{b: b} }
func (o *obj) close()          { o.b.WriteByte('}') }

// key starts a member named by a field's JSON name, a constant never in need of escaping.
func (o *obj) key(k string) {
	o.comma()
	o.b.WriteByte('"')
	o.b.WriteString(k)
	o.b.WriteString(`":`)
}

// mapKey starts a member named by a map's key, which may be anything.
func (o *obj) mapKey(k string) {
	o.comma()
	appendString(o.b, k)
	o.b.WriteByte(':')
}

func (o *obj) comma() {
	if o.more {
		o.b.WriteByte(',')
	}
	o.more = true
}

// str writes a string member; omitEmpty as the field's omitempty tag says.
func (o *obj) str(k, v string, omitEmpty bool) {
	if v == "" && omitEmpty {
		return
	}
	o.key(k)
	appendString(o.b, v)
}

func (o *obj) strs(k string, v []string) { // every []string the plan sets is omitempty
	if len(v) == 0 {
		return
	}
	o.key(k)
	o.b.WriteByte('[')
	for i, s := range v {
		if i > 0 {
			o.b.WriteByte(',')
		}
		appendString(o.b, s)
	}
	o.b.WriteByte(']')
}

func (o *obj) int(k string, v int64, omitEmpty bool) {
	if v == 0 && omitEmpty {
		return
	}
	o.key(k)
	o.b.WriteString(strconv.FormatInt(v, 10))
}

func (o *obj) boolean(k string, v bool) { // omitempty
	if v {
		o.key(k)
		o.b.WriteString("true")
	}
}

func (o *obj) boolPtr(k string, v *bool) {
	if v != nil {
		o.key(k)
		o.b.WriteString(strconv.FormatBool(*v))
	}
}

func (o *obj) int64Ptr(k string, v *int64) {
	if v != nil {
		o.key(k)
		o.b.WriteString(strconv.FormatInt(*v, 10))
	}
}

func (o *obj) int32Ptr(k string, v *int32) {
	if v != nil {
		o.key(k)
		o.b.WriteString(strconv.FormatInt(int64(*v), 10))
	}
}

func appendQuantity(b *bytes.Buffer, q *resource.Quantity) {
	s, _ := q.MarshalJSON() // a quoted canonical string; it never fails
	b.Write(s)
}

func appendStringMap(b *bytes.Buffer, m map[string]string) bool {
	if m == nil {
		return false
	}
	o := open(b)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		o.mapKey(k)
		appendString(b, m[k])
	}
	o.close()
	return true
}

func appendMount(b *bytes.Buffer, m *corev1.VolumeMount) bool {
	if m.RecursiveReadOnly != nil || m.SubPath != "" || m.MountPropagation != nil || m.SubPathExpr != "" || len(m.BindMountOptions) > 0 {
		return false
	}
	o := open(b)
	o.str("name", m.Name, false)
	o.boolean("readOnly", m.ReadOnly)
	o.str("mountPath", m.MountPath, false)
	o.close()
	return true
}

func appendContainer(b *bytes.Buffer, c *corev1.Container) bool {
	if c.WorkingDir != "" || len(c.EnvFrom) > 0 || len(c.Env) > 0 || len(c.ResizePolicy) > 0 || len(c.RestartPolicyRules) > 0 ||
		len(c.VolumeDevices) > 0 || c.LivenessProbe != nil || c.ReadinessProbe != nil || c.Lifecycle != nil ||
		c.TerminationMessagePath != "" || c.Stdin || c.StdinOnce || c.TTY || len(c.Resources.Claims) > 0 {
		return false
	}
	o := open(b)
	o.str("name", c.Name, false)
	o.str("image", c.Image, true)
	o.strs("command", c.Command)
	o.strs("args", c.Args)
	if len(c.Ports) > 0 {
		o.key("ports")
		if !appendList(b, c.Ports, appendPort) {
			return false
		}
	}
	o.key("resources")
	r := open(b)
	appendResources(&r, "limits", c.Resources.Limits)
	appendResources(&r, "requests", c.Resources.Requests)
	r.close()
	if c.RestartPolicy != nil {
		o.str("restartPolicy", string(*c.RestartPolicy), false)
	}
	if len(c.VolumeMounts) > 0 {
		o.key("volumeMounts")
		if !appendList(b, c.VolumeMounts, appendMount) {
			return false
		}
	}
	if c.StartupProbe != nil {
		o.key("startupProbe")
		if !appendProbe(b, c.StartupProbe) {
			return false
		}
	}
	o.str("terminationMessagePolicy", string(c.TerminationMessagePolicy), true)
	o.str("imagePullPolicy", string(c.ImagePullPolicy), true)
	if c.SecurityContext != nil {
		o.key("securityContext")
		if !appendSecurityContext(b, c.SecurityContext) {
			return false
		}
	}
	o.close()
	return true
}

func appendPort(b *bytes.Buffer, p *corev1.ContainerPort) bool {
	if p.HostPort != 0 || p.HostIP != "" {
		return false
	}
	o := open(b)
	o.str("name", p.Name, true)
	o.int("containerPort", int64(p.ContainerPort), false)
	o.str("protocol", string(p.Protocol), true)
	o.close()
	return true
}

func appendResources(o *obj, k string, l corev1.ResourceList) {
	if len(l) == 0 {
		return
	}
	o.key(k)
	m := open(o.b)
	for _, name := range slices.Sorted(maps.Keys(l)) {
		q := l[name]
		m.mapKey(string(name))
		appendQuantity(o.b, &q)
	}
	m.close()
}

func appendProbe(b *bytes.Buffer, p *corev1.Probe) bool {
	if p.HTTPGet != nil || p.TCPSocket != nil || p.GRPC != nil || p.TerminationGracePeriodSeconds != nil {
		return false
	}
	o := open(b)
	if p.Exec != nil {
		o.key("exec")
		e := open(b)
		e.strs("command", p.Exec.Command)
		e.close()
	}
	o.int("initialDelaySeconds", int64(p.InitialDelaySeconds), true)
	o.int("timeoutSeconds", int64(p.TimeoutSeconds), true)
	o.int("periodSeconds", int64(p.PeriodSeconds), true)
	o.int("successThreshold", int64(p.SuccessThreshold), true)
	o.int("failureThreshold", int64(p.FailureThreshold), true)
	o.close()
	return true
}

func appendSecurityContext(b *bytes.Buffer, s *corev1.SecurityContext) bool {
	if s.Privileged != nil || s.SELinuxOptions != nil || s.WindowsOptions != nil || s.ProcMount != nil || s.AppArmorProfile != nil ||
		s.SeccompProfile != nil && s.SeccompProfile.LocalhostProfile != nil {
		return false
	}
	o := open(b)
	if c := s.Capabilities; c != nil {
		o.key("capabilities")
		co := open(b)
		for _, l := range [2]struct {
			k string
			v []corev1.Capability
		}{{"add", c.Add}, {"drop", c.Drop}} {
			if len(l.v) > 0 {
				co.key(l.k)
				appendList(b, l.v, func(b *bytes.Buffer, c *corev1.Capability) bool { appendString(b, string(*c)); return true })
			}
		}
		co.close()
	}
	o.int64Ptr("runAsUser", s.RunAsUser)
	o.int64Ptr("runAsGroup", s.RunAsGroup)
	o.boolPtr("runAsNonRoot", s.RunAsNonRoot)
	o.boolPtr("readOnlyRootFilesystem", s.ReadOnlyRootFilesystem)
	o.boolPtr("allowPrivilegeEscalation", s.AllowPrivilegeEscalation)
	if s.SeccompProfile != nil {
		o.key("seccompProfile")
		so := open(b)
		so.str("type", string(s.SeccompProfile.Type), false)
		so.close()
	}
	o.close()
	return true
}

func appendVolume(b *bytes.Buffer, v *corev1.Volume) bool {
	src := v.VolumeSource
	// Only the sources the plan adds; any other set is left to encoding/json.
	src.EmptyDir, src.Secret, src.DownwardAPI, src.Projected = nil, nil, nil, nil
	if src != (corev1.VolumeSource{}) {
		return false
	}
	o := open(b)
	o.str("name", v.Name, false)
	ok := true
	if e := v.EmptyDir; e != nil {
		o.key("emptyDir")
		eo := open(b)
		eo.str("medium", string(e.Medium), true)
		if e.SizeLimit != nil {
			eo.key("sizeLimit")
			appendQuantity(b, e.SizeLimit)
		}
		eo.int32Ptr("mode", e.Mode)
		eo.close()
	}
	if s := v.Secret; s != nil {
		ok = ok && len(s.Items) == 0 && s.Optional == nil
		o.key("secret")
		so := open(b)
		so.str("secretName", s.SecretName, true)
		so.int32Ptr("defaultMode", s.DefaultMode)
		so.int64Ptr("defaultUser", s.DefaultUser)
		so.close()
	}
	if d := v.DownwardAPI; d != nil {
		o.key("downwardAPI")
		do := open(b)
		if len(d.Items) > 0 {
			do.key("items")
			ok = ok && appendList(b, d.Items, appendDownwardFile)
		}
		do.int32Ptr("defaultMode", d.DefaultMode)
		do.int64Ptr("defaultUser", d.DefaultUser)
		do.close()
	}
	if p := v.Projected; p != nil {
		o.key("projected")
		po := open(b)
		po.key("sources")
		ok = ok && appendList(b, p.Sources, appendProjection)
		po.int32Ptr("defaultMode", p.DefaultMode)
		po.int64Ptr("defaultUser", p.DefaultUser)
		po.close()
	}
	o.close()
	return ok
}

func appendDownwardFile(b *bytes.Buffer, f *corev1.DownwardAPIVolumeFile) bool {
	if f.ResourceFieldRef != nil || f.Mode != nil || f.User != nil {
		return false
	}
	o := open(b)
	o.str("path", f.Path, false)
	if r := f.FieldRef; r != nil {
		o.key("fieldRef")
		ro := open(b)
		ro.str("apiVersion", r.APIVersion, true)
		ro.str("fieldPath", r.FieldPath, false)
		ro.close()
	}
	o.close()
	return true
}

func appendProjection(b *bytes.Buffer, p *corev1.VolumeProjection) bool {
	t := p.ServiceAccountToken
	if p.Secret != nil || p.DownwardAPI != nil || p.ConfigMap != nil || p.ClusterTrustBundle != nil || p.PodCertificate != nil ||
		t == nil || t.User != nil {
		return false
	}
	o := open(b)
	o.key("serviceAccountToken")
	to := open(b)
	to.str("audience", t.Audience, true)
	to.int64Ptr("expirationSeconds", t.ExpirationSeconds)
	to.str("path", t.Path, false)
	to.close()
	o.close()
	return true
}

const hexDigits = "0123456789abcdef"

// plain marks the ASCII bytes written as they are.
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString writes s quoted as encoding/json does with HTML escaping off: control
// characters, quote and backslash escaped, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func appendString(b *bytes.Buffer, s string) {
	b.Write(appendQuoted(b.AvailableBuffer(), s)) // in place when b has room
}

func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendConfig writes the agent's config; unlike the Kubernetes types above, every field of
// contract.Config is covered, so there is no fallback.
func appendConfig(b *bytes.Buffer, c *contract.Config) {
	o := open(b)
	o.str("version", c.Version, false)
	o.key("vault")
	v := open(b)
	v.str("address", c.Vault.Address, true)
	v.str("namespace", c.Vault.Namespace, true)
	v.str("caCert", c.Vault.CACert, true)
	v.str("caCertFile", c.Vault.CACertFile, true)
	v.str("clientCertFile", c.Vault.ClientCert, true)
	v.str("clientKeyFile", c.Vault.ClientKey, true)
	v.str("tlsServerName", c.Vault.ServerName, true)
	v.boolean("clientCertOptional", c.Vault.ClientCertOptional)
	v.str("proxyAddress", c.Vault.ProxyAddress, true)
	v.close()
	o.key("auth")
	a := open(b)
	a.str("method", c.Auth.Method, true)
	a.str("path", c.Auth.Path, false)
	a.str("role", c.Auth.Role, false)
	a.str("tokenFile", c.Auth.TokenFile, false)
	a.close()
	o.key("secrets")
	appendList(b, c.Secrets, func(b *bytes.Buffer, s *contract.Secret) bool {
		so := open(b)
		so.str("name", s.Name, false)
		so.str("path", s.Path, false)
		so.str("format", s.Format, true)
		so.str("template", s.Template, true)
		so.str("file", s.File, false)
		so.str("perms", s.Perms.String(), false)
		so.str("compat", s.Compat, true)
		so.close()
		return true
	})
	o.str("secretsDir", c.SecretsDir, false)
	o.str("refresh", c.Refresh.String(), false)
	o.str("initTimeout", c.InitTimeout.String(), false)
	o.key("backoff")
	bo := open(b)
	bo.str("min", c.Backoff.Min.String(), false)
	bo.str("max", c.Backoff.Max.String(), false)
	bo.close()
	o.str("handoverFile", c.HandoverFile, true)
	o.int("metricsPort", int64(c.MetricsPort), true)
	o.int("maxSecretBytes", c.MaxSecretBytes, true)
	if c.RenderTimeout.Duration != 0 {
		o.str("renderTimeout", c.RenderTimeout.String(), false)
	}
	if r := c.Reload; r != nil {
		o.key("reload")
		ro := open(b)
		ro.str("http", r.HTTP, true)
		ro.str("signal", r.Signal, true)
		ro.str("process", r.Process, true)
		ro.close()
	}
	o.str("metricsListen", c.MetricsListen, true)
	o.close()
}
