// Package render turns Vault secrets into file contents: the json, yaml, env and raw:<key>
// formats, and Go text/template templates with a Vault Agent compatible `secret` function.
// Secrets come from a Source, so the agent's loop decides what is fetched, cached and renewed;
// its own I/O is a secret's template file, read once when compiled, and writeToFile.
package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"

	"github.com/vault-injector/vault-injector/agent/vault"
	"github.com/vault-injector/vault-injector/contract"
)

// MaxOutput bounds one rendered file. Secrets live in a size-limited in-memory volume, and a
// template such as {{range 1000000000}} must fail instead of filling memory.
const MaxOutput = 4 << 20

// Source fetches a secret. data == nil reads path; otherwise data is written to it (endpoints
// such as pki/issue/<role> issue secrets on write, as in Vault Agent templates).
type Source interface {
	Secret(path string, data map[string]any) (*vault.Secret, error)
}

// Item renders one configured secret.
type Item struct {
	cfg   contract.Secret
	tmpl  *template.Template
	lits  map[string]bool // the template's string constants (computed.go)
	certs certCache       // pkiCert's certificates, kept across renders
	wdir  *WriteDir       // where writeToFile writes; nil: it fails
}

// Compile prepares s. Template syntax errors are reported here, with the secret name and line,
// so a broken template fails the agent at start instead of at the first render.
func Compile(s contract.Secret) (*Item, error) { return compile(s, nil) }

func compile(s contract.Secret, w *WriteDir) (*Item, error) {
	it := &Item{cfg: s, wdir: w}
	if s.TemplateFile != "" {
		text, err := readTemplateFile(s)
		if err != nil {
			return nil, err
		}
		s.Template = text
	}
	if s.Template == "" {
		if err := contract.ValidateFormat(s.Format); err != nil {
			return nil, fmt.Errorf("secret %q: %w", s.Name, err)
		}
		return it, nil
	}
	left, right := s.Delims()
	t, err := template.New(s.Name).Delims(left, right).Option(missingKey(s.Compat)).Funcs(funcs()).Parse(s.Template)
	if err != nil {
		return nil, fmt.Errorf("secret %q: parsing %s: %w", s.Name, templateName(s), err)
	}
	if err := contract.CheckTemplateCalls(t); err != nil {
		if s.TemplateFile != "" {
			return nil, fmt.Errorf("secret %q: %s: %w", s.Name, templateName(s), err)
		}
		return nil, fmt.Errorf("secret %q: %w", s.Name, err)
	}
	if err := contract.CheckTemplatePaths(t); err != nil {
		return nil, fmt.Errorf("secret %q: %s: %w", s.Name, templateName(s), err)
	}
	if w != nil {
		if err := contract.CheckWriteToFile(t, w.Dir, w.Files); err != nil {
			return nil, fmt.Errorf("secret %q: %s: %w", s.Name, templateName(s), err)
		}
	}
	it.tmpl, it.lits = t, literals(t)
	return it, nil
}

