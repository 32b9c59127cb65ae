package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/vault-injector/vault-injector/test/cluster"
	"github.com/vault-injector/vault-injector/test/images"
)

const smokeKey = "smoke-test-key-material-0123456789"

// TestSmoke brings a real node up and checks what the e2e suite relies on: imported images run
// without pulls, pods get an address on the bridge that the host reaches, in-memory emptyDirs
// are tmpfs, projected service-account tokens are mounted, logs and exec work through the API
// server, and a Job with a native sidecar completes.
func TestSmoke(t *testing.T) {
	c := cluster.StartT(t, cluster.Options{})
	t.Logf("bring-up: %s", c.BringUp.Round(10*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := c.BuildAndImport(ctx, images.Tokenizer(), images.Toolbox()); err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	cs := c.Clientset()
	if _, err := cs.CoreV1().Pods("default").Create(ctx, tokenizerPod(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := c.WaitForPodReady(ctx, "default", "tokenizer")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first pod Ready %s after creation", time.Since(began).Round(10*time.Millisecond))

	checkPodNetwork(t, c, pod)
	checkProjectedToken(t, pod)
	checkInitLog(ctx, t, c)
	if out, err := c.Kubectl(ctx, "exec", "tokenizer", "-c", "shell", "--", "cat", "/vault/secrets/tokenizer-key"); err != nil || strings.TrimSpace(string(out)) != smokeKey {
		t.Errorf("kubectl exec cat key = %q, %v", out, err)
	}
	roundTrip(t, "http://"+net.JoinHostPort(pod.Status.PodIP, "8080"))

	t.Run("native sidecar job", func(t *testing.T) {
		began := time.Now()
		if _, err := cs.BatchV1().Jobs("default").Create(ctx, sidecarJob(), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.WaitForJob(ctx, "default", "sidecar-job"); err != nil {
			t.Fatal(err)
		}
		t.Logf("job with a native sidecar Complete in %s", time.Since(began).Round(10*time.Millisecond))
	})
}

func checkPodNetwork(t *testing.T, c *cluster.Cluster, pod *corev1.Pod) {
	t.Helper()
	_, subnet, _ := net.ParseCIDR(c.Subnet)
	if ip := net.ParseIP(pod.Status.PodIP); ip == nil || !subnet.Contains(ip) {
		t.Errorf("pod IP %q not in the bridge subnet %s", pod.Status.PodIP, c.Subnet)
	}
}

func checkProjectedToken(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if src.ServiceAccountToken != nil {
				return
			}
		}
	}
	t.Errorf("no projected service-account token volume: ServiceAccount admission is off?")
}

// checkInitLog reads, through `kubectl logs`' path, what the init container saw.
func checkInitLog(ctx context.Context, t *testing.T, c *cluster.Cluster) {
	t.Helper()
	log, err := c.PodLogs(ctx, "default", "tokenizer", "write-key")
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	for _, want := range []string{"tmpfs-ok", "token-ok", "uid=65532"} {
		if !strings.Contains(log, want) {
			t.Errorf("init container log lacks %q:\n%s", want, log)
		}
	}
}

func roundTrip(t *testing.T, url string) {
	t.Helper()
	var tok struct{ Token string }
	post(t, url+"/tokenize", map[string]string{"value": "4111 1111 1111 1111"}, &tok)
	var val struct{ Value string }
	post(t, url+"/detokenize", map[string]string{"token": tok.Token}, &val)
	if tok.Token == "" || val.Value != "4111 1111 1111 1111" {
		t.Errorf("round trip over the pod IP: token %q, value %q", tok.Token, val.Value)
	}
}

func post(t *testing.T, url string, in, out any) {
	t.Helper()
	b, _ := json.Marshal(in)
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST %s: %d %v", url, resp.StatusCode, err)
	}
}

// restricted is the security context every injected container gets (README, The injected pod); the
// smoke test proves this runtime honours it (seccomp RuntimeDefault included).
func restricted() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		ReadOnlyRootFilesystem:   ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func container(name string, img images.Image, args ...string) corev1.Container {
	return corev1.Container{
		Name: name, Image: img.Ref(), ImagePullPolicy: corev1.PullNever, Args: args,
		SecurityContext: restricted(),
		VolumeMounts:    []corev1.VolumeMount{{Name: "secrets", MountPath: "/vault/secrets"}},
	}
}

const idleLoop = `trap 'exit 0' TERM; while true; do sleep 1; done`

func tokenizerPod() *corev1.Pod {
	writeKey := container("write-key", images.Toolbox(), "-c",
		`id; grep -q ' /vault/secrets tmpfs ' /proc/mounts && echo tmpfs-ok
test -s /var/run/secrets/kubernetes.io/serviceaccount/token && echo token-ok
echo `+smokeKey+` > /vault/secrets/tokenizer-key`)
	app := container("app", images.Tokenizer(), "-listen=:8080", "-key-file=/vault/secrets/tokenizer-key")
	app.VolumeMounts[0].ReadOnly = true
	app.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1}
	shell := container("shell", images.Toolbox(), "-c", idleLoop)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "tokenizer"},
		Spec: corev1.PodSpec{
			InitContainers:                []corev1.Container{writeKey},
			Containers:                    []corev1.Container{app, shell},
			Volumes:                       []corev1.Volume{memoryVolume("secrets")},
			TerminationGracePeriodSeconds: ptr.To(int64(2)),
		},
	}
}

func sidecarJob() *batchv1.Job {
	sidecar := container("sidecar", images.Toolbox(), "-c", `touch /vault/secrets/ready; `+idleLoop)
	sidecar.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
	sidecar.StartupProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/vault/secrets/ready"}}},
		PeriodSeconds: 1,
	}
	main := container("main", images.Toolbox(), "-c", `test -f /vault/secrets/ready && echo main-done`)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "sidecar-job"},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To(int32(0)),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy:                 corev1.RestartPolicyNever,
				InitContainers:                []corev1.Container{sidecar},
				Containers:                    []corev1.Container{main},
				Volumes:                       []corev1.Volume{memoryVolume("secrets")},
				TerminationGracePeriodSeconds: ptr.To(int64(5)),
			}},
		},
	}
}

func memoryVolume(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}
}
