package mutate_test

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
	"testing"

	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/webhook/mutate"
	"github.com/vault-injector/vault-injector/webhook/vaultk8s"
)

// publicCorpus holds pod templates written for vault-k8s, collected from public repositories
// and docs, each file naming its source (test/vaultk8s-corpus/README.md).
const publicCorpus = "../../test/vaultk8s-corpus"

// publicPod is one pod template of a corpus file, as its golden records it.
type publicPod struct {
	Template string `json:"template"` // kind/name of the object holding it
	Verdict  string `json:"verdict"`
	// VaultK8sFiles are the paths vault-k8s writes, from its own rules (vaultK8sFiles).
	VaultK8sFiles []string `json:"vaultK8sFiles,omitempty"`
	corpusResult
}

const (
	verdictSameFiles  = "same files"
	verdictOtherFiles = "injected, other files"
	verdictRefused    = "refused"
	verdictSkipped    = "skipped"
)

// TestVaultK8sPublicCorpus runs every pod template of the public corpus through the core as
// admission does with --accept-vault-k8s-annotations (corpusOutcome: translate, parse, plan,
// patch, the patch oracle, a second pass, every key accounted for), compares the outcomes with
// testdata/vault-k8s-public/<file>.golden.yaml, and measures the drop-in promise: a pod counts
// as accepted when it is injected, and as translated with the same files when, besides, the
// files its app containers see are the ones vault-k8s would write. Fewer than 95 % accepted
// fails.
func TestVaultK8sPublicCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(publicCorpus, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	goldens, _ := filepath.Glob("testdata/vault-k8s-public/*.golden.yaml")
	for _, g := range goldens {
		if _, err := os.Stat(filepath.Join(publicCorpus, strings.TrimSuffix(filepath.Base(g), ".golden.yaml")+".yaml")); err != nil {
			t.Errorf("stale golden %s: its corpus file is gone; delete it", g)
		}
	}
	d := defaultsFromHeader(t, nil)
	var rows []string
	counts := map[string]int{}
	sources := map[string]bool{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources[corpusSource(t, f, src)] = true
		var pods []publicPod
		for _, tmpl := range podTemplates(t, f, src) {
			p := checkPublicPod(t, tmpl, d)
			pods = append(pods, p)
			counts[p.Verdict]++
			reason := p.Refused + p.Skipped
			if p.Verdict == verdictOtherFiles {
				reason = "vault-k8s writes " + strings.Join(p.VaultK8sFiles, ", ")
			}
			rows = append(rows, fmt.Sprintf("%-90s %-22s %s", filepath.Base(f)+" "+p.Template, p.Verdict, oneLine(reason)))
		}
		if len(pods) == 0 {
			t.Errorf("%s: no pod template annotated for vault-k8s", f)
			continue
		}
		got, err := yaml.Marshal(pods)
		if err != nil {
			t.Fatal(err)
		}
		compareGolden(t, filepath.Join("testdata", "vault-k8s-public", strings.TrimSuffix(filepath.Base(f), ".yaml")+".golden.yaml"), got)
	}
	total := len(rows)
	accepted := counts[verdictSameFiles] + counts[verdictOtherFiles]
	t.Logf("vault-k8s public corpus, one row per pod template:\n%s", strings.Join(rows, "\n"))
	t.Logf("%d pod templates in %d files from %d sources: %d accepted (%d with the same files as vault-k8s, %d with other files), %d refused, %d skipped",
		total, len(files), len(sources), accepted, counts[verdictSameFiles], counts[verdictOtherFiles], counts[verdictRefused], counts[verdictSkipped])
	if total < 40 || len(sources) < 15 {
		t.Errorf("the corpus needs at least 40 pod templates from 15 sources; it has %d from %d", total, len(sources))
	}
	if accepted*100 < 95*total {
		t.Errorf("%d of %d pod templates accepted (%.1f %%), below 95 %%", accepted, total, 100*float64(accepted)/float64(max(total, 1)))
	}
}

