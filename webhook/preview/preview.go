// Package preview runs the mutation core over manifests: the `webhook inject` command, which
// shows what the webhook would do to a Pod or a workload's pod template before it is deployed.
package preview

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/webhook/mutate"
)

// templatePaths says where each kind keeps its pod template; a Pod is its own template (nil).
var templatePaths = map[string][]string{
	"Pod":         nil,
	"Deployment":  {"spec", "template"},
	"StatefulSet": {"spec", "template"},
	"DaemonSet":   {"spec", "template"},
	"ReplicaSet":  {"spec", "template"},
	"Job":         {"spec", "template"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template"},
}

// Result of one run: warnings for stderr and invalid objects, each with the webhook's message.
type Result struct {
	Warnings []string
	Errors   []error
}

// Inject reads the YAML or JSON documents of in (named source in messages), writes every object
// to out as YAML, injected where it opts in, and reports warnings and invalid objects.
func Inject(source string, in io.Reader, d mutate.Defaults, out io.Writer, res *Result) error {
	docs := utilyaml.NewYAMLReader(bufio.NewReader(in))
	first := true
	for {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: reading: %w", source, err)
		}
		obj := map[string]any{}
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return fmt.Errorf("%s: parsing: %w", source, err)
		}
		if len(obj) == 0 {
			continue
		}
		for _, obj := range expandList(obj) {
			if err := previewObject(source, obj, d, out, &first, res); err != nil {
				return err
			}
		}
	}
}

// expandList returns the items of a `kind: List` (what `kubectl get -o yaml` prints), each to
// be previewed as its own document, or obj alone.
func expandList(obj map[string]any) []map[string]any {
	items, ok := obj["items"].([]any)
	if kind, _ := obj["kind"].(string); kind != "List" && !strings.HasSuffix(kind, "List") || !ok {
		return []map[string]any{obj}
	}
	var objs []map[string]any
	for _, it := range items {
		if m, ok := it.(map[string]any); ok && len(m) > 0 {
			objs = append(objs, expandList(m)...)
		}
	}
	return objs
}

// previewObject injects one object and writes it as a YAML document.
func previewObject(source string, obj map[string]any, d mutate.Defaults, out io.Writer, first *bool, res *Result) error {
	where := fmt.Sprintf("%s: %v/%v", source, obj["kind"], name(obj))
	warnings, err := injectObject(obj, d)
	for _, w := range append(misplacedAnnotations(obj), warnings...) {
		res.Warnings = append(res.Warnings, where+": "+w)
	}
	if err != nil {
		res.Errors = append(res.Errors, fmt.Errorf("%s: %w", where, err))
	}
	b, err := yaml.Marshal(obj)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if !*first {
		fmt.Fprintln(out, "---")
	}
	*first = false
	_, err = out.Write(b)
	return err
}

// misplacedAnnotations warns about vault-injector.io annotations on a workload's own metadata:
// the webhook only sees the pods, which carry the pod template's annotations.
func misplacedAnnotations(obj map[string]any) []string {
	kind, _ := obj["kind"].(string)
	path, ok := templatePaths[kind]
	if !ok || path == nil {
		return nil
	}
	meta, _ := obj["metadata"].(map[string]any)
	annotations, _ := meta["annotations"].(map[string]any)
	var keys []string
	for k := range annotations {
		if strings.HasPrefix(k, contract.Prefix) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Strings(keys)
	verb, it := "is", "it"
	if len(keys) > 1 {
		verb, it = "are", "them"
	}
	return []string{fmt.Sprintf("%s %s on the %s's own metadata, where the webhook never sees %s: move %s to %s.metadata.annotations",
		strings.Join(keys, ", "), verb, kind, it, it, strings.Join(path, "."))}
}

// injectObject injects obj's pod template in place; other kinds pass through.
func injectObject(obj map[string]any, d mutate.Defaults) ([]string, error) {
	kind, _ := obj["kind"].(string)
	path, ok := templatePaths[kind]
	if !ok {
		return nil, nil
	}
	parent, key := obj, ""
	tmpl := obj
	for _, k := range path {
		parent, key = tmpl, k
		next, ok := tmpl[k].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s has no %v", kind, path)
		}
		tmpl = next
	}
	raw, err := json.Marshal(tmpl)
	if err != nil {
		return nil, err
	}
	injected, warnings, err := injectRaw(raw, d)
	if err != nil || injected == nil {
		return warnings, err
	}
	if key == "" {
		clear(obj)
		for k, v := range injected {
			obj[k] = v
		}
	} else {
		parent[key] = injected
	}
	return warnings, nil
}

// injectRaw applies to raw (a pod or pod template as JSON) exactly the patch the webhook would
// return. It returns nil when nothing changes.
func injectRaw(raw []byte, d mutate.Defaults) (map[string]any, []string, error) {
	pod, err := mutate.Decode(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("not a pod template: %w", err)
	}
	res, err := mutate.Pod(pod, d)
	if err != nil || res.Skipped != "" {
		return nil, res.Warnings, err
	}
	patched, err := mutate.Apply(raw, res.Patch)
	if err != nil {
		return nil, res.Warnings, fmt.Errorf("the webhook's patch: %w", err)
	}
	out := map[string]any{}
	err = json.Unmarshal(bytes.TrimSpace(patched), &out)
	return out, res.Warnings, err
}

func name(obj map[string]any) string {
	meta, _ := obj["metadata"].(map[string]any)
	if n, _ := meta["name"].(string); n != "" {
		return n
	}
	n, _ := meta["generateName"].(string)
	return n
}
