package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/stack"
)

// scenario gives a test its own namespace with the "app" service account that Vault's role
// trusts, and a context bounding the whole test.
func scenario(t *testing.T, name string, timeout time.Duration) (context.Context, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	ns := "e2e-" + name
	if err := st.AppNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	return ctx, ns
}

// annotations opts in with the stack's role plus the given key/value pairs (keys without the
// vault-injector.io/ prefix).
func annotations(kv ...string) map[string]string {
	a := map[string]string{contract.AnnotationInject: "true", contract.AnnotationRole: stack.Role}
	for i := 0; i+1 < len(kv); i += 2 {
		a[contract.Prefix+kv[i]] = kv[i+1]
	}
	return a
}

// template is a pod running a shell script in the toolbox image as a restricted, non-root
// app that does not mount the API token: the agent gets its own.
func template(name string, ann map[string]string, script string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}, Annotations: ann},
		Spec: corev1.PodSpec{
			ServiceAccountName:            stack.AppServiceAccount,
			AutomountServiceAccountToken:  ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To(int64(5)),
			Containers: []corev1.Container{{
				Name: "app", Image: st.ToolboxImage.Ref(), ImagePullPolicy: corev1.PullNever,
				Command: []string{"/bin/sh", "-c", script}, SecurityContext: restricted(),
			}},
		},
	}
}

func restricted() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(65532)), AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem: ptr.To(true), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func deploy(ctx context.Context, t *testing.T, ns, name string, tmpl corev1.PodTemplateSpec) *corev1.Pod {
	t.Helper()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: tmpl,
		},
	}
	if _, err := st.Cluster.Clientset().AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating deployment %s: %v", name, err)
	}
	pod, err := st.AppPod(ctx, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	ready, err := st.Cluster.WaitForPodReady(ctx, ns, pod)
	if err != nil {
		t.Fatalf("pod of deployment %s not ready: %v\n%s", name, err, agentLog(ns, pod))
	}
	return ready
}

func job(ctx context.Context, t *testing.T, ns, name string, tmpl corev1.PodTemplateSpec) {
	t.Helper()
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       batchv1.JobSpec{BackoffLimit: ptr.To(int32(0)), Template: tmpl},
	}
	if _, err := st.Cluster.Clientset().BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating job %s: %v", name, err)
	}
	if _, err := st.Cluster.WaitForJob(ctx, ns, name); err != nil {
		pods, _ := st.Cluster.Clientset().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + name})
		var logs string
		for _, p := range pods.Items {
			logs += agentLog(ns, p.Name)
		}
		t.Fatalf("job %s: %v\n%s", name, err, logs)
	}
}

// waitLog polls a container's log until it contains want; it returns the log.
func waitLog(ctx context.Context, t *testing.T, ns, pod, container, want string) string {
	t.Helper()
	var last string
	for {
		if l, err := st.Cluster.PodLogs(ctx, ns, pod, container); err == nil {
			last = l
			if strings.Contains(l, want) {
				return l
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s/%s[%s] never logged %q; log:\n%s", ns, pod, container, want, last)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// agentLog is the agent's log, for failure messages.
func agentLog(ns, pod string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b strings.Builder
	for _, c := range []string{contract.AgentContainer, contract.AgentInitContainer} {
		if l, err := st.Cluster.PodLogs(ctx, ns, pod, c); err == nil {
			b.WriteString("--- " + c + " log:\n" + l)
		}
	}
	return b.String()
}

// between returns the text between two markers in a log.
func between(log, begin, end string) string {
	_, after, ok := strings.Cut(log, begin)
	if !ok {
		return ""
	}
	s, _, _ := strings.Cut(after, end)
	return s
}
