package config

import (
	"flag"
	"io"
	"os"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// TestInstalledDefaultsAreTheBinaryDefaults holds the kustomize base's webhook arguments to
// the flags' own defaults, so the binary (and `webhook inject` without flags) behaves as the
// installed webhook. Only what cannot be a binary default may differ.
func TestInstalledDefaultsAreTheBinaryDefaults(t *testing.T) {
	b, err := os.ReadFile("../../manifests/base/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := yaml.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	cfg := New()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.BindInjection(fs)
	cfg.BindServer(fs)
	// Where the installed value necessarily differs from the binary's, and why.
	differs := map[string]func(string) bool{
		"vault-addr": func(v string) bool { return v == DefaultVaultAddr }, // required flag; the preview's placeholder
		"agent-image": func(v string) bool { // the release's tag
			return strings.HasPrefix(v, AgentImageRepository+":")
		},
		"namespace": func(v string) bool { return v == "$(POD_NAMESPACE)" },           // downward API
		"tls-dir":   func(v string) bool { return strings.HasPrefix(v, "/var/run/") }, // its own emptyDir
	}
	args := d.Spec.Template.Spec.Containers[0].Args
	if len(args) == 0 {
		t.Fatal("no webhook arguments in manifests/base/deployment.yaml")
	}
	for _, a := range args {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		f := fs.Lookup(name)
		if !ok || f == nil {
			t.Errorf("argument %q is not a --flag=value of the webhook", a)
			continue
		}
		if ok := differs[name]; ok != nil {
			if !ok(value) {
				t.Errorf("--%s=%s: not the expected installed value", name, value)
			}
			continue
		}
		parsed := New()
		pfs := flag.NewFlagSet("parsed", flag.ContinueOnError)
		parsed.BindInjection(pfs)
		parsed.BindServer(pfs)
		if err := pfs.Set(name, value); err != nil {
			t.Errorf("--%s=%s: %v", name, value, err)
			continue
		}
		if got := pfs.Lookup(name).Value.String(); got != f.DefValue {
			t.Errorf("the manifests pass --%s=%s but the binary's default is %q: make them one", name, value, f.DefValue)
		}
	}
}
