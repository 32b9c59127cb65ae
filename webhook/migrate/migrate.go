// Package migrate rewrites manifests from vault-k8s' annotations (vault.hashicorp.com/*) to
// vault-injector.io ones: the `webhook migrate` command. It translates with the same function
// as admission (package vaultk8s), edits the YAML node tree so comments and key order stay, and
// leaves every document it does not change byte for byte as it was. What it writes is first
// run through admission's own code (package mutate), so it never writes a pod the webhook
// would refuse.
package migrate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/webhook/annotations"
	"github.com/vault-injector/vault-injector/webhook/mutate"
	"github.com/vault-injector/vault-injector/webhook/vaultk8s"
)

// templatePaths says where each kind keeps its pod template's annotations.
var templatePaths = map[string][]string{
	"Pod":         {"metadata", "annotations"},
	"Deployment":  {"spec", "template", "metadata", "annotations"},
	"StatefulSet": {"spec", "template", "metadata", "annotations"},
	"DaemonSet":   {"spec", "template", "metadata", "annotations"},
	"ReplicaSet":  {"spec", "template", "metadata", "annotations"},
	"Job":         {"spec", "template", "metadata", "annotations"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template", "metadata", "annotations"},
}

// Result of migrating one file.
type Result struct {
	Changed  bool
	Warnings []string // what was translated with a caveat, per object
	Problems []string // objects left unchanged because something could not be translated
}

// separator matches a YAML document separator line.
var separator = regexp.MustCompile(`^---(\s.*)?$`)

// File rewrites the documents of src (named source in messages) and returns the new content.
// d are the webhook's injection settings the rewritten pods are checked against.
func File(source string, src []byte, d mutate.Defaults) ([]byte, Result, error) {
	var res Result
	var out bytes.Buffer
	for _, chunk := range splitDocuments(src) {
		if len(chunk.separator) > 0 {
			out.Write(chunk.separator)
			continue
		}
		b, err := document(source, chunk.text, d, &res)
		if err != nil {
			return nil, res, err
		}
		out.Write(b)
	}
	res.Changed = !bytes.Equal(out.Bytes(), src)
	return out.Bytes(), res, nil
}

type chunk struct{ text, separator []byte }

// splitDocuments cuts src into documents and the separator lines between them, so that
// joining the pieces gives src back exactly.
func splitDocuments(src []byte) []chunk {
	var chunks []chunk
	var cur []byte
	for _, line := range bytes.SplitAfter(src, []byte("\n")) {
		if separator.Match(bytes.TrimRight(line, "\r\n")) {
			chunks = append(chunks, chunk{text: cur}, chunk{separator: line})
			cur = nil
			continue
		}
		cur = append(cur, line...)
	}
	return append(chunks, chunk{text: cur})
}

// document rewrites one YAML document, or returns it as it was.
func document(source string, text []byte, d mutate.Defaults, res *Result) ([]byte, error) {
	if len(bytes.TrimSpace(text)) == 0 {
		return text, nil
	}
	var root yaml.Node
	if err := yaml.Unmarshal(text, &root); err != nil {
		return nil, fmt.Errorf("%s: parsing: %w", source, err)
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return text, nil
	}
	obj := root.Content[0]
	kind := scalar(lookup(obj, "kind"))
	path, ok := templatePaths[kind]
	if !ok {
		return text, nil
	}
	ann := obj
	var template *yaml.Node // the pod template: the node holding metadata and spec
	for i, k := range path {
		if i == len(path)-2 {
			template = ann
		}
		if ann = lookup(ann, k); ann == nil || ann.Kind != yaml.MappingNode {
			return text, nil
		}
	}
	where := fmt.Sprintf("%s: %s/%s", source, kind, name(obj))
	tr, ok := translate(ann, where, res)
	if !ok {
		return text, nil
	}
	if refused := admit(template, scalar(lookup(lookup(obj, "metadata"), "namespace")), tr, d); len(refused) > 0 {
		for _, p := range refused {
			res.Problems = append(res.Problems, where+": left unchanged: the webhook would refuse the migrated pod: "+p)
		}
		return text, nil
	}
	rewrite(ann, tr)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, fmt.Errorf("%s: writing: %w", where, err)
	}
	_ = enc.Close()
	return b.Bytes(), nil
}

