package mutate

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/vault-injector/vault-injector/contract"
)

var signalAnnotations = map[string]string{contract.AnnotationReloadSignal: "SIGHUP", contract.AnnotationReloadProcess: "nginx"}

func withUIDs(p *corev1.Pod, pod *int64, containers ...*int64) *corev1.Pod {
	if pod != nil {
		p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: pod}
	}
	for i, u := range containers {
		if u != nil {
			p.Spec.Containers[i].SecurityContext = &corev1.SecurityContext{RunAsUser: u}
		}
	}
	return p
}

// TestReloadSignalNeedsTheAppUID: the webhook refuses, saying why, a reload-signal pod whose
// app UID it cannot know or the agent may not take.
func TestReloadSignalNeedsTheAppUID(t *testing.T) {
	for _, tt := range []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"no runAsUser", testPod(signalAnnotations, "app"), `container app has no runAsUser`},
		{"root", withUIDs(testPod(signalAnnotations, "app"), ptr.To[int64](0)), "runs as root"},
		{"two UIDs", withUIDs(testPod(signalAnnotations, "app", "side"), nil, ptr.To[int64](101), ptr.To[int64](102)),
			"app as 101; side as 102): set " + contract.AnnotationContainers},
		{"process namespace off", func() *corev1.Pod {
			p := withUIDs(testPod(signalAnnotations, "app"), ptr.To[int64](101))
			p.Spec.ShareProcessNamespace = ptr.To(false)
			return p
		}(), "shareProcessNamespace: false"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Pod(tt.pod, testDefaults())
			var d *Denial
			if !errors.As(err, &d) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), contract.AnnotationReloadSignal) {
				t.Fatalf("Pod = %v; want a denial naming %s and saying %q", err, contract.AnnotationReloadSignal, tt.want)
			}
			if tt.name != "process namespace off" && !strings.Contains(err.Error(), "CAP_KILL") {
				t.Errorf("the refusal does not say why the UID matters: %v", err)
			}
		})
	}
}

func TestReloadSignalRunsAsTheApp(t *testing.T) {
	// Only the selected container counts: side runs as another UID but gets no secrets.
	a := map[string]string{contract.AnnotationContainers: "app"}
	for k, v := range signalAnnotations {
		a[k] = v
	}
	p := withUIDs(testPod(a, "app", "side"), ptr.To[int64](1000), nil, ptr.To[int64](7))
	res, err := Pod(p, testDefaults())
	if err != nil {
		t.Fatal(err)
	}
	var share, agentUID bool
	for _, op := range res.Patch {
		if op.Path == "/spec/shareProcessNamespace" && *op.Value.(*bool) {
			share = true
		}
		if c, ok := op.Value.([]corev1.Container); ok && op.Path == "/spec/initContainers" {
			agentUID = *c[0].SecurityContext.RunAsUser == 1000
		}
	}
	if !share || !agentUID {
		t.Fatalf("shareProcessNamespace added: %v; agent runs as the app's UID 1000: %v", share, agentUID)
	}
}

func TestReloadIgnoredInitOnly(t *testing.T) {
	a := map[string]string{contract.AnnotationMode: contract.ModeInitOnly, contract.AnnotationReloadHTTP: "http://127.0.0.1:8080/reload"}
	res, err := Pod(testPod(a, "app"), testDefaults())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), contract.AnnotationReloadHTTP+" is ignored") {
		t.Errorf("warnings %q", res.Warnings)
	}
	for _, op := range res.Patch {
		if op.Path == "/spec/shareProcessNamespace" {
			t.Error("shareProcessNamespace added for an init-only agent")
		}
		if s, ok := op.Value.(string); ok && strings.Contains(s, `"reload"`) {
			t.Error("an init-only agent got a reload config")
		}
	}
}

func TestAgentMetricsDefaults(t *testing.T) {
	for _, tt := range []struct {
		mode string
		port int
		want string
	}{
		{AgentMetricsLoopback, 0, ""},
		{AgentMetricsOff, 9102, ""},
		{AgentMetricsPod, 9102, ""},
		{AgentMetricsPod, 0, "--agent-metrics=pod needs --agent-metrics-port"},
		{"cluster", 9102, `agent metrics "cluster" is invalid`},
	} {
		d := testDefaults()
		d.AgentMetrics, d.AgentMetricsPort = tt.mode, tt.port
		err := d.Validate()
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s/%d: %v, want %q", tt.mode, tt.port, err, tt.want)
		}
	}
	// off wins over a port: no endpoint, no port.
	d := testDefaults()
	d.AgentMetrics, d.AgentMetricsPort = AgentMetricsOff, 9102
	res, err := Pod(testPod(nil, "app"), d)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range res.Patch {
		if s, ok := op.Value.(string); ok && strings.Contains(s, "metricsPort") {
			t.Errorf("--agent-metrics=off still configures a port: %s", s)
		}
	}
}
