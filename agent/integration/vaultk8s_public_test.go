package integration

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"text/template"
	"text/template/parse"

	"github.com/hashicorp/vault/api"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/testbin"
	"github.com/vault-injector/vault-injector/test/vaultagent"
	corpus "github.com/vault-injector/vault-injector/test/vaultk8s-corpus"
	"github.com/vault-injector/vault-injector/webhook/mutate"
)

// rendered is one corpus file both agents render.
type rendered struct {
	pod  string // corpus file and template
	file string // under both output directories
	pki  bool
}

// TestVaultK8sPublicCorpusRenders renders the secrets of every pod template of the public
// corpus that admission accepts, twice against one dev Vault: with the real Vault Agent given
// the templates vault-k8s would give it (the annotation's template, else vault-k8s' default
// map or json template; corpus.Secrets, not our translator), and with our agent given the
// secrets of the agent config the webhook wrote into the patched pod. Every file must be byte
// for byte the same with the same mode; a PKI file must have the same layout, its certificate
// and key from one issue. Vault is seeded from the templates: KV v1 or v2 at each path's mount
// with the keys the templates read, PKI with a role for pki/issue paths; a path needing an
// engine not seeded here (database, aws, ...) makes its file not renderable, logged with why.
func TestVaultK8sPublicCorpusRenders(t *testing.T) {
	files, err := corpus.Load("../../test/vaultk8s-corpus")
	if err != nil {
		t.Fatal(err)
	}
	d := mutate.NewDefaults()
	d.VaultAddr, d.AgentImage = "https://vault.example.com:8200", "registry.example.com/agent:v1"
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	s := newSeeder(t)
	var refs []vaultagent.Template
	var ours []contract.Secret
	var both []rendered
	var skipped []string
	pods := 0
	for _, f := range files {
		for _, tmpl := range f.Templates {
			where := filepath.Base(f.Path) + " " + tmpl.Where
			cfg := admitted(t, tmpl.Pod, d)
			if cfg == nil {
				continue // refused or skipped: TestVaultK8sPublicCorpus counts it
			}
			pods++
			byFile := map[string]contract.Secret{}
			for _, sec := range cfg.Secrets {
				byFile[sec.File] = sec
			}
			prefix := fmt.Sprintf("p%02d", pods)
			for _, v := range corpus.Secrets(tmpl.Annotations) {
				ref, why := referenceTemplate(tmpl.Annotations, v)
				if why == "" {
					why = s.plan(ref)
				}
				if why != "" {
					skipped = append(skipped, where+" "+v.File+": "+why)
					continue
				}
				sec, ok := byFile[v.File]
				if !ok {
					t.Errorf("%s: vault-k8s renders %s, the agent config has no such file", where, v.File)
					continue
				}
				file := prefix + "/" + v.File
				refs = append(refs, vaultagent.Template{File: file, Contents: ref, Perms: v.Perms})
				sec.Name, sec.File = prefix+"-"+sec.Name, file
				ours = append(ours, sec)
				both = append(both, rendered{pod: where, file: file, pki: s.pki(ref)})
			}
		}
	}
	if len(both) == 0 {
		t.Fatal("no corpus file to render")
	}
	e := newEnv(t)
	s.seed(e)
	refDir := filepath.Join(e.dir, "reference")
	if err := vaultagent.Render(context.Background(), testbin.Must(t, "vault"), e.vs.Addr, e.tokenFile, refDir, refs); err != nil {
		t.Fatal(err)
	}
	cfg := e.config(ours...)
	if code, logs, stderr := e.runOnce(cfg); code != 0 {
		t.Fatalf("our agent: exit %d, stderr %q\nlogs:\n%s", code, stderr, logs)
	}
	pkiFiles := 0
	for _, r := range both {
		refFile, ourFile := filepath.Join(refDir, r.file), filepath.Join(cfg.SecretsDir, r.file)
		want, got := readFile(t, refFile), readFile(t, ourFile)
		if r.pki {
			pkiFiles++
			if a, b := pemSummary(t, want)+" "+shape(want), pemSummary(t, got)+" "+shape(got); a != b {
				t.Errorf("%s (%s): PKI layouts differ:\n ours %s\n Vault Agent's %s", r.pod, r.file, b, a)
			}
		} else if got != want {
			t.Errorf("%s (%s): not what Vault Agent writes\n got %q\nwant %q", r.pod, r.file, got, want)
		}
		refSt, _ := os.Stat(refFile)
		ourSt, _ := os.Stat(ourFile)
		if refSt.Mode().Perm() != ourSt.Mode().Perm() {
			t.Errorf("%s (%s): mode %v, Vault Agent's %v", r.pod, r.file, ourSt.Mode().Perm(), refSt.Mode().Perm())
		}
	}
	for _, dir := range []string{refDir, cfg.SecretsDir} {
		oneIssue(t, dir, both)
	}
	sort.Strings(skipped)
	t.Logf("%d files of %d accepted pod templates compared with Vault Agent's (%d PKI); %d not renderable here:\n%s",
		len(both), pods, pkiFiles, len(skipped), strings.Join(skipped, "\n"))
}

