package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/images"
)

// reloadRefresh is the pods' refresh interval: a rotation must reach the app within it.
const reloadRefresh = 5 * time.Second

// reloadSlack covers what follows the refresh tick: the Vault read, the write, the notification.
const reloadSlack = 2 * time.Second

const agentMetricsPort = 9102

// Issue 13: the agent tells the app that its secrets changed, once per new generation and never
// for the first render or an unchanged refresh, by POST (reload-http) or by SIGHUP to the app's
// process (reload-signal), and its metrics are scraped from the pod IP over the cluster network.
func TestReload(t *testing.T) {
	ctx, ns := scenario(t, "reload", 8*time.Minute)
	if err := st.Cluster.BuildAndImport(ctx, images.ReloadApp()); err != nil {
		t.Fatal(err)
	}
	restartWebhook(t, "--agent-metrics=pod", "--agent-metrics-port="+strconv.Itoa(agentMetricsPort))
	t.Cleanup(func() { restartWebhook(t) })

	t.Run("http", func(t *testing.T) {
		pod := reloadScenario(ctx, t, ns, "reload-http", 65532, "reload-http", "http://127.0.0.1:8080/-/reload")
		metrics := scrape(ctx, t, fmt.Sprintf("http://%s:%d/metrics", pod.Status.PodIP, agentMetricsPort))
		for _, want := range []string{
			`vault_injector_agent_reloads_total{method="http",result="success"} 1`,
			`vault_injector_agent_reloads_total{method="file",result="success"} 2`,
			`vault_injector_agent_vault_request_duration_seconds_count{operation="login",status="200"} 1`,
			`vault_injector_agent_build_info{`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("the agent's metrics lack %q", want)
			}
		}
		if n := metricValue(t, metrics, `vault_injector_agent_renders_total{secret="value"}`); n < 3 {
			t.Errorf("renders_total{secret=value} = %v, want at least 3 (first render, unchanged refreshes, the rotation)", n)
		}
		if ttl := metricValue(t, metrics, "vault_injector_agent_token_ttl_seconds"); ttl <= 0 || ttl > 3600 {
			t.Errorf("token_ttl_seconds = %v, want within the role's TTL", ttl)
		}
		for _, v := range []string{"reload-http-first-7f3a", "reload-http-second-9c1d"} {
			if strings.Contains(metrics, v) {
				t.Errorf("the metrics carry the secret value %q", v)
			}
		}
	})

	t.Run("signal", func(t *testing.T) {
		// The app runs as UID 1000, not the agent's 65532: the agent must take the app's UID.
		pod := reloadScenario(ctx, t, ns, "reload-signal", 1000, "reload-signal", "SIGHUP", "reload-process", "reloadapp")
		if !ptr.Deref(pod.Spec.ShareProcessNamespace, false) {
			t.Error("the pod does not share its process namespace")
		}
		if uid := ptr.Deref(pod.Spec.InitContainers[0].SecurityContext.RunAsUser, 0); uid != 1000 {
			t.Errorf("the agent runs as UID %d, want the app's 1000", uid)
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			kv   []string
			uid  *int64
			want []string
		}{
			{"not-loopback", []string{"reload-http", "http://10.0.0.1:8080/reload"}, ptr.To[int64](65532),
				[]string{`vault-injector.io/reload-http="http://10.0.0.1:8080/reload"`, "not the pod's loopback"}},
			{"malformed", []string{"reload-http", "http//127.0.0.1:8080"}, ptr.To[int64](65532),
				[]string{`vault-injector.io/reload-http="http//127.0.0.1:8080"`, "use http://127.0.0.1:PORT/PATH"}},
			{"kill", []string{"reload-signal", "SIGKILL", "reload-process", "reloadapp"}, ptr.To[int64](65532),
				[]string{`vault-injector.io/reload-signal="SIGKILL"`, "not a reload signal"}},
			{"no-uid", []string{"reload-signal", "SIGHUP", "reload-process", "reloadapp"}, nil,
				[]string{"vault-injector.io/reload-signal", "has no runAsUser", "CAP_KILL"}},
		} {
			tmpl := template(tc.name, annotations(append([]string{"secret-value", "secret/e2e/x"}, tc.kv...)...), "sleep 1")
			tmpl.Spec.Containers[0].SecurityContext.RunAsUser = tc.uid
			_, err := st.Cluster.Clientset().CoreV1().Pods(ns).Create(ctx, podFromTemplate(tc.name, tmpl), metav1.CreateOptions{})
			if err == nil {
				t.Errorf("%s: the pod was admitted", tc.name)
				continue
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: the refusal lacks %q: %v", tc.name, w, err)
				}
			}
		}
	})
}

