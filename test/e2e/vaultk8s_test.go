package e2e

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/stack"
	"github.com/vault-injector/vault-injector/test/testbin"
	"github.com/vault-injector/vault-injector/test/vaultagent"
)

// vault-k8s' default templates (agent-inject/agent/config.go), for the reference render.
const (
	vkMap  = "{{ with secret \"secret/data/e2e/vaultk8s\" }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}"
	vkJSON = "{{ with secret \"secret/data/e2e/vaultk8s\" }}{{ .Data | toJSON }}\n{{ end }}"
	vkEnv  = `{{- with secret "secret/data/e2e/vaultk8s" -}}
{{ range $k, $v := .Data.data }}export {{ $k }}="{{ $v }}"
{{ end }}{{- end }}`
)

// catFiles prints each file's mode and base64 content between markers, so the test compares
// bytes, trailing newlines included.
func catFiles(files ...string) string {
	var b strings.Builder
	b.WriteString("set -e\n")
	for _, f := range files {
		p := "/vault/secrets/" + f
		b.WriteString(`echo "<` + f + ` mode=$(stat -L -c %a ` + p + `)>$(base64 ` + p + ` | tr -d '\n')</` + f + `>"` + "\n")
	}
	b.WriteString("echo DONE\n")
	return b.String()
}

// Scenario: pods annotated for HashiCorp's vault-k8s, unchanged, get exactly the files Vault
// Agent 1.21 renders for the same templates (the reference is rendered here with the real
// `vault agent`, as vault-k8s' init container runs it): the default `map` template of a KV v2
// secret in a Deployment, the `json` default template and a custom range template in another,
// and an init-only Job (agent-pre-populate-only).
func TestVaultK8sAnnotatedPods(t *testing.T) {
	ctx, ns := scenario(t, "vaultk8s", 5*time.Minute)
	data := map[string]any{"user": "app", "password": `p&ss<w>rd "q" $x`, "port": 5432, "nested": map[string]any{"a": "b"}}
	if err := st.WriteSecret(ctx, "vaultk8s", data); err != nil {
		t.Fatal(err)
	}
	want, wantModes := referenceFiles(ctx, t, map[string]vaultagent.Template{
		"config.txt": {File: "config.txt", Contents: vkMap},
		"data.json":  {File: "data.json", Contents: vkJSON},
		"env":        {File: "env", Contents: vkEnv, Perms: "0400"},
	})

	vk := func(kv ...string) map[string]string {
		a := map[string]string{"vault.hashicorp.com/agent-inject": "true", "vault.hashicorp.com/role": stack.Role}
		for i := 0; i+1 < len(kv); i += 2 {
			a["vault.hashicorp.com/"+kv[i]] = kv[i+1]
		}
		return a
	}
	t.Run("map", func(t *testing.T) {
		ann := vk("agent-inject-secret-config.txt", "secret/data/e2e/vaultk8s")
		pod := deploy(ctx, t, ns, "vk-map", template("vk-map", ann, catFiles("config.txt")+"exec sleep 3600"))
		checkInjected(t, pod)
		compareFiles(t, waitLog(ctx, t, ns, pod.Name, "app", "DONE"), want, wantModes, "config.txt")
	})
	t.Run("json and custom template", func(t *testing.T) {
		ann := vk("agent-inject-default-template", "json", "agent-inject-secret-data.json", "secret/data/e2e/vaultk8s",
			"agent-inject-secret-env", "secret/data/e2e/vaultk8s", "agent-inject-template-env", vkEnv, "agent-inject-perms-env", "0400")
		pod := deploy(ctx, t, ns, "vk-json", template("vk-json", ann, catFiles("data.json", "env")+"exec sleep 3600"))
		checkInjected(t, pod)
		compareFiles(t, waitLog(ctx, t, ns, pod.Name, "app", "DONE"), want, wantModes, "data.json", "env")
	})
	t.Run("init-only job", func(t *testing.T) {
		ann := vk("agent-pre-populate-only", "true", "agent-inject-secret-config.txt", "secret/data/e2e/vaultk8s")
		job(ctx, t, ns, "vk-job", template("vk-job", ann, catFiles("config.txt")))
		pods, err := st.Cluster.Clientset().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=vk-job"})
		if err != nil || len(pods.Items) != 1 {
			t.Fatalf("job pods: %v (%d)", err, len(pods.Items))
		}
		pod := pods.Items[0]
		checkInjected(t, &pod)
		if len(pod.Spec.InitContainers) != 1 || pod.Spec.InitContainers[0].Name != contract.AgentInitContainer || pod.Spec.InitContainers[0].RestartPolicy != nil {
			t.Errorf("init containers %v, want only the init-only agent", names(pod.Spec.InitContainers))
		}
		compareFiles(t, waitLog(ctx, t, ns, pod.Name, "app", "DONE"), want, wantModes, "config.txt")
	})
	t.Run("token, read-write volume, init containers", func(t *testing.T) {
		checkDropIn(ctx, t, ns, vk("agent-inject-secret-config.txt", "secret/data/e2e/vaultk8s",
			"agent-inject-token", "true", "agent-inject-containers", "app"), want, wantModes)
	})
	t.Run("refused at admission", func(t *testing.T) {
		for name, c := range map[string]struct {
			ann  map[string]string
			want []string
		}{
			"vk-command": {vk("agent-inject-secret-db", "secret/data/e2e/vaultk8s", "agent-inject-command-db", "pkill -HUP app"),
				[]string{"denied the request", "vault.hashicorp.com/agent-inject-command-db", "reload-http"}},
			"vk-mixed": {func() map[string]string {
				a := vk("agent-inject-secret-db", "secret/data/e2e/vaultk8s")
				a[contract.AnnotationSecretPrefix+"db"] = "secret/data/e2e/vaultk8s"
				return a
			}(), []string{"denied the request", "mixes", contract.AnnotationSecretPrefix + "db"}},
		} {
			_, err := st.Cluster.Clientset().CoreV1().Pods(ns).Create(ctx, podFromTemplate(name, template(name, c.ann, "sleep 1")), metav1.CreateOptions{})
			for _, w := range c.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("%s: creation error %v, want one containing %q", name, err, w)
				}
			}
		}
	})
}