// admitted runs a pod through admission and returns the agent config of the patched pod, or
// nil when the pod is refused or left alone.
func admitted(t *testing.T, raw []byte, d mutate.Defaults) *contract.Config {
	t.Helper()
	pod, err := mutate.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	res, err := mutate.Pod(pod, d)
	if err != nil || res.Skipped != "" {
		return nil
	}
	patched, err := mutate.Apply(raw, res.Patch)
	if err != nil {
		t.Fatal(err)
	}
	after, err := mutate.Decode(patched)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := contract.Parse([]byte(after.Annotations[contract.AnnotationAgentConfig]))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// referenceTemplate is the template vault-k8s gives Vault Agent for v (config.go,
// newTemplateConfigs), or why this test cannot hand it to Vault Agent.
func referenceTemplate(ann map[string]string, v corpus.Secret) (string, string) {
	for _, k := range []string{"agent-inject-template-left-delim", "agent-inject-template-right-delim", "error-on-missing-key"} {
		if _, ok := ann[corpus.Prefix+k+"-"+v.Raw]; ok {
			return "", k + ": vaultagent.Render has no such option"
		}
	}
	switch {
	case v.Template != "":
		return v.Template, ""
	case v.TemplateFile != "":
		return "", "agent-inject-template-file: the template is a file of the app's volumes, not in the corpus"
	case strings.ToLower(ann[corpus.Prefix+"agent-inject-default-template"]) == "json":
		return sprintf(refJSON, v.Path), ""
	default:
		return sprintf(refMap, v.Path), ""
	}
}

// seeder gives Vault what the corpus templates read: a mount per path, and at each path the
// keys the templates read (plus username and password, for templates that range over them).
type seeder struct {
	t      *testing.T
	kv     map[string]int // mount → KV version
	data   map[kvPath]map[string]any
	roles  map[string]bool // pki roles
	issued map[string]bool // templates that call pki/issue
}

func newSeeder(t *testing.T) *seeder {
	return &seeder{t: t, kv: map[string]int{"secret": 2},
		data: map[kvPath]map[string]any{}, roles: map[string]bool{}, issued: map[string]bool{}}
}

// kvPath is a KV secret: its mount and its path below the mount (without data/).
type kvPath struct{ mount, rest string }

// engines not seeded here: a path on one of these mounts, or any path reading creds/, is not
// renderable.
var engines = map[string]bool{"database": true, "aws": true, "gcp": true, "azure": true, "consul": true,
	"rabbitmq": true, "transit": true, "ssh": true, "totp": true, "kubernetes": true, "ldap": true}

// plan records what the template reads, or says why it cannot be seeded.
func (s *seeder) plan(tmpl string) string {
	reads, err := templateReads(tmpl)
	if err != nil {
		return err.Error()
	}
	type kvPlan struct {
		kvPath
		version int // the KV version the template implies; 0: none
		keys    []string
	}
	var plans []kvPlan
	for _, r := range reads {
		segs := strings.Split(r.path, "/")
		switch {
		case len(segs) == 3 && segs[0] == "pki" && segs[1] == "issue":
			s.issued[tmpl] = true
			s.roles[segs[2]] = true
			continue
		case engines[segs[0]] || strings.Contains("/"+r.path+"/", "/creds/"):
			return fmt.Sprintf("%s needs a secrets engine not seeded here", r.path)
		case len(segs) < 2:
			return fmt.Sprintf("%s: no mount", r.path)
		}
		p := kvPlan{kvPath: kvPath{segs[0], strings.Join(segs[1:], "/")}, keys: r.keys}
		for i := 1; i < len(segs)-1; i++ {
			if segs[i] == "data" {
				p.kvPath, p.version = kvPath{strings.Join(segs[:i], "/"), strings.Join(segs[i+1:], "/")}, 2
				break
			}
		}
		if r.kv2 {
			p.version = 2
		}
		if v, ok := s.kv[p.mount]; ok && p.version != 0 && v != p.version {
			return fmt.Sprintf("%s: mount %s is read as KV v%d elsewhere in the corpus", r.path, p.mount, v)
		}
		plans = append(plans, p)
	}
	for _, p := range plans {
		if p.version != 0 {
			s.kv[p.mount] = p.version
		}
		if s.data[p.kvPath] == nil {
			s.data[p.kvPath] = map[string]any{"username": "app-user", "password": `p&ss<w>rd'"`}
		}
		for _, k := range p.keys {
			s.data[p.kvPath][k] = "v:" + k + " <&>"
		}
	}
	return ""
}

func (s *seeder) pki(tmpl string) bool { return s.issued[tmpl] }

// seed enables the mounts, writes the data and gives the agents' token a policy for it all.
func (s *seeder) seed(e *env) {
	ctx := context.Background()
	root := e.vs.MustClient(s.t)
	for p := range s.data {
		// A mount no template says the version of: KV v1.
		s.kv[p.mount] = max(s.kv[p.mount], 1)
	}
	for mount, v := range s.kv {
		if mount == "secret" {
			continue // the dev server's KV v2
		}
		if err := root.Sys().Mount(mount, &api.MountInput{Type: "kv", Options: map[string]string{"version": fmt.Sprint(v)}}); err != nil {
			s.t.Fatalf("mounting %s: %v", mount, err)
		}
	}
	for p, data := range s.data {
		var err error
		if s.kv[p.mount] == 2 {
			_, err = root.KVv2(p.mount).Put(ctx, p.rest, data)
		} else {
			_, err = root.Logical().Write(p.mount+"/"+p.rest, data)
		}
		if err != nil {
			s.t.Fatalf("writing %s/%s: %v", p.mount, p.rest, err)
		}
	}
	if len(s.roles) > 0 {
		if err := root.Sys().Mount("pki", &api.MountInput{Type: "pki", Config: api.MountConfigInput{MaxLeaseTTL: "8760h"}}); err != nil {
			s.t.Fatal(err)
		}
		if _, err := root.Logical().Write("pki/root/generate/internal", map[string]any{"common_name": "Corpus Root", "ttl": "8760h"}); err != nil {
			s.t.Fatal(err)
		}
		for role := range s.roles {
			if _, err := root.Logical().Write("pki/roles/"+role, map[string]any{"allow_any_name": true, "max_ttl": "8760h"}); err != nil {
				s.t.Fatal(err)
			}
		}
	}
	var policy strings.Builder
	for mount := range s.kv {
		fmt.Fprintf(&policy, "path %q { capabilities = [\"read\"] }\n", mount+"/*")
	}
	policy.WriteString(`path "pki/issue/*" { capabilities = ["update"] }` + "\n")
	e.seedToken(policy.String())
}

// read is a secret call of a template: its path, the keys read from it, and whether they are
// read the KV v2 way (.Data.data.<key>).
type read struct {
	path string
	keys []string
	kv2  bool
}

// templateReads finds the `secret` and `pkiCert` calls of tmpl, each with the fields read from
// the secret inside its `with` block: .Data.<key> or .Data.data.<key>, and index .Data(.data) "key".
func templateReads(tmpl string) ([]read, error) {
	stubs := template.FuncMap{}
	for _, name := range contract.TemplateFuncs {
		stubs[name] = func(...any) (any, error) { return nil, nil }
	}
	t, err := template.New("").Funcs(stubs).Parse(tmpl)
	if err != nil {
		return nil, fmt.Errorf("not a template: %w", err)
	}
	var reads []read
	contract.WalkTemplates(t, func(n parse.Node) {
		w, ok := n.(*parse.WithNode)
		if !ok || len(w.Pipe.Cmds) == 0 || len(w.Pipe.Cmds[0].Args) < 2 {
			return
		}
		args := w.Pipe.Cmds[0].Args
		fn, ok1 := args[0].(*parse.IdentifierNode)
		p, ok2 := args[1].(*parse.StringNode)
		if !ok1 || !ok2 || fn.Ident != "secret" && fn.Ident != "pkiCert" {
			return
		}
		r := read{path: strings.Trim(p.Text, "/")}
		contract.WalkTemplate(w.List, func(n parse.Node) {
			var chain []string
			switch x := n.(type) {
			case *parse.FieldNode:
				chain = x.Ident
			case *parse.CommandNode:
				// index .Data "key" / index .Data.data "key"
				if len(x.Args) == 3 {
					id, _ := x.Args[0].(*parse.IdentifierNode)
					f, _ := x.Args[1].(*parse.FieldNode)
					k, _ := x.Args[2].(*parse.StringNode)
					if id != nil && id.Ident == "index" && f != nil && k != nil {
						chain = append(append([]string{}, f.Ident...), k.Text)
					}
				}
			}
			switch {
			case len(chain) >= 3 && chain[0] == "Data" && chain[1] == "data":
				r.keys, r.kv2 = append(r.keys, chain[2]), true
			case len(chain) == 2 && chain[0] == "Data" && chain[1] == "data":
				r.kv2 = true
			case len(chain) >= 2 && chain[0] == "Data" && chain[1] != "metadata":
				r.keys = append(r.keys, chain[1])
			}
		})
		reads = append(reads, r)
	})
	return reads, nil
}

// oneIssue checks, per pod template, that the PKI files one agent wrote hold one issue: the
// private key found in them belongs to the first certificate found in them.
func oneIssue(t *testing.T, dir string, files []rendered) {
	t.Helper()
	certs, keys := map[string][]byte{}, map[string][]byte{}
	for _, r := range files {
		if !r.pki {
			continue
		}
		rest := []byte(readFile(t, filepath.Join(dir, r.file)))
		for {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			switch {
			case b.Type == "CERTIFICATE" && certs[r.pod] == nil:
				certs[r.pod] = pem.EncodeToMemory(b)
			case strings.HasSuffix(b.Type, "PRIVATE KEY") && keys[r.pod] == nil:
				keys[r.pod] = pem.EncodeToMemory(b)
			}
		}
	}
	for pod, key := range keys {
		if _, err := tls.X509KeyPair(certs[pod], key); err != nil {
			t.Errorf("%s in %s: the key is not the certificate's (two issues?): %v", pod, dir, err)
		}
	}
}
