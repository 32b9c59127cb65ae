// Package corpus reads the vault-k8s public corpus (the YAML files beside this one, see
// README.md) and says, from vault-k8s' own rules, which files vault-k8s has Vault Agent write
// for a pod's annotations: the independent oracle the corpus tests hold the translation to
// (webhook/mutate TestVaultK8sPublicCorpus, agent/integration TestVaultK8sPublicCorpusRenders).
package corpus

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Prefix of vault-k8s' annotations.
const Prefix = "vault.hashicorp.com/"

// File is one corpus file.
type File struct {
	Path      string
	Source    string // the repository or site it comes from: github.com/<owner>/<repo>
	Templates []Template
}

// Template is one pod template annotated for vault-k8s.
type Template struct {
	Where       string // kind/name of the object holding it
	Pod         []byte // the Pod the API server would send, as JSON
	Annotations map[string]string
}

// Load reads every corpus file in dir.
func Load(dir string) ([]File, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var files []File
	for _, name := range names {
		src, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		f := File{Path: name}
		if f.Source, err = source(src); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if f.Templates, err = templates(src); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(f.Templates) == 0 {
			return nil, fmt.Errorf("%s: no pod template annotated for vault-k8s", name)
		}
		files = append(files, f)
	}
	return files, nil
}

// source checks a file's two header lines and returns where it comes from.
func source(src []byte) (string, error) {
	lines := strings.SplitN(string(src), "\n", 3)
	url, ok := strings.CutPrefix(lines[0], "# source: https://")
	if !ok || len(lines) < 2 || !strings.HasPrefix(lines[1], "# what: ") {
		return "", errors.New(`the first lines must be "# source: https://..." and "# what: ..."`)
	}
	url, _, _ = strings.Cut(url, "@")
	parts := strings.Split(url, "/")
	return strings.Join(parts[:min(3, len(parts))], "/"), nil
}

// podPaths says where each kind keeps its pod template; a Pod is its own (nil).
var podPaths = map[string][]string{
	"Pod":         nil,
	"Deployment":  {"spec", "template"},
	"StatefulSet": {"spec", "template"},
	"DaemonSet":   {"spec", "template"},
	"ReplicaSet":  {"spec", "template"},
	"Job":         {"spec", "template"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template"},
}

// templates returns the pod templates of src with a vault.hashicorp.com annotation, each as a
// created pod has it: the object's name, and its namespace or "default".
func templates(src []byte) ([]Template, error) {
	var out []Template
	docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(src)))
	for {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		obj := map[string]any{}
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return nil, err
		}
		kind, _ := obj["kind"].(string)
		at, ok := podPaths[kind]
		if !ok {
			continue
		}
		tmpl := obj
		for _, k := range at {
			tmpl, _ = tmpl[k].(map[string]any)
		}
		meta, _ := tmpl["metadata"].(map[string]any)
		ann := stringMap(meta["annotations"])
		if !hasPrefixed(ann) {
			continue
		}
		objMeta, _ := obj["metadata"].(map[string]any)
		raw, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": defaulted(meta, objMeta), "spec": tmpl["spec"]})
		if err != nil {
			return nil, err
		}
		out = append(out, Template{Where: kind + "/" + fmt.Sprint(objMeta["name"]), Pod: raw, Annotations: ann})
	}
}

func hasPrefixed(ann map[string]string) bool {
	for k := range ann {
		if strings.HasPrefix(k, Prefix) {
			return true
		}
	}
	return false
}

// defaulted is a pod template's metadata with the name and namespace a created pod has.
func defaulted(meta, objMeta map[string]any) map[string]any {
	m := map[string]any{}
	for k, v := range meta {
		m[k] = v
	}
	for _, k := range []string{"name", "namespace"} {
		if m[k] == nil {
			m[k] = objMeta[k]
		}
	}
	if m["namespace"] == nil {
		m["namespace"] = "default"
	}
	return m
}

func stringMap(v any) map[string]string {
	m := map[string]string{}
	in, _ := v.(map[string]any)
	for k, v := range in {
		m[k] = fmt.Sprint(v)
	}
	return m
}

// Secret is one file vault-k8s has Vault Agent render, as vault-k8s' agent-inject/agent reads
// it from the annotations (secrets() in annotations.go, newTemplateConfigs in config.go).
type Secret struct {
	Raw          string // the name as written in the annotation keys
	Path         string // agent-inject-secret-<raw>
	Template     string // agent-inject-template-<raw>
	TemplateFile string // agent-inject-template-file-<raw>, a file inside the agent container
	Perms        string // agent-inject-perms-<raw>; "" is Vault Agent's default
	Dir          string // the mount it is written under
	File         string // its path relative to Dir
}

// Secrets are the files vault-k8s renders for these annotations: one per secret name (from
// agent-inject-secret-, -template- or -template-file-, with a value), written to
// <secret-volume-path-<raw>, else secret-volume-path, else /vault/secrets>/<agent-inject-file-
// <raw>, else the name>, the name lower-cased unless preserve-secret-case(-<raw>) is true.
func Secrets(ann map[string]string) []Secret {
	volume := volumePath(ann)
	raws := map[string]bool{}
	for k, v := range ann {
		for _, prefix := range []string{"agent-inject-secret-", "agent-inject-template-file-", "agent-inject-template-"} {
			if raw, ok := strings.CutPrefix(k, Prefix+prefix); ok && raw != "" && strings.TrimSpace(v) != "" {
				raws[raw] = true
				break
			}
		}
	}
	var out []Secret
	for raw := range raws {
		name := raw
		preserve, ok := ann[Prefix+"preserve-secret-case-"+raw]
		if !ok {
			preserve = ann[Prefix+"preserve-secret-case"]
		}
		if b, _ := strconv.ParseBool(preserve); !b {
			name = strings.ToLower(raw)
		}
		s := Secret{Raw: raw, Path: ann[Prefix+"agent-inject-secret-"+raw], Template: ann[Prefix+"agent-inject-template-"+raw],
			TemplateFile: ann[Prefix+"agent-inject-template-file-"+raw], Perms: ann[Prefix+"agent-inject-perms-"+raw], Dir: volume, File: name}
		if v, ok := ann[Prefix+"secret-volume-path-"+raw]; ok {
			s.Dir = v
		}
		if f := ann[Prefix+"agent-inject-file-"+raw]; f != "" {
			// vault-k8s joins it under the mount: an absolute name lands below it too.
			s.File, _ = filepath.Rel(filepath.Clean(s.Dir), filepath.Join(s.Dir, f))
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dir+"/"+out[i].File < out[j].Dir+"/"+out[j].File })
	return out
}

// Files are the absolute paths vault-k8s writes: every secret's, plus <secret-volume-path>/token
// with agent-inject-token (the token sink in config.go).
func Files(ann map[string]string) []string {
	var files []string
	for _, s := range Secrets(ann) {
		files = append(files, path.Join(s.Dir, s.File))
	}
	if b, _ := strconv.ParseBool(ann[Prefix+"agent-inject-token"]); b {
		files = append(files, path.Join(volumePath(ann), "token"))
	}
	sort.Strings(files)
	return files
}

func volumePath(ann map[string]string) string {
	if v := ann[Prefix+"secret-volume-path"]; v != "" {
		return v
	}
	return "/vault/secrets"
}
