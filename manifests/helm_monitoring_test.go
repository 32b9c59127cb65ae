package manifests

import (
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestHelmMonitoring (issue 13): the PodMonitor and the webhook's ServiceMonitor are off by
// default, select what the webhook and the chart label, and --agent-metrics follows the values.
func TestHelmMonitoring(t *testing.T) {
	for _, o := range decode(t, renderChart(t, name, ns, nil)) {
		if k := o.U.GetKind(); k == "PodMonitor" || k == "ServiceMonitor" {
			t.Errorf("%s rendered by default", o.key())
		}
	}
	objs := decode(t, renderChart(t, "prod", "platform", map[string]any{
		"agent": map[string]any{"metrics": "pod", "metricsPort": 9102},
		"monitoring": map[string]any{
			"podMonitor":     map[string]any{"enabled": true, "labels": map[string]any{"release": "prom"}, "namespaces": []any{"shop"}},
			"serviceMonitor": map[string]any{"enabled": true, "interval": "15s"},
		},
	}))
	full := "prod-vault-injector"
	f := flags(t, webhookContainer(t, find[*appsv1.Deployment](t, objs, "Deployment", full)).Args)
	if f["agent-metrics"] != "pod" || f["agent-metrics-port"] != "9102" {
		t.Errorf("--agent-metrics=%q --agent-metrics-port=%q, want pod and 9102", f["agent-metrics"], f["agent-metrics-port"])
	}
	pm := findU(t, objs, "PodMonitor", full+"-agents")
	spec := pm.Object["spec"].(map[string]any)
	wantSel := map[string]any{"matchLabels": map[string]any{"vault-injector.io/injected": "true"}}
	ep := spec["podMetricsEndpoints"].([]any)[0].(map[string]any)
	if !reflect.DeepEqual(spec["selector"], wantSel) || ep["port"] != "vault-metrics" || pm.GetLabels()["release"] != "prom" ||
		!reflect.DeepEqual(spec["namespaceSelector"], map[string]any{"matchNames": []any{"shop"}}) {
		t.Errorf("PodMonitor does not select the injected agents: %v %v", spec, pm.GetLabels())
	}
	svc := find[*corev1.Service](t, objs, "Service", full+"-metrics")
	sm := findU(t, objs, "ServiceMonitor", full)
	smSpec := sm.Object["spec"].(map[string]any)
	sel := smSpec["selector"].(map[string]any)["matchLabels"].(map[string]any)
	for k, v := range sel {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%v; the metrics Service has %q", k, v, svc.Labels[k])
		}
	}
	if svc.Spec.Ports[0].TargetPort.StrVal != "metrics" || svc.Spec.Selector["app.kubernetes.io/component"] != "webhook" ||
		smSpec["endpoints"].([]any)[0].(map[string]any)["interval"] != "15s" {
		t.Errorf("metrics Service %+v / ServiceMonitor %v do not reach the webhook's metrics port", svc.Spec, smSpec)
	}

	if _, err := renderChartErr(name, ns, map[string]any{"monitoring": map[string]any{"podMonitor": map[string]any{"enabled": true}}}); err == nil ||
		!strings.Contains(err.Error(), "agent.metrics=pod") {
		t.Errorf("a PodMonitor without agents on the pod IP must fail the render, got %v", err)
	}
}