type appState struct {
	Value   string
	Reloads int
	Via     []string
}

// reloadScenario runs the reload app with the given reload annotations, checks that neither
// the first render nor unchanged refreshes notify it, rotates its secret in Vault, and checks
// that it is notified once, within one refresh period, and then serves the new value.
func reloadScenario(ctx context.Context, t *testing.T, ns, name string, uid int64, kv ...string) *corev1.Pod {
	t.Helper()
	first, second := name+"-first-7f3a", name+"-second-9c1d"
	if err := st.WriteSecret(ctx, name, map[string]any{"value": first}); err != nil {
		t.Fatal(err)
	}
	ann := annotations(append([]string{"refresh", reloadRefresh.String(), "secret-value", "secret/e2e/" + name, "format-value", "raw:value"}, kv...)...)
	tmpl := template(name, ann, "")
	sc := restricted()
	sc.RunAsUser = ptr.To(uid)
	tmpl.Spec.Containers[0] = corev1.Container{
		Name: "app", Image: images.ReloadApp().Ref(), ImagePullPolicy: corev1.PullNever,
		Args:            []string{"--listen=:8080", "--file=/vault/secrets/value"},
		SecurityContext: sc,
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
			HTTPGet: &corev1.HTTPGetAction{Path: "/state", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
	}
	pod := deploy(ctx, t, ns, name, tmpl)
	if pod.Labels[contract.LabelInjected] != contract.LabelInjectedValue {
		t.Errorf("the pod lacks the label %s=%s: %v", contract.LabelInjected, contract.LabelInjectedValue, pod.Labels)
	}
	agent := pod.Spec.InitContainers[0]
	if len(agent.Ports) != 1 || agent.Ports[0].Name != contract.MetricsPortName || agent.Ports[0].ContainerPort != agentMetricsPort {
		t.Errorf("the agent's ports are %v, want %s on %d", agent.Ports, contract.MetricsPortName, agentMetricsPort)
	}
	base := fmt.Sprintf("http://%s:8080/state", pod.Status.PodIP)

	time.Sleep(2*reloadRefresh + time.Second) // unchanged refreshes
	if s := state(ctx, t, base); s.Value != first || s.Reloads != 0 {
		t.Fatalf("before the rotation the app has %+v; want %q and no reload\n%s", s, first, agentLog(ns, pod.Name))
	}

	if err := st.WriteSecret(ctx, name, map[string]any{"value": second}); err != nil {
		t.Fatal(err)
	}
	rotated := time.Now()
	var s appState
	for s = state(ctx, t, base); s.Reloads == 0; s = state(ctx, t, base) {
		if time.Since(rotated) > 4*reloadRefresh {
			t.Fatalf("no reload %s after the rotation\n%s", time.Since(rotated).Round(time.Second), agentLog(ns, pod.Name))
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(rotated)
	t.Logf("%s: the app was notified %s after the rotation (refresh %s)", name, took.Round(10*time.Millisecond), reloadRefresh)
	if took > reloadRefresh+reloadSlack {
		t.Errorf("the app was notified %s after the rotation, more than one refresh period (%s) plus %s", took, reloadRefresh, reloadSlack)
	}
	if s.Value != second {
		t.Errorf("after the reload the app serves %q, want %q", s.Value, second)
	}
	time.Sleep(2*reloadRefresh + time.Second) // more unchanged refreshes
	s = state(ctx, t, base)
	method := "http"
	if slices.Contains(kv, "reload-signal") {
		method = "signal"
	}
	if s.Reloads != 1 || !slices.Equal(s.Via, []string{method}) {
		t.Errorf("the app was told %d times (%v), want once by %s\n%s", s.Reloads, s.Via, method, agentLog(ns, pod.Name))
	}
	waitLog(ctx, t, ns, pod.Name, "app", "READ reloads=1 via="+method+" value="+second)
	if l := waitLog(ctx, t, ns, pod.Name, contract.AgentContainer, `"msg":"app notified of new secrets"`); !strings.Contains(l, `"method":"`+method+`"`) {
		t.Errorf("the agent's notification log line does not name %s:\n%s", method, l)
	}
	return pod
}

func state(ctx context.Context, t *testing.T, url string) appState {
	t.Helper()
	var s appState
	call(ctx, t, url, nil, &s)
	return s
}

func scrape(ctx context.Context, t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping %s: %s %v", url, resp.Status, err)
	}
	return string(b)
}

func metricValue(t *testing.T, body, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the metrics lack %s", series)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