// corpusTemplate is one pod template taken out of a corpus document.
type corpusTemplate struct {
	where string // kind/name
	raw   []byte // a Pod as JSON
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

// podTemplates returns the pod templates of src annotated for vault-k8s, each as the Pod the
// API server would send: the object's name, and its namespace or "default".
func podTemplates(t *testing.T, file string, src []byte) []corpusTemplate {
	t.Helper()
	var out []corpusTemplate
	docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(src)))
	for {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		obj := map[string]any{}
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			t.Fatalf("%s: %v", file, err)
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
		if !vaultk8s.Has(stringMap(meta["annotations"])) {
			continue
		}
		objMeta, _ := obj["metadata"].(map[string]any)
		pod := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": defaulted(meta, objMeta), "spec": tmpl["spec"]}
		raw, err := json.Marshal(pod)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, corpusTemplate{where: kind + "/" + fmt.Sprint(objMeta["name"]), raw: raw})
	}
}

// defaulted is a pod template's metadata with the name and namespace a created pod has.
func defaulted(meta, objMeta map[string]any) map[string]any {
	m := map[string]any{}
	for k, v := range meta {
		m[k] = v
	}
	if m["name"] == nil {
		m["name"] = objMeta["name"]
	}
	if m["namespace"] == nil {
		m["namespace"] = objMeta["namespace"]
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

// checkPublicPod gives one pod template its verdict.
func checkPublicPod(t *testing.T, tmpl corpusTemplate, d mutate.Defaults) publicPod {
	t.Helper()
	var p publicPod
	t.Run(tmpl.where, func(t *testing.T) {
		out, patched := corpusOutcome(t, tmpl.raw, d)
		var pod corev1.Pod
		if err := json.Unmarshal(tmpl.raw, &pod); err != nil {
			t.Fatal(err)
		}
		p = publicPod{Template: tmpl.where, corpusResult: out, VaultK8sFiles: vaultK8sFiles(t, pod.Annotations)}
		switch {
		case out.Refused != "":
			p.Verdict = verdictRefused
		case patched == nil:
			p.Verdict = verdictSkipped
		case sameStrings(p.VaultK8sFiles, filesSeen(t, patched, p.VaultK8sFiles)):
			p.Verdict = verdictSameFiles
		default:
			p.Verdict = verdictOtherFiles
		}
	})
	return p
}

// vaultK8sFiles are the absolute paths vault-k8s has Vault Agent write for these annotations,
// written from vault-k8s' agent-inject/agent (secrets() in annotations.go, the templates and
// the token sink in config.go), not from our translator: one file per secret name (from
// agent-inject-secret-, -template- or -template-file-), at <secret-volume-path-<raw name>, else
// secret-volume-path, else /vault/secrets>/<agent-inject-file-<raw name>, else the name>, the
// name lower-cased unless preserve-secret-case(-<name>) is true; plus <secret-volume-path>/token
// with agent-inject-token.
func vaultK8sFiles(t *testing.T, ann map[string]string) []string {
	t.Helper()
	const p = "vault.hashicorp.com/"
	volume := ann[p+"secret-volume-path"]
	if volume == "" {
		volume = "/vault/secrets"
	}
	raws := map[string]bool{}
	for k, v := range ann {
		for _, prefix := range []string{"agent-inject-secret-", "agent-inject-template-file-", "agent-inject-template-"} {
			if raw, ok := strings.CutPrefix(k, p+prefix); ok && raw != "" && strings.TrimSpace(v) != "" {
				raws[raw] = true
				break
			}
		}
	}
	var files []string
	for raw := range raws {
		name := raw
		preserve, ok := ann[p+"preserve-secret-case-"+raw]
		if !ok {
			preserve = ann[p+"preserve-secret-case"]
		}
		if b, _ := strconv.ParseBool(preserve); !b {
			name = strings.ToLower(raw)
		}
		dir := volume
		if v, ok := ann[p+"secret-volume-path-"+raw]; ok {
			dir = v
		}
		file := dir + "/" + name
		if f := ann[p+"agent-inject-file-"+raw]; f != "" {
			file = filepath.Join(dir, f)
		}
		files = append(files, file)
	}
	if b, _ := strconv.ParseBool(ann[p+"agent-inject-token"]); b {
		files = append(files, path.Join(volume, "token"))
	}
	sort.Strings(files)
	return files
}

// filesSeen are the paths of want at which the patched pod's own containers see one of the
// agent's files (a secret's File under one of their mounts of the secrets volume), plus a
// marker for each file the agent writes that they see at none of them. Seeing a file at a
// further path too (a second mount) is no difference for an app that reads vault-k8s' paths.
func filesSeen(t *testing.T, patched []byte, want []string) []string {
	t.Helper()
	var pod corev1.Pod
	if err := json.Unmarshal(patched, &pod); err != nil {
		t.Fatal(err)
	}
	cfg, err := contract.Parse([]byte(pod.Annotations[contract.AnnotationAgentConfig]))
	if err != nil {
		t.Fatal(err)
	}
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[w] = true
	}
	seen := map[string]bool{}
	for _, s := range cfg.Secrets {
		visible := false
		for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
			if c.Name == contract.AgentContainer || c.Name == contract.AgentInitContainer {
				continue // ours, not the app's
			}
			for _, m := range c.VolumeMounts {
				if f := path.Join(m.MountPath, s.File); m.Name == contract.SecretsVolume && wanted[f] {
					seen[f], visible = true, true
				}
			}
		}
		if !visible {
			seen["(not seen by the app) "+s.File] = true
		}
	}
	var out []string
	for f := range seen {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

func sameStrings(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

// corpusSource checks a corpus file's header and returns its source repository or site.
func corpusSource(t *testing.T, file string, src []byte) string {
	t.Helper()
	lines := strings.SplitN(string(src), "\n", 3)
	url, ok := strings.CutPrefix(lines[0], "# source: https://")
	if !ok || len(lines) < 2 || !strings.HasPrefix(lines[1], "# what: ") {
		t.Errorf("%s: the first lines must be \"# source: https://...\" and \"# what: ...\"", file)
		return file
	}
	url, _, _ = strings.Cut(url, "@")
	parts := strings.Split(url, "/")
	return strings.Join(parts[:min(3, len(parts))], "/")
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

// TestVaultK8sFilesRules holds the corpus' file oracle to the destinations vault-k8s' own tests
// expect (agent-inject/agent: TestFilePathAndName, TestSecretAnnotationsWithPreserveCase..., the
// token sink in TestConfigVaultAgentTemplateConfig).
func TestVaultK8sFilesRules(t *testing.T) {
	const p = "vault.hashicorp.com/"
	for _, c := range []struct {
		ann  map[string]string
		want string
	}{
		{map[string]string{"agent-inject-secret-foo": "db/creds/foo"}, "/vault/secrets/foo"},
		{map[string]string{"agent-inject-secret-foo": "db/creds/foo", "agent-inject-file-foo": "nested/foofile"}, "/vault/secrets/nested/foofile"},
		{map[string]string{"agent-inject-secret-foo": "db/creds/foo", "agent-inject-file-foo": "/special/volume/foofile"}, "/vault/secrets/special/volume/foofile"},
		{map[string]string{"agent-inject-secret-foo": "db/creds/foo", "agent-inject-file-foo": "/special/foofile", "secret-volume-path": "/new/mount/path"}, "/new/mount/path/special/foofile"},
		{map[string]string{"agent-inject-secret-foo": "db/creds/foo", "agent-inject-file-foo": "nested/foofile", "secret-volume-path-foo": "/new/mount/path"}, "/new/mount/path/nested/foofile"},
		{map[string]string{"agent-inject-secret-FOOBAR": "test2"}, "/vault/secrets/foobar"},
		{map[string]string{"agent-inject-secret-FOOBAR_EXPLICIT": "test2", "preserve-secret-case-FOOBAR_EXPLICIT": "true"}, "/vault/secrets/FOOBAR_EXPLICIT"},
		{map[string]string{"agent-inject-secret-Ab": "x", "preserve-secret-case": "true"}, "/vault/secrets/Ab"},
		{map[string]string{"agent-inject-template-just-template": "{{ . }}"}, "/vault/secrets/just-template"},
		{map[string]string{"agent-inject-secret-": "test5", "agent-inject-secret-empty": " "}, ""},
		{map[string]string{"agent-inject-token": "true", "secret-volume-path": "/etc/x"}, "/etc/x/token"},
	} {
		ann := map[string]string{}
		for k, v := range c.ann {
			ann[p+k] = v
		}
		if got := strings.Join(vaultK8sFiles(t, ann), ","); got != c.want {
			t.Errorf("%v: vault-k8s writes %q, the oracle says %q", c.ann, c.want, got)
		}
	}
}