// referenceFiles renders the templates with the real Vault Agent, logged in with a token of
// the policy the pods' role has, and returns each file's content and octal mode.
func referenceFiles(ctx context.Context, t *testing.T, templates map[string]vaultagent.Template) (map[string]string, map[string]string) {
	t.Helper()
	tok, err := st.VaultAPI.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: []string{stack.Policy}, TTL: "10m"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(tok.Auth.ClientToken), 0o600); err != nil {
		t.Fatal(err)
	}
	var list []vaultagent.Template
	for _, tm := range templates {
		list = append(list, tm)
	}
	out := filepath.Join(dir, "out")
	if err := vaultagent.Render(ctx, testbin.Must(t, "vault"), st.Vault.Addr, tokenFile, out, list); err != nil {
		t.Fatal(err)
	}
	files, modes := map[string]string{}, map[string]string{}
	for name := range templates {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name], modes[name] = string(b), strconv.FormatUint(uint64(fi.Mode().Perm()), 8)
	}
	return files, modes
}

func checkInjected(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	if pod.Annotations[contract.AnnotationStatus] != contract.StatusInjected {
		t.Errorf("pod %s was not injected by vault-injector (annotations %v)", pod.Name, pod.Annotations)
	}
}

// compareFiles checks what the app printed (catFiles) against Vault Agent's files and modes.
func compareFiles(t *testing.T, log string, want, modes map[string]string, files ...string) {
	t.Helper()
	for _, f := range files {
		mode := modes[f]
		body := between(log, "<"+f+" mode=", "</"+f+">")
		gotMode, b64, ok := strings.Cut(body, ">")
		if !ok {
			t.Errorf("%s: not printed; log:\n%s", f, log)
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if string(got) != want[f] {
			t.Errorf("%s: the pod's file is not what Vault Agent 1.21 renders:\n got %q\nwant %q", f, got, want[f])
		}
		if gotMode != mode {
			t.Errorf("%s: mode %s, want %s (Vault Agent's)", f, gotMode, mode)
		}
	}
	t.Logf("compared %d files with Vault Agent's", len(files))
}

// checkDropIn runs what vault-k8s tutorials do with a pod: an init container of the pod's own
// reads a secret (vault-k8s mounts every init container, whatever agent-inject-containers
// says), the app writes into the secrets volume (vault-k8s mounts it read-write) and reads the
// agent's Vault token from <volume>/token (agent-inject-token), which must be a live token of
// the pod's role.
func checkDropIn(ctx context.Context, t *testing.T, ns string, ann map[string]string, want, wantModes map[string]string) {
	t.Helper()
	tmpl := template("vk-dropin", ann, `set -e; env > /vault/secrets/test; test -s /vault/secrets/test; echo wrote-into-volume; `+
		`echo "<token>$(base64 /vault/secrets/token | tr -d '\n')</token>"; `+catFiles("config.txt")+"exec sleep 3600")
	tmpl.Spec.InitContainers = []corev1.Container{{
		Name: "setup", Image: st.ToolboxImage.Ref(), ImagePullPolicy: corev1.PullNever, SecurityContext: restricted(),
		Command: []string{"sh", "-c", `test -s /vault/secrets/config.txt && echo setup-saw-secret`},
	}}
	pod := deploy(ctx, t, ns, "vk-dropin", tmpl)
	checkInjected(t, pod)
	log := waitLog(ctx, t, ns, pod.Name, "app", "DONE")
	if !strings.Contains(log, "wrote-into-volume") {
		t.Errorf("the app could not write into the secrets volume; log:\n%s", log)
	}
	compareFiles(t, log, want, wantModes, "config.txt")
	if setup := waitLog(ctx, t, ns, pod.Name, "setup", "setup-saw-secret"); !strings.Contains(setup, "setup-saw-secret") {
		t.Errorf("the pod's init container did not see the secret")
	}
	token, err := base64.StdEncoding.DecodeString(between(log, "<token>", "</token>"))
	if err != nil || len(token) == 0 {
		t.Fatalf("no token at /vault/secrets/token (%v)", err)
	}
	client, err := st.VaultAPI.Clone()
	if err != nil {
		t.Fatal(err)
	}
	client.SetToken(string(token))
	self, err := client.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		t.Fatalf("the token file does not hold a live Vault token: %v", err)
	}
	if policies, _ := self.TokenPolicies(); !slices.Contains(policies, stack.Policy) {
		t.Errorf("the token's policies are %v, want the role's %s", policies, stack.Policy)
	}
}
