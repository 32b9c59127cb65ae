package render

import (
	"encoding/base64"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"

	"github.com/vault-injector/vault-injector/agent/vault"
	"github.com/vault-injector/vault-injector/contract"
)

// funcs is the template function map with the item's secret function.
func (it *Item) funcs(src Source) template.FuncMap {
	f := funcs()
	f[contract.WriteToFileFunc] = it.writeToFile
	f["secret"] = func(path string, args ...string) (*vault.Secret, error) {
		if err := it.refuseTokenPath(path); err != nil {
			return nil, err
		}
		data, err := writeArgs(args)
		if err != nil {
			return nil, err
		}
		s, err := src.Secret(path, data)
		if err != nil && it.computed(path, args) {
			return nil, withholdComputed(err)
		}
		return s, err
	}
	return f
}

// funcs is the template function map without a Source: the parse time set, where only the
// names matter. Item.funcs adds the real secret function.
func funcs() template.FuncMap {
	return template.FuncMap{
		"secret": func(string, ...string) (*vault.Secret, error) {
			return nil, safef("secret: no source at parse time")
		},
		"toJSON":          func(v any) (string, error) { b, err := marshalJSON(plain(v), ""); return string(b), err },
		"toJSONPretty":    func(v any) (string, error) { b, err := marshalJSON(plain(v), "  "); return string(b), err },
		"toYAML":          toYAML,
		"base64Encode":    func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"base64Decode":    decoder(base64.StdEncoding),
		"base64URLEncode": func(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) },
		"base64URLDecode": decoder(base64.URLEncoding),
		"shellQuote":      func(v any) string { return shellQuote(scalar(v)) },
		"envKey":          envKey,
		"toUpper":         strings.ToUpper,
		"toLower":         strings.ToLower,
		"trimSpace":       strings.TrimSpace,
		"split":           func(sep, s string) []string { return strings.Split(s, sep) },
		"join":            func(sep string, s []string) string { return strings.Join(s, sep) },
		"replaceAll":      func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"contains":        func(sub, s string) bool { return strings.Contains(s, sub) },
		"keys":            keys,
		"timestamp":       timestamp,
		contract.WriteToFileFunc: func(string, string, string, string, ...string) (string, error) {
			return "", safef("writeToFile: no secrets dir at parse time") // replaced per item at render
		},
		"pkiCert": func(string, ...string) (PemEncoded, error) {
			return PemEncoded{}, safef("pkiCert: no source at parse time") // replaced per item at render
		},
	}
}

// writeArgs turns Vault Agent's `secret "pki/issue/web" "common_name=a.example"` arguments into
// the data of a write.
func writeArgs(args []string) (map[string]any, error) {
	if len(args) == 0 {
		return nil, nil
	}
	data := make(map[string]any, len(args))
	for i, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			// Not the argument itself: a template may build it from secret values.
			return nil, safef("secret argument %d is not key=value", i+1)
		}
		data[k] = v
	}
	return data, nil
}

func toYAML(v any) (string, error) {
	b, err := yaml.Marshal(plain(v))
	return strings.TrimSuffix(string(b), "\n"), err
}

func decoder(enc *base64.Encoding) func(string) (string, error) {
	return func(s string) (string, error) {
		b, err := enc.DecodeString(s)
		if err != nil {
			// The input may be a secret: say what failed, not what was given.
			return "", safef("base64 decoding failed (input of %d bytes)", len(s))
		}
		return string(b), nil
	}
}

// lazySecret is the template's dot: the configured secret, fetched at the first field access.
// Methods (not fields) so that text/template calls them and reports their errors.
type lazySecret struct {
	fetch func() (*vault.Secret, error)
	s     *vault.Secret
	err   error
	done  bool
}

func (l *lazySecret) get() (*vault.Secret, error) {
	if !l.done {
		l.s, l.err = l.fetch()
		l.done = true
	}
	return l.s, l.err
}

func (l *lazySecret) Data() (map[string]any, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.Data, nil
}

func (l *lazySecret) LeaseID() (string, error) {
	s, err := l.get()
	if err != nil {
		return "", err
	}
	return s.LeaseID, nil
}

func (l *lazySecret) LeaseDuration() (int, error) {
	s, err := l.get()
	if err != nil {
		return 0, err
	}
	return s.LeaseDuration, nil
}

func (l *lazySecret) Renewable() (bool, error) {
	s, err := l.get()
	if err != nil {
		return false, err
	}
	return s.Renewable, nil
}

// refuseTokenPath refuses, at render, a path that would give the agent's token to the app: one
// the template computed is not named (it may hold a value).
func (it *Item) refuseTokenPath(path string) error {
	err := contract.RefuseTokenPath(path)
	switch {
	case err == nil:
		return nil
	case it.computed(path, nil):
		return safef("a path computed by the template %v", err)
	}
	return safef("secret %q %v", path, err)
}
