package mutate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/vault-injector/vault-injector/internal/jsonwrite"
)

// The values the plan adds (the agent container, its volumes, mounts and strings) are written
// here by hand, byte for byte as encoding/json writes them (HTML not escaped): its reflection
// was the largest cost of a response. Each writer covers the fields the plan sets; a value
// with any other field set is left to encoding/json whole, so nothing can be dropped.
// TestHandEncoding holds the writers to encoding/json for every field of these types.

// EncodePatch writes ops as the JSON patch of an admission response. It is several times
// cheaper than json.Marshal(ops), which goes through Operation's MarshalJSON and then compacts
// and escapes its output again; on a Deployment's pod that was the largest cost of the response.
func EncodePatch(ops []jsonpatch.Operation) ([]byte, error) {
	var b bytes.Buffer
	if err := AppendPatch(&b, ops); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// AppendPatch is EncodePatch into b, so a server can reuse its buffers.
func AppendPatch(b *bytes.Buffer, ops []jsonpatch.Operation) error {
	b.Grow(4096) // a typical patch: growing from empty cost more than the encoding's own garbage
	b.WriteByte('[')
	for i, op := range ops {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"op":`)
		jsonwrite.String(b, op.Operation)
		b.WriteString(`,"path":`)
		jsonwrite.String(b, op.Path)
		b.WriteString(`,"value":`)
		if err := appendValue(b, op.Value); err != nil {
			return fmt.Errorf("encoding the patch at %s: %w", op.Path, err)
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return nil
}

// appendValue writes v as JSON; it falls back to encoding/json (HTML escaping off) for values
// the writers do not cover.
func appendValue(b *bytes.Buffer, v any) error {
	start := b.Len()
	ok := false
	switch v := v.(type) {
	case string:
		jsonwrite.String(b, v)
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
	case *corev1.Volume: // patch adds volumes by pointer
		ok = v != nil && appendVolume(b, v)
	case corev1.Container:
		ok = appendContainer(b, &v)
	case []corev1.Container:
		ok = appendList(b, v, appendContainer)
	case []any:
		ok = appendList(b, v, func(b *bytes.Buffer, v *any) bool { return appendValue(b, *v) == nil })
	}
	if ok {
		return nil
	}
	b.Truncate(start)
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
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

func appendQuantity(b *bytes.Buffer, q *resource.Quantity) {
	jsonwrite.String(b, q.String()) // as its MarshalJSON writes it, without allocating when cached
}

// sortedKeys returns m's keys in order, as encoding/json writes them. The maps here hold a few
// keys, which a small array on the stack takes without allocating.
func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, 4)
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func appendStringMap(b *bytes.Buffer, m map[string]string) bool {
	if m == nil {
		return false
	}
	o := jsonwrite.Open(b)
	for _, k := range sortedKeys(m) {
		o.MapKey(k)
		jsonwrite.String(b, m[k])
	}
	o.Close()
	return true
}

func appendMount(b *bytes.Buffer, m *corev1.VolumeMount) bool {
	if m.RecursiveReadOnly != nil || m.SubPath != "" || m.MountPropagation != nil || m.SubPathExpr != "" || len(m.BindMountOptions) > 0 {
		return false
	}
	o := jsonwrite.Open(b)
	o.Str("name", m.Name, false)
	o.Bool("readOnly", m.ReadOnly)
	o.Str("mountPath", m.MountPath, false)
	o.Close()
	return true
}

func appendContainer(b *bytes.Buffer, c *corev1.Container) bool {
	if c.WorkingDir != "" || len(c.EnvFrom) > 0 || len(c.Env) > 0 || len(c.ResizePolicy) > 0 || len(c.RestartPolicyRules) > 0 ||
		len(c.VolumeDevices) > 0 || c.LivenessProbe != nil || c.ReadinessProbe != nil || c.Lifecycle != nil ||
		c.TerminationMessagePath != "" || c.Stdin || c.StdinOnce || c.TTY || len(c.Resources.Claims) > 0 {
		return false
	}
	o := jsonwrite.Open(b)
	o.Str("name", c.Name, false)
	o.Str("image", c.Image, true)
	o.Strs("command", c.Command)
	o.Strs("args", c.Args)
	if len(c.Ports) > 0 {
		o.Key("ports")
		if !appendList(b, c.Ports, appendPort) {
			return false
		}
	}
	o.Key("resources")
	r := jsonwrite.Open(b)
	appendResources(b, &r, "limits", c.Resources.Limits)
	appendResources(b, &r, "requests", c.Resources.Requests)
	r.Close()
	if c.RestartPolicy != nil {
		o.Str("restartPolicy", string(*c.RestartPolicy), false)
	}
	if len(c.VolumeMounts) > 0 {
		o.Key("volumeMounts")
		if !appendList(b, c.VolumeMounts, appendMount) {
			return false
		}
	}
	if c.StartupProbe != nil {
		o.Key("startupProbe")
		if !appendProbe(b, c.StartupProbe) {
			return false
		}
	}
	o.Str("terminationMessagePolicy", string(c.TerminationMessagePolicy), true)
	o.Str("imagePullPolicy", string(c.ImagePullPolicy), true)
	if c.SecurityContext != nil {
		o.Key("securityContext")
		if !appendSecurityContext(b, c.SecurityContext) {
			return false
		}
	}
	o.Close()
	return true
}

func appendPort(b *bytes.Buffer, p *corev1.ContainerPort) bool {
	if p.HostPort != 0 || p.HostIP != "" {
		return false
	}
	o := jsonwrite.Open(b)
	o.Str("name", p.Name, true)
	o.Int("containerPort", int64(p.ContainerPort), false)
	o.Str("protocol", string(p.Protocol), true)
	o.Close()
	return true
}

func appendResources(b *bytes.Buffer, o *jsonwrite.Object, k string, l corev1.ResourceList) {
	if len(l) == 0 {
		return
	}
	o.Key(k)
	m := jsonwrite.Open(b)
	for _, name := range sortedKeys(l) {
		q := l[name]
		m.MapKey(string(name))
		appendQuantity(b, &q)
	}
	m.Close()
}

func appendProbe(b *bytes.Buffer, p *corev1.Probe) bool {
	if p.HTTPGet != nil || p.TCPSocket != nil || p.GRPC != nil || p.TerminationGracePeriodSeconds != nil {
		return false
	}
	o := jsonwrite.Open(b)
	if p.Exec != nil {
		o.Key("exec")
		e := jsonwrite.Open(b)
		e.Strs("command", p.Exec.Command)
		e.Close()
	}
	o.Int("initialDelaySeconds", int64(p.InitialDelaySeconds), true)
	o.Int("timeoutSeconds", int64(p.TimeoutSeconds), true)
	o.Int("periodSeconds", int64(p.PeriodSeconds), true)
	o.Int("successThreshold", int64(p.SuccessThreshold), true)
	o.Int("failureThreshold", int64(p.FailureThreshold), true)
	o.Close()
	return true
}

func appendSecurityContext(b *bytes.Buffer, s *corev1.SecurityContext) bool {
	if s.Privileged != nil || s.SELinuxOptions != nil || s.WindowsOptions != nil || s.ProcMount != nil || s.AppArmorProfile != nil ||
		s.SeccompProfile != nil && s.SeccompProfile.LocalhostProfile != nil {
		return false
	}
	o := jsonwrite.Open(b)
	if c := s.Capabilities; c != nil {
		o.Key("capabilities")
		co := jsonwrite.Open(b)
		for _, l := range [2]struct {
			k string
			v []corev1.Capability
		}{{"add", c.Add}, {"drop", c.Drop}} {
			if len(l.v) > 0 {
				co.Key(l.k)
				appendList(b, l.v, func(b *bytes.Buffer, c *corev1.Capability) bool { jsonwrite.String(b, string(*c)); return true })
			}
		}
		co.Close()
	}
	o.Int64Ptr("runAsUser", s.RunAsUser)
	o.Int64Ptr("runAsGroup", s.RunAsGroup)
	o.BoolPtr("runAsNonRoot", s.RunAsNonRoot)
	o.BoolPtr("readOnlyRootFilesystem", s.ReadOnlyRootFilesystem)
	o.BoolPtr("allowPrivilegeEscalation", s.AllowPrivilegeEscalation)
	if s.SeccompProfile != nil {
		o.Key("seccompProfile")
		so := jsonwrite.Open(b)
		so.Str("type", string(s.SeccompProfile.Type), false)
		so.Close()
	}
	o.Close()
	return true
}

func appendVolume(b *bytes.Buffer, v *corev1.Volume) bool {
	src := v.VolumeSource
	// Only the sources the plan adds; any other set is left to encoding/json.
	src.EmptyDir, src.Secret, src.DownwardAPI, src.Projected = nil, nil, nil, nil
	if src != (corev1.VolumeSource{}) {
		return false
	}
	o := jsonwrite.Open(b)
	o.Str("name", v.Name, false)
	ok := true
	if e := v.EmptyDir; e != nil {
		o.Key("emptyDir")
		eo := jsonwrite.Open(b)
		eo.Str("medium", string(e.Medium), true)
		if e.SizeLimit != nil {
			eo.Key("sizeLimit")
			appendQuantity(b, e.SizeLimit)
		}
		eo.Int32Ptr("mode", e.Mode)
		eo.Close()
	}
	if s := v.Secret; s != nil {
		ok = ok && len(s.Items) == 0 && s.Optional == nil
		o.Key("secret")
		so := jsonwrite.Open(b)
		so.Str("secretName", s.SecretName, true)
		closeWithDefaults(&so, s.DefaultMode, s.DefaultUser)
	}
	if d := v.DownwardAPI; d != nil {
		o.Key("downwardAPI")
		do := jsonwrite.Open(b)
		if len(d.Items) > 0 {
			do.Key("items")
			ok = ok && appendList(b, d.Items, appendDownwardFile)
		}
		closeWithDefaults(&do, d.DefaultMode, d.DefaultUser)
	}
	if p := v.Projected; p != nil {
		o.Key("projected")
		po := jsonwrite.Open(b)
		po.Key("sources")
		ok = ok && appendList(b, p.Sources, appendProjection)
		closeWithDefaults(&po, p.DefaultMode, p.DefaultUser)
	}
	o.Close()
	return ok
}

// closeWithDefaults ends the object of a volume source with the members each source the plan
// adds ends with.
func closeWithDefaults(o *jsonwrite.Object, mode *int32, user *int64) {
	o.Int32Ptr("defaultMode", mode)
	o.Int64Ptr("defaultUser", user)
	o.Close()
}

func appendDownwardFile(b *bytes.Buffer, f *corev1.DownwardAPIVolumeFile) bool {
	if f.ResourceFieldRef != nil || f.Mode != nil || f.User != nil {
		return false
	}
	o := jsonwrite.Open(b)
	o.Str("path", f.Path, false)
	if r := f.FieldRef; r != nil {
		o.Key("fieldRef")
		ro := jsonwrite.Open(b)
		ro.Str("apiVersion", r.APIVersion, true)
		ro.Str("fieldPath", r.FieldPath, false)
		ro.Close()
	}
	o.Close()
	return true
}

func appendProjection(b *bytes.Buffer, p *corev1.VolumeProjection) bool {
	t := p.ServiceAccountToken
	if p.Secret != nil || p.DownwardAPI != nil || p.ConfigMap != nil || p.ClusterTrustBundle != nil || p.PodCertificate != nil ||
		t == nil || t.User != nil {
		return false
	}
	o := jsonwrite.Open(b)
	o.Key("serviceAccountToken")
	to := jsonwrite.Open(b)
	to.Str("audience", t.Audience, true)
	to.Int64Ptr("expirationSeconds", t.ExpirationSeconds)
	to.Str("path", t.Path, false)
	to.Close()
	o.Close()
	return true
}