// annotationsOf reads an annotations mapping, and the index of its first vault.hashicorp.com
// key (-1 when it has none).
func annotationsOf(ann *yaml.Node) (map[string]string, int) {
	in := map[string]string{}
	first := -1
	for i := 0; i+1 < len(ann.Content); i += 2 {
		k := ann.Content[i].Value
		in[k] = ann.Content[i+1].Value
		if strings.HasPrefix(k, vaultk8s.Prefix) && first < 0 {
			first = i
		}
	}
	return in, first
}

// translate translates the annotations mapping, reporting its warnings and problems; ok is
// false when there is nothing to translate or it cannot be.
func translate(ann *yaml.Node, where string, res *Result) (vaultk8s.Result, bool) {
	in, first := annotationsOf(ann)
	if first < 0 {
		return vaultk8s.Result{}, false
	}
	tr := vaultk8s.Translate(in)
	for _, w := range tr.Warnings {
		res.Warnings = append(res.Warnings, where+": "+w)
	}
	for _, p := range tr.Problems {
		res.Problems = append(res.Problems, where+": left unchanged: "+p)
	}
	return tr, len(tr.Problems) == 0
}

// admit runs the pod template, with its translated annotations, through admission's own code
// and returns why the webhook would refuse it, each vault-injector.io key the refusal names
// followed by the vault.hashicorp.com keys it was translated from.
func admit(template *yaml.Node, namespace string, tr vaultk8s.Result, d mutate.Defaults) []string {
	var t struct {
		Metadata map[string]any `yaml:"metadata"`
		Spec     map[string]any `yaml:"spec"`
	}
	if err := template.Decode(&t); err != nil {
		return []string{"its pod template cannot be read: " + err.Error()}
	}
	if t.Metadata == nil {
		t.Metadata = map[string]any{}
	}
	if namespace == "" {
		namespace = "default"
	}
	t.Metadata["namespace"] = namespace
	t.Metadata["annotations"] = tr.Annotations
	raw, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": t.Metadata, "spec": t.Spec})
	if err != nil {
		return []string{"its pod template cannot be read: " + err.Error()}
	}
	pod, err := mutate.Decode(raw)
	if err != nil {
		return []string{err.Error()}
	}
	d.AcceptVaultK8s = false // the translation has no vault.hashicorp.com keys left
	if _, err = mutate.Pod(pod, d); err == nil {
		return nil
	}
	problems := []string{err.Error()}
	if ae := (*annotations.Error)(nil); errors.As(err, &ae) {
		problems = ae.Problems
	}
	for i, p := range problems {
		problems[i] = tr.NameOrigins(p)
	}
	return problems
}

// rewrite replaces the vault.hashicorp.com pairs of the annotations mapping with their
// translation tr, at the place of the first one, carrying their comments over.
func rewrite(ann *yaml.Node, tr vaultk8s.Result) {
	in, first := annotationsOf(ann)
	var comments []string
	var content []*yaml.Node
	for i := 0; i+1 < len(ann.Content); i += 2 {
		k, v := ann.Content[i], ann.Content[i+1]
		if !strings.HasPrefix(k.Value, vaultk8s.Prefix) {
			content = append(content, k, v)
			continue
		}
		comments = append(comments, nonEmpty(k.HeadComment, k.LineComment, v.LineComment, k.FootComment)...)
		if i == first {
			content = append(content, translated(tr.Annotations, in)...)
		}
	}
	ann.Content = content
	// The comments go above what replaced the first key or, when nothing did (every key was
	// only warned about), below the annotations.
	target := &ann.FootComment
	if first < len(content) {
		target = &content[first].HeadComment
	}
	for _, c := range comments {
		*target = strings.TrimPrefix(*target+"\n"+c, "\n")
	}
}

// translated are the new pairs in a reading order: pod-wide keys first, then each secret's.
func translated(out, in map[string]string) []*yaml.Node {
	var pod, secrets []string
	for k := range out {
		if _, had := in[k]; had || !strings.HasPrefix(k, contract.Prefix) {
			continue // the pod's other annotations stay where they were
		}
		if isPerSecret(k) {
			secrets = append(secrets, k)
		} else {
			pod = append(pod, k)
		}
	}
	sortPod(pod)
	sortSecrets(secrets)
	var nodes []*yaml.Node
	for _, k := range append(pod, secrets...) {
		v := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: out[k]}
		if strings.Contains(v.Value, "\n") {
			v.Style = yaml.LiteralStyle
		}
		nodes = append(nodes, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, v)
	}
	return nodes
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

func name(obj *yaml.Node) string {
	meta := lookup(obj, "metadata")
	if n := scalar(lookup(meta, "name")); n != "" {
		return n
	}
	return scalar(lookup(meta, "generateName"))
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}
