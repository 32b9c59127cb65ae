package mutate_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/vault-injector/vault-injector/contract"
	corpus "github.com/vault-injector/vault-injector/test/vaultk8s-corpus"
	"github.com/vault-injector/vault-injector/webhook/mutate"
)

// publicCorpus holds pod templates written for vault-k8s, collected from public repositories
// and docs, each file naming its source (test/vaultk8s-corpus/README.md).
const publicCorpus = "../../test/vaultk8s-corpus"

// publicPod is one pod template of a corpus file, as its golden records it.
type publicPod struct {
	Template string `json:"template"` // kind/name of the object holding it
	Verdict  string `json:"verdict"`
	// VaultK8sFiles are the paths vault-k8s writes, from its own rules (corpus.Files).
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
// files its app containers see are the ones vault-k8s would write. Pods that use a Vault Agent
// feature the agent does not have yet (laterFeature, read from the annotations alone) are
// counted apart; fewer than 95 % of the others accepted fails.
func TestVaultK8sPublicCorpus(t *testing.T) {
	files, err := corpus.Load(publicCorpus)
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
	var later, laterAccepted int
	for _, f := range files {
		sources[f.Source] = true
		var pods []publicPod
		for _, tmpl := range f.Templates {
			p := checkPublicPod(t, tmpl, d)
			pods = append(pods, p)
			counts[p.Verdict]++
			reason := p.Refused + p.Skipped
			if p.Verdict == verdictOtherFiles {
				reason = "vault-k8s writes " + strings.Join(p.VaultK8sFiles, ", ")
			}
			verdict := p.Verdict
			if feature := laterFeature(tmpl.Annotations); feature != "" {
				later++
				if p.Verdict == verdictSameFiles || p.Verdict == verdictOtherFiles {
					laterAccepted++
				}
				verdict += " (needs " + feature + ")"
			}
			rows = append(rows, fmt.Sprintf("%-90s %-40s %s", filepath.Base(f.Path)+" "+p.Template, verdict, oneLine(reason)))
		}
		got, err := yaml.Marshal(pods)
		if err != nil {
			t.Fatal(err)
		}
		compareGolden(t, filepath.Join("testdata", "vault-k8s-public", strings.TrimSuffix(filepath.Base(f.Path), ".yaml")+".golden.yaml"), got)
	}
	total := len(rows)
	accepted := counts[verdictSameFiles] + counts[verdictOtherFiles]
	t.Logf("vault-k8s public corpus, one row per pod template:\n%s", strings.Join(rows, "\n"))
	t.Logf("%d pod templates in %d files from %d sources: %d accepted (%d with the same files as vault-k8s, %d with other files), %d refused, %d skipped",
		total, len(files), len(sources), accepted, counts[verdictSameFiles], counts[verdictOtherFiles], counts[verdictRefused], counts[verdictSkipped])
	inScope, inScopeAccepted := total-later, accepted-laterAccepted
	t.Logf("%d of %d pod templates accepted (%.1f %%) among those that need no Vault Agent feature the agent lacks; %d of %d accepted among those that do",
		inScopeAccepted, inScope, percent(inScopeAccepted, inScope), laterAccepted, later)
	if total < 40 || len(sources) < 15 {
		t.Errorf("the corpus needs at least 40 pod templates from 15 sources; it has %d from %d", total, len(sources))
	}
	if inScopeAccepted*100 < 95*inScope {
		t.Errorf("%d of %d pod templates accepted (%.1f %%) among those that need no missing agent feature, below 95 %%", inScopeAccepted, inScope, percent(inScopeAccepted, inScope))
	}
}

func percent(n, of int) float64 { return 100 * float64(n) / float64(max(of, 1)) }

// laterFeature names the Vault Agent feature a pod's vault-k8s annotations use that the agent
// does not have yet (a command after render, the caching listener, a whole agent
// configuration, AppRole login), or "" when it uses none. It reads the annotations only, never
// the verdict, so a refusal for another reason still counts against the 95 %.
func laterFeature(ann map[string]string) string {
	var uses []string
	if ann[corpus.Prefix+"agent-configmap"] != "" {
		uses = append(uses, "agent-configmap")
	}
	if b, _ := strconv.ParseBool(ann[corpus.Prefix+"agent-cache-enable"]); b {
		uses = append(uses, "agent-cache-enable")
	}
	if ann[corpus.Prefix+"auth-type"] == "approle" {
		uses = append(uses, "auth-type approle")
	}
	for k := range ann {
		if strings.HasPrefix(k, corpus.Prefix+"agent-inject-command-") || k == corpus.Prefix+"agent-inject-command" {
			uses = append(uses, "agent-inject-command")
			break
		}
	}
	return strings.Join(uses, ", ")
}

// checkPublicPod gives one pod template its verdict.
func checkPublicPod(t *testing.T, tmpl corpus.Template, d mutate.Defaults) publicPod {
	t.Helper()
	var p publicPod
	t.Run(tmpl.Where, func(t *testing.T) {
		out, patched := corpusOutcome(t, tmpl.Pod, d)
		p = publicPod{Template: tmpl.Where, corpusResult: out, VaultK8sFiles: corpus.Files(tmpl.Annotations)}
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
	files := make([]contract.Secret, 0, len(cfg.Secrets)+1)
	files = append(files, cfg.Secrets...)
	if cfg.TokenSink != "" {
		files = append(files, contract.Secret{File: cfg.TokenSink}) // the agent-inject-token file
	}
	for _, s := range files {
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

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}
