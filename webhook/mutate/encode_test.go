package mutate

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/vault-injector/vault-injector/contract"
)

// nasty is what every string leaf becomes: each kind of character encoding/json escapes.
const nasty = "a\"\\\b\f\n\r\t\x01\x1f<>&\u2028\u2029é\xff\x7f"

// TestHandEncoding holds the hand-written writers to encoding/json: for each value the plan
// adds, in every shape, and for every variant of it with one field changed anywhere in the
// value (a field the writers do not cover must send the value to encoding/json, not vanish).
// The field walk is by reflection, so a field a newer k8s.io/api adds is covered too.
func TestHandEncoding(t *testing.T) {
	type build struct {
		name string
		make func() any
	}
	var builds []build
	for _, shape := range []Shape{ShapeNative, ShapeClassic, ShapeInitOnly} {
		p := testPlan(t, shape)
		builds = append(builds,
			build{string(shape) + "/initAgent", func() any { return p.initAgent() }},
			build{string(shape) + "/sidecar", func() any { return p.agent(contract.AgentContainer, false) }},
			build{string(shape) + "/initAgents", func() any { return []corev1.Container{p.initAgent()} }},
			build{string(shape) + "/mount", func() any { return p.secretsMounts()[0] }},
		)
		for i := range p.volumes() {
			builds = append(builds, build{string(shape) + "/volume", func() any { return &p.volumes()[i] }})
		}
		builds = append(builds, build{string(shape) + "/volumes", func() any {
			var vs []any
			for _, v := range p.volumes() {
				vs = append(vs, &v)
			}
			return vs
		}})
	}
	builds = append(builds,
		build{"label", func() any { return map[string]string{contract.LabelInjected: contract.LabelInjectedValue} }},
		build{"true", func() any { return ptr.To(true) }},
		build{"string", func() any { return nasty }})

	for _, bd := range builds {
		// The plan's own values take the hand-written path: the fallback is not the norm.
		if v := bd.make(); !handWritten(v) {
			t.Errorf("%s: the plan's value %s goes to encoding/json", bd.name, reference(t, v))
		}
		checkEncoding(t, bd.name, bd.make())
		variants := 0
		for n := 0; ; n++ {
			v := bd.make()
			rv := reflect.New(reflect.TypeOf(v)).Elem()
			rv.Set(reflect.ValueOf(v))
			k := n
			if !changeLeaf(rv, &k) {
				break
			}
			variants++
			checkEncoding(t, bd.name, rv.Interface())
		}
		if variants == 0 && bd.name != "true" {
			t.Errorf("%s: no variants: the field walk found nothing to change", bd.name)
		}
	}
}

func testPlan(t *testing.T, shape Shape) *plan {
	t.Helper()
	d := Defaults{
		AgentImage: "agent:1", AgentImagePullPolicy: string(corev1.PullIfNotPresent), Role: "r", AuthPath: "kubernetes",
		RunAsUser: 100, RunAsGroup: 1000, VolumeSize: resource.MustParse("16Mi"), TokenExpiry: 600e9,
		CPURequest: resource.MustParse("50m"), MemoryRequest: resource.MustParse("64Mi"), MemoryLimit: resource.MustParse("128Mi"),
		VaultTLSSecret: "vault-tls", AgentMetrics: AgentMetricsPod, AgentMetricsPort: 9102, TokenAudience: "vault",
	}
	return &plan{d: d, shape: shape, volumePath: contract.DefaultVolumePath}
}

func handWritten(v any) bool {
	var b bytes.Buffer
	switch v := v.(type) {
	case corev1.Container:
		return appendContainer(&b, &v)
	case []corev1.Container:
		return appendList(&b, v, appendContainer)
	case *corev1.Volume:
		return appendVolume(&b, v)
	case corev1.VolumeMount:
		return appendMount(&b, &v)
	case []any:
		for _, e := range v {
			if !handWritten(e) {
				return false
			}
		}
		return appendValue(&b, v) == nil
	case map[string]string:
		return appendStringMap(&b, v)
	case *bool, string:
		return true
	}
	return false
}

func checkEncoding(t *testing.T, name string, v any) {
	t.Helper()
	var b bytes.Buffer
	if err := appendValue(&b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if want := reference(t, v); !bytes.Equal(b.Bytes(), want) {
		t.Errorf("%s: hand-written\n%s\nencoding/json\n%s", name, b.Bytes(), want)
	}
}

func reference(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

var marshaler = reflect.TypeFor[json.Marshaler]()

// changeLeaf changes the *n-th leaf of v (counting down n as it walks, in a fixed order) and
// reports whether there was one. Leaves: every settable string, number, bool, nil pointer,
// empty or string slice and map; it descends into structs, non-nil pointers and the elements
// of slices of structs or interfaces.
func changeLeaf(v reflect.Value, n *int) bool {
	leaf := func(set func()) bool {
		if *n == 0 {
			set()
			return true
		}
		*n--
		return false
	}
	switch v.Type() {
	case reflect.TypeFor[resource.Quantity]():
		return leaf(func() { v.Set(reflect.ValueOf(resource.MustParse("1500m"))) })
	}
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return false
		}
		e := reflect.New(v.Elem().Type()).Elem()
		e.Set(v.Elem())
		if changeLeaf(e, n) {
			v.Set(e)
			return true
		}
		return false
	case reflect.Struct:
		if v.Type().Implements(marshaler) {
			return false
		}
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() && changeLeaf(f, n) {
				return true
			}
		}
		return false
	case reflect.Pointer:
		if v.IsNil() {
			return leaf(func() {
				e := reflect.New(v.Type().Elem())
				k := 0
				changeLeaf(e.Elem(), &k) // a pointer to a zero struct may encode as {}: set something
				v.Set(e)
			})
		}
		return changeLeaf(v.Elem(), n)
	case reflect.Slice:
		if k := v.Type().Elem().Kind(); v.Len() == 0 || k != reflect.Struct && k != reflect.Interface {
			return leaf(func() {
				e := reflect.New(v.Type().Elem()).Elem()
				k := 0
				changeLeaf(e, &k)
				v.Set(reflect.Append(v, e))
			})
		}
		for i := range v.Len() {
			if changeLeaf(v.Index(i), n) {
				return true
			}
		}
		return false
	case reflect.Map:
		return leaf(func() {
			m := reflect.MakeMap(v.Type())
			for _, k := range v.MapKeys() {
				m.SetMapIndex(k, v.MapIndex(k))
			}
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			i := 0
			changeLeaf(k, &i)
			i = 0
			changeLeaf(e, &i)
			m.SetMapIndex(k, e)
			v.Set(m)
		})
	case reflect.String:
		return leaf(func() { v.SetString(v.String() + nasty) })
	case reflect.Bool:
		return leaf(func() { v.SetBool(!v.Bool()) })
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return leaf(func() { v.SetInt(v.Int()*3 + 7) })
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return leaf(func() { v.SetUint(v.Uint()*3 + 7) })
	}
	return false
}