// readTemplateFile reads a secret's template file, as Vault Agent reads a template's source:
// once, at start. Then the checks admission applies to a template annotation before parsing;
// those of the parse tree follow in compile, for both. Errors name the secret and the path,
// never the content.
func readTemplateFile(s contract.Secret) (string, error) {
	rel, err := s.TemplateFileInRoot()
	if err != nil {
		return "", fmt.Errorf("secret %q: %w", s.Name, err)
	}
	root, err := os.OpenRoot(s.TemplateFileRoot)
	if err != nil {
		return "", fmt.Errorf("secret %q: opening the mount %s of template file %s: %w", s.Name, s.TemplateFileRoot, s.TemplateFile, pathless(err))
	}
	defer root.Close()
	f, err := root.Open(rel) // refuses a symlink or ".." that leaves the mount
	if err != nil {
		return "", fmt.Errorf("secret %q: reading template file %s: %w", s.Name, s.TemplateFile, pathless(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, contract.MaxTemplateFileBytes+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("secret %q: reading template file %s: %w", s.Name, s.TemplateFile, pathless(err))
	case len(b) > contract.MaxTemplateFileBytes:
		return "", fmt.Errorf("secret %q: template file %s is larger than %d bytes: split it into several secrets", s.Name, s.TemplateFile, contract.MaxTemplateFileBytes)
	case strings.TrimSpace(string(b)) == "":
		return "", fmt.Errorf("secret %q: template file %s is empty", s.Name, s.TemplateFile)
	}
	left, right := s.Delims()
	if err := contract.CheckTemplateDepth(string(b), left, right); err != nil {
		return "", fmt.Errorf("secret %q: template file %s: %w", s.Name, s.TemplateFile, err)
	}
	return string(b), nil
}

// templateName is how errors name the secret's template: "template", or its file.
func templateName(s contract.Secret) string {
	if s.TemplateFile != "" {
		return "template file " + s.TemplateFile
	}
	return "template"
}

// pathless is an os error without the path it repeats.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// CompileAll compiles every secret and reports all errors at once. Their templates'
// writeToFile writes in w.Dir (an empty Dir: writeToFile fails).
func CompileAll(secrets []contract.Secret, w WriteDir) ([]*Item, error) {
	var items []*Item
	var errs []error
	var wp *WriteDir
	if w.Dir != "" {
		wp = &w
	}
	for _, s := range secrets {
		it, err := compile(s, wp)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		items = append(items, it)
	}
	return items, errors.Join(errs...)
}

// Config is the secret this item renders.
func (it *Item) Config() contract.Secret { return it.cfg }

// Render produces the file content. Errors name the secret (and, for templates, the template
// line); they never contain secret values.
func (it *Item) Render(src Source) ([]byte, error) {
	b, err := it.render(src)
	if err != nil {
		return nil, fmt.Errorf("secret %q: %w", it.cfg.Name, err)
	}
	return b, nil
}

func (it *Item) render(src Source) ([]byte, error) {
	if it.tmpl != nil {
		return it.execute(src)
	}
	s, err := src.Secret(it.cfg.Path, nil)
	if err != nil {
		return nil, err
	}
	return Format(it.cfg.Format, s.Values())
}

func (it *Item) execute(src Source) ([]byte, error) {
	t, err := it.tmpl.Clone()
	if err != nil {
		return nil, err
	}
	t.Funcs(it.funcs(src)).Funcs(it.pkiFuncs(src))
	if f := compatFuncs(it.cfg.Compat); f != nil {
		t.Funcs(f)
	}
	// The dot is the configured secret, fetched only if the template uses it, so a template
	// that only calls `secret` does not read the configured path a second time.
	dot := &lazySecret{fetch: func() (*vault.Secret, error) {
		if it.cfg.Path == "" {
			return nil, safef("the template reads its own secret (.Data) but has no Vault path: set secret-%s, or read with secret \"<path>\"", it.cfg.Name)
		}
		return src.Secret(it.cfg.Path, nil)
	}}
	out := &limitedBuffer{max: MaxOutput}
	if err := t.Execute(out, dot); err != nil {
		return nil, cleanExecError(err)
	}
	return out.Bytes(), nil
}

// Format renders values in one of the non-template formats.
func Format(format string, values map[string]any) ([]byte, error) {
	switch {
	case format == contract.FormatJSON || format == "":
		b, err := marshalJSON(values, "  ")
		if err != nil {
			return nil, err
		}
		return append(b, '\n'), nil
	case format == contract.FormatYAML:
		return yaml.Marshal(plain(values))
	case format == contract.FormatEnv:
		return envFile(values)
	case strings.HasPrefix(format, contract.FormatRawPrefix):
		key := strings.TrimPrefix(format, contract.FormatRawPrefix)
		v, ok := values[key]
		if !ok {
			return nil, fmt.Errorf("format %s: the secret has no key %q (keys: %s)", format, key, strings.Join(keys(values), ", "))
		}
		return []byte(scalar(v)), nil
	}
	return nil, fmt.Errorf("format %q is invalid", format)
}

// marshalJSON is encoding/json without HTML escaping: files are not embedded in HTML, and
// "\u0026" in a password file would surprise every reader.
func marshalJSON(v any, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// scalar is a value as file or env content: strings as they are, numbers as Vault sent them,
// null as empty, and structures as compact JSON.
func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	}
	b, err := marshalJSON(v, "")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// plain converts json.Number (how the Vault client decodes numbers) into int64 or float64, so
// YAML shows 5, not "5".
func plain(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = plain(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = plain(e)
		}
		return s
	}
	return v
}

func keys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// limitedBuffer fails writes past max bytes.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		return 0, safef("output is larger than %d bytes", b.max)
	}
	return b.Buffer.Write(p)
}
