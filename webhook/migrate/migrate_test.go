package migrate

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/webhook/config"
	"github.com/vault-injector/vault-injector/webhook/mutate"
	"github.com/vault-injector/vault-injector/webhook/vaultk8s"
)

// defaults are the injection settings `webhook migrate` checks against without flags.
func defaults() mutate.Defaults {
	d := config.New().Inject
	d.VaultAddr = config.DefaultVaultAddr
	d.AgentImage = config.AgentImage("test")
	return d
}

var update = flag.Bool("update", false, "rewrite testdata/*.migrated.yaml")

// TestMigrateFile rewrites a multi-document file and compares it with its golden; checks that
// untouched documents keep their bytes, that comments survive, that a document that cannot be
// translated stays as it was with the reason reported, and that migrating again changes nothing.
func TestMigrateFile(t *testing.T) {
	src, err := os.ReadFile("testdata/workloads.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, res, err := File("workloads.yaml", src, defaults())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed {
		t.Fatal("nothing changed")
	}
	golden := "testdata/workloads.migrated.yaml"
	if *update {
		if err := os.WriteFile(golden, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("output differs from %s (rerun with -update if intended):\n%s", golden, out)
	}
	for _, keep := range []string{"# Not a workload: untouched, byte for byte.\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  key:   value\n",
		"# Vault: the database credentials", "# dynamic", "# pinned", "pkill -HUP redis"} {
		if !bytes.Contains(out, []byte(keep)) {
			t.Errorf("the output lost %q", keep)
		}
	}
	if len(res.Problems) != 1 || !strings.Contains(res.Problems[0], "StatefulSet/cache: left unchanged") || !strings.Contains(res.Problems[0], "reload-http") {
		t.Errorf("problems %q, want the StatefulSet's agent-inject-command refused", res.Problems)
	}
	docs := decodeAll(t, out)
	if len(docs) != 4 {
		t.Fatalf("%d documents, want 4", len(docs))
	}
	web := annotationsAt(docs[0], "spec", "template", "metadata", "annotations")
	for k, v := range map[string]string{contract.AnnotationInject: "true", contract.AnnotationRole: "web",
		contract.AnnotationSecretPrefix + "db.txt": "database/creds/web", contract.AnnotationPermsPrefix + "db.txt": "0644",
		"prometheus.io/scrape": "true", "example.com/owner": "team-web"} {
		if web[k] != v {
			t.Errorf("Deployment: %s = %q, want %q", k, web[k], v)
		}
	}
	report := annotationsAt(docs[2], "spec", "jobTemplate", "spec", "template", "metadata", "annotations")
	if report[contract.AnnotationMode] != contract.ModeInitOnly || !strings.Contains(report[contract.AnnotationTemplatePrefix+"config"], "toJSON") {
		t.Errorf("CronJob: %v", report)
	}
	for _, a := range []map[string]string{web, report} {
		for k := range a {
			if strings.HasPrefix(k, vaultk8s.Prefix) {
				t.Errorf("%s is left", k)
			}
		}
	}
	again, res2, err := File("workloads.yaml", out, defaults())
	if err != nil || res2.Changed || !bytes.Equal(again, out) {
		t.Errorf("a second migration changed the file (err %v)", err)
	}
}

func decodeAll(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			break
		}
		docs = append(docs, m)
	}
	return docs
}

func annotationsAt(doc map[string]any, path ...string) map[string]string {
	cur := doc
	for _, p := range path[:len(path)-1] {
		cur, _ = cur[p].(map[string]any)
	}
	out := map[string]string{}
	m, _ := cur[path[len(path)-1]].(map[string]any)
	for k, v := range m {
		s, _ := v.(string)
		out[k] = s
	}
	return out
}

func TestSplitDocumentsRoundTrips(t *testing.T) {
	for _, src := range []string{"", "a: 1\n", "---\na: 1\n---\nb: 2", "a: 1\n--- # c\nb: |\n  ---x\n", "a: 1\r\n---\r\nb: 2\r\n"} {
		var b bytes.Buffer
		for _, c := range splitDocuments([]byte(src)) {
			b.Write(c.text)
			b.Write(c.separator)
		}
		if b.String() != src {
			t.Errorf("%q came back as %q", src, b.String())
		}
	}
}

func TestNothingToMigrate(t *testing.T) {
	src := []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    vault-injector.io/inject: \"true\"\n")
	out, res, err := File("p.yaml", src, defaults())
	if err != nil || res.Changed || !bytes.Equal(out, src) {
		t.Errorf("changed a pod without vault.hashicorp.com annotations (err %v)", err)
	}
}

// Keys that translate to nothing (only warned about) leave their comments below the
// annotations; found by FuzzMigrate (it used to index past the rewritten list).
func TestOnlyWarnedKeysKeepTheirComments(t *testing.T) {
	src := []byte("kind: Pod\nmetadata:\n  annotations:\n    # the agent image\n    vault.hashicorp.com/agent-image: x\n")
	out, res, err := File("p.yaml", src, defaults())
	if err != nil || !res.Changed || len(res.Warnings) != 1 {
		t.Fatalf("err %v, changed %v, warnings %q", err, res.Changed, res.Warnings)
	}
	if !bytes.Contains(out, []byte("# the agent image")) || bytes.Contains(out, []byte("vault.hashicorp.com")) {
		t.Errorf("output:\n%s", out)
	}
}

// TestMigrateRefusesWhatAdmissionWouldRefuse: a document whose translation the webhook would
// refuse is left as it was, with the refusal naming the vault.hashicorp.com key it came from;
// the other documents of the file are still migrated (the command then writes nothing); the
// injection settings decide, as at admission.
func TestMigrateRefusesWhatAdmissionWouldRefuse(t *testing.T) {
	pod := func(ann string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    vault.hashicorp.com/agent-inject: \"true\"\n    vault.hashicorp.com/role: app\n" +
			ann + "spec:\n  containers: [{name: app, image: app:1}]\n"
	}
	secret := "    vault.hashicorp.com/agent-inject-secret-db: secret/data/db\n"
	for _, c := range []struct{ name, ann, want string }{
		{"http service", secret + "    vault.hashicorp.com/service: http://vault:8200\n", "(from vault.hashicorp.com/service)"},
		{"unknown container", secret + "    vault.hashicorp.com/agent-inject-containers: nope\n", "(from vault.hashicorp.com/agent-inject-containers)"},
		{"no secret", "", "(from vault.hashicorp.com/agent-inject)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			good := pod(secret)
			src := []byte(good + "---\n" + pod(c.ann))
			out, res, err := File("f.yaml", src, defaults())
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Problems) != 1 || !strings.Contains(res.Problems[0], "the webhook would refuse") || !strings.Contains(res.Problems[0], c.want) {
				t.Fatalf("problems %q, want one refusal naming %q", res.Problems, c.want)
			}
			if !strings.HasSuffix(string(out), "---\n"+pod(c.ann)) {
				t.Errorf("the refused document changed:\n%s", out)
			}
			if strings.Contains(strings.SplitN(string(out), "---\n", 2)[0], vaultk8s.Prefix) {
				t.Errorf("the admissible document was not migrated:\n%s", out)
			}
		})
	}
	d := defaults()
	d.AllowHTTPVault = true
	if _, res, err := File("f.yaml", []byte(pod(secret+"    vault.hashicorp.com/service: http://vault:8200\n")), d); err != nil || len(res.Problems) > 0 {
		t.Errorf("with http Vault allowed: err %v, problems %q", err, res.Problems)
	}
}
