package contract

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"
)

// nasty is what every string leaf becomes: each kind of character encoding/json escapes.
const nasty = "a\"\\\b\f\n\r\t\x01\x1f<>&\u2028\u2029é\xff\x7f"

// TestAppendJSON holds the hand-written encoder to encoding/json (HTML escaping off) and so to
// Config's struct tags: for configs of every kind, and for every variant of each with one
// field changed anywhere in it. The field walk is by reflection, so a field added to Config
// and not to AppendJSON fails here.
func TestAppendJSON(t *testing.T) {
	full := validConfig()
	full.Vault = Vault{Address: "https://vault:8200", Namespace: "team-a", CACert: "PEM", CACertFile: TLSCAFile,
		ClientCert: TLSClientCert, ClientKey: TLSClientKey, ServerName: "vault.internal", ClientCertOptional: true,
		ProxyAddress: "http://proxy:3128", InsecureSkipVerify: true}
	full.Auth.Method = AuthJWT
	full.Secrets = append(full.Secrets, Secret{Name: "tpl", Path: "secret/tpl", Template: "<{{ .Data.key }}>&\"\n",
		File: "t/x.xml", Perms: 0o400, Compat: CompatVaultAgent, LeftDelim: "[[", RightDelim: "]]"},
		Secret{Name: "tf", TemplateFile: "/etc/app/x.tmpl", File: "tf", Perms: 0o400, Compat: CompatVaultAgentStrict})
	full.HandoverFile, full.MetricsPort, full.MetricsListen = HandoverFile, 9102, MetricsListenPod
	full.MaxSecretBytes, full.RenderTimeout = 2048, Duration{3 * time.Second}
	full.Reload = &Reload{HTTP: "http://127.0.0.1:8080/-/reload"}
	full.TokenSink = TokenSinkName

	for _, cfg := range []Config{{}, validConfig(), full} {
		checkAppendJSON(t, cfg)
		variants := 0
		for n := 0; ; n++ {
			c := cfg
			c.Secrets = slices.Clone(cfg.Secrets)
			if cfg.Reload != nil {
				r := *cfg.Reload
				c.Reload = &r
			}
			k := n
			if !changeLeaf(reflect.ValueOf(&c).Elem(), &k) {
				break
			}
			variants++
			checkAppendJSON(t, c)
		}
		if variants < 26 { // the leaves of a zero Config: the walk must reach every field
			t.Errorf("config: only %d variants", variants)
		}
	}
}

func checkAppendJSON(t *testing.T, c Config) {
	t.Helper()
	var b bytes.Buffer
	c.AppendJSON(&b)
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		t.Fatal(err)
	}
	if w := bytes.TrimSuffix(want.Bytes(), []byte("\n")); !bytes.Equal(b.Bytes(), w) {
		t.Errorf("config: hand-written\n%s\nencoding/json\n%s", b.Bytes(), w)
	}
}

// changeLeaf changes the *n-th leaf of v (counting down n as it walks, in a fixed order) and
// reports whether there was one. Leaves: every settable string, number, bool, Duration, nil
// pointer and empty slice; it descends into structs, non-nil pointers and the elements of
// slices of structs.
func changeLeaf(v reflect.Value, n *int) bool {
	leaf := func(set func()) bool {
		if *n == 0 {
			set()
			return true
		}
		*n--
		return false
	}
	if v.Type() == reflect.TypeFor[Duration]() {
		return leaf(func() {
			v.Set(reflect.ValueOf(Duration{v.Interface().(Duration).Duration*3 + 1500*time.Millisecond}))
		})
	}
	switch v.Kind() {
	case reflect.Struct:
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
		if v.Len() == 0 || v.Type().Elem().Kind() != reflect.Struct {
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
