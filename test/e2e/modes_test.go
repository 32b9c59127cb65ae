package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-injector/vault-injector/contract"
)

// Scenario 3: Jobs complete, with the init-only agent and with the native sidecar (which the
// kubelet stops once the Job's container is done).
func TestJobs(t *testing.T) {
	ctx, ns := scenario(t, "jobs", 4*time.Minute)
	if err := st.WriteSecret(ctx, "jobs", map[string]any{"token": "job-token"}); err != nil {
		t.Fatal(err)
	}
	const script = `test "$(cat /vault/secrets/token)" = job-token`
	for name, mode := range map[string]string{"init-only": contract.ModeInitOnly, "sidecar": contract.ModeSidecar} {
		t.Run(name, func(t *testing.T) {
			ann := annotations("mode", mode, "secret-token", "secret/e2e/jobs", "format-token", "raw:token")
			job(ctx, t, ns, "job-"+name, template("job-"+name, ann, script))
		})
	}
}

// Scenario 4: classic mode (init container + regular sidecar) logs in to Vault exactly once:
// the sidecar reuses the token the init container handed over.
func TestClassicModeLogsInOnce(t *testing.T) {
	ctx, ns := scenario(t, "classic", 4*time.Minute)
	restartWebhook(t, "--sidecar=classic")
	t.Cleanup(func() { restartWebhook(t) })
	if err := st.WriteSecret(ctx, "classic", map[string]any{"v": "gen-1"}); err != nil {
		t.Fatal(err)
	}
	pod := deploy(ctx, t, ns, "classic", template("classic", rotationAnnotations("classic"), readerLoop))
	if !hasContainer(pod.Spec.InitContainers, contract.AgentInitContainer) || !hasContainer(pod.Spec.Containers, contract.AgentContainer) {
		t.Fatalf("not injected in classic mode: init %v, containers %v", names(pod.Spec.InitContainers), names(pod.Spec.Containers))
	}
	waitLog(ctx, t, ns, pod.Name, "app", "SAW gen-1 ")
	// The sidecar has run through a few refreshes by the time gen-2 shows.
	if err := st.WriteSecret(ctx, "classic", map[string]any{"v": "gen-2"}); err != nil {
		t.Fatal(err)
	}
	waitLog(ctx, t, ns, pod.Name, "app", "SAW gen-2 ")
	if n := auditCount(t, "auth/kubernetes/login", ns); n != 1 {
		t.Errorf("%d Vault logins from namespace %s, want exactly 1\n%s", n, ns, agentLog(ns, pod.Name))
	}
}

func restartWebhook(t *testing.T, flags ...string) {
	t.Helper()
	if err := st.Webhook.Stop(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := st.Webhook.Start(ctx, flags...); err != nil {
		t.Fatal(err)
	}
}

func hasContainer(cs []corev1.Container, name string) bool {
	for _, c := range cs {
		if c.Name == name {
			return true
		}
	}
	return false
}

func names(cs []corev1.Container) []string {
	var n []string
	for _, c := range cs {
		n = append(n, c.Name)
	}
	return n
}

// auditCount counts successful responses on a Vault path for tokens of service accounts in
// namespace ns, from Vault's file audit log (written raw by the stack's test Vault).
func auditCount(t *testing.T, path, ns string) int {
	t.Helper()
	f, err := os.Open(st.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type entry struct {
		Type  string `json:"type"`
		Error string `json:"error"`
		Auth  struct {
			Metadata map[string]string `json:"metadata"`
		} `json:"auth"`
		Request struct {
			Path string `json:"path"`
		} `json:"request"`
	}
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e entry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		if e.Type == "response" && e.Error == "" && e.Request.Path == path && e.Auth.Metadata["service_account_namespace"] == ns {
			n++
		}
	}
	return n
}

// Scenario 5: a role Vault does not know, and a path the policy forbids. The app never starts,
// and the agent's log has one line naming the path and Vault's answer.
func TestVaultRefusals(t *testing.T) {
	ctx, ns := scenario(t, "refusals", 4*time.Minute)
	cases := []struct {
		name            string
		ann             map[string]string
		path, vaultSays string
	}{
		{"bad-role", annotations("role", "no-such-role", "secret-a", "secret/e2e/refusals"), "auth/kubernetes/login", "invalid role name"},
		{"forbidden", annotations("secret-a", "secret/e2e-other/x"), "e2e-other/x", "permission denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := podFromTemplate(tc.name, template(tc.name, tc.ann, "echo STARTED; exec sleep 3600"))
			created, err := st.Cluster.Clientset().CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			log := waitLog(ctx, t, ns, created.Name, contract.AgentContainer, tc.vaultSays)
			if !oneLineHas(log, tc.path, tc.vaultSays) {
				t.Errorf("no single agent log line names both %q and %q:\n%s", tc.path, tc.vaultSays, log)
			}
			time.Sleep(3 * time.Second) // give a wrongly started app time to show
			got, err := st.Cluster.Clientset().CoreV1().Pods(ns).Get(ctx, created.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, cs := range got.Status.ContainerStatuses {
				if cs.Name == "app" && (cs.State.Running != nil || cs.State.Terminated != nil || cs.RestartCount > 0) {
					t.Errorf("the app started without its secrets: %+v", cs.State)
				}
			}
		})
	}
}

func oneLineHas(log string, parts ...string) bool {
	for _, line := range strings.Split(log, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}
