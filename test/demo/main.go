// Command demo shows the whole vault-injector flow on this machine (`make demo`): a real
// single-node cluster and a real Vault come up, the webhook is registered, and an annotated
// Deployment of the tokenization service gets its encryption key from Vault as a file. It
// prints what the app sees and how to look around, then keeps everything running until
// Ctrl-C or `make demo-down`.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/stack"
	"github.com/vault-injector/vault-injector/test/testbin"
)

const ns = "demo"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// PIDFile lets `make demo-down` stop a demo running in another terminal.
func pidFile() string { return filepath.Join(testbin.CacheDir(), "demo.pid") }

func run(ctx context.Context) error {
	say("bringing up etcd, kube-apiserver, controller-manager, scheduler, containerd and a kubelet, then Vault and the webhook")
	s, err := stack.Up(ctx, stack.Options{})
	if err != nil {
		return err
	}
	defer func() {
		say("tearing down")
		if err := s.Down(); err != nil {
			fmt.Fprintln(os.Stderr, "demo: tear-down:", err)
		}
		_ = os.Remove(pidFile())
	}()
	if err := os.WriteFile(pidFile(), []byte(fmt.Sprint(os.Getpid())), 0o644); err != nil {
		return err
	}
	pod, err := deployTokenizer(ctx, s)
	if err != nil {
		return err
	}
	if err := show(ctx, s, pod); err != nil {
		return err
	}
	say("everything is running. Look around with:\n\n  export KUBECONFIG=%s\n  %s get pods -n %s\n  %s describe pod -n %s %s\n  %s logs -n %s %s -c %s\n\nVault: VAULT_ADDR=%s VAULT_TOKEN=%s\nStop with Ctrl-C or `make demo-down`.",
		s.Cluster.Kubeconfig, kubectl(), ns, kubectl(), ns, pod.Name, kubectl(), ns, pod.Name, contract.AgentContainer,
		s.VaultAddr, s.Vault.RootToken)
	<-ctx.Done()
	return nil
}

func deployTokenizer(ctx context.Context, s *stack.Stack) (*corev1.Pod, error) {
	say("Vault: writing the tokenizer's key to secret/e2e/tokenizer (KV v2)")
	if err := s.WriteSecret(ctx, "tokenizer", map[string]any{"key": "demo-key-0123456789abcdef"}); err != nil {
		return nil, err
	}
	if err := s.AppNamespace(ctx, ns); err != nil {
		return nil, err
	}
	d := tokenizerDeployment(s)
	say("deploying the annotated tokenizer Deployment:\n%s", annotationList(d.Spec.Template.Annotations))
	if _, err := s.Cluster.Clientset().AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	wait, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	name, err := s.AppPod(wait, ns, "tokenizer")
	if err != nil {
		return nil, err
	}
	return s.Cluster.WaitForPodReady(wait, ns, name)
}

func tokenizerDeployment(s *stack.Stack) *appsv1.Deployment {
	restricted := &corev1.SecurityContext{
		RunAsNonRoot: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	labels := map[string]string{"app": "tokenizer"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "tokenizer"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{
					contract.AnnotationInject: "true", contract.AnnotationRole: stack.Role, contract.AnnotationRefresh: "10s",
					contract.AnnotationSecretPrefix + "tokenizer-key": "secret/e2e/tokenizer",
					contract.AnnotationFormatPrefix + "tokenizer-key": "raw:key",
					contract.AnnotationSecretPrefix + "all":           "secret/e2e/tokenizer",
				}},
				Spec: corev1.PodSpec{
					ServiceAccountName: stack.AppServiceAccount, AutomountServiceAccountToken: ptr.To(false),
					Containers: []corev1.Container{
						{Name: "tokenizer", Image: s.TokenizerImage.Ref(), ImagePullPolicy: corev1.PullNever, SecurityContext: restricted,
							Args: []string{"--listen=:8080", "--key-file=/vault/secrets/tokenizer-key"},
							ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
								Path: "/readyz", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1}},
						// A shell beside the app, to show what the app's containers see.
						{Name: "shell", Image: s.ToolboxImage.Ref(), ImagePullPolicy: corev1.PullNever, SecurityContext: restricted,
							Command: []string{"/bin/sh", "-c", "ls -lL /vault/secrets; grep ' /vault/secrets ' /proc/mounts; exec sleep 2147483647"}},
					},
				},
			},
		},
	}
}

func show(ctx context.Context, s *stack.Stack, pod *corev1.Pod) error {
	var inits []string
	for _, c := range pod.Spec.InitContainers {
		inits = append(inits, c.Name)
	}
	say("pod %s is Running; the webhook added init containers %v and the volumes %s, %s, %s",
		pod.Name, inits, contract.SecretsVolume, contract.TokenVolume, contract.ConfigVolume)
	logs, err := s.Cluster.PodLogs(ctx, ns, pod.Name, "shell")
	if err != nil {
		return err
	}
	say("what the app's containers see in /vault/secrets (read-only tmpfs):\n%s", indent(logs))
	base := fmt.Sprintf("http://%s:8080", pod.Status.PodIP)
	var tok struct{ Token, KeyID string }
	if err := post(ctx, base+"/tokenize", map[string]string{"value": "4111 1111 1111 1111"}, &tok); err != nil {
		return err
	}
	var back struct{ Value string }
	if err := post(ctx, base+"/detokenize", map[string]string{"token": tok.Token}, &back); err != nil {
		return err
	}
	say("tokenize \"4111 1111 1111 1111\" on %s -> %s (key %s)\ndetokenize -> %q", base, tok.Token, tok.KeyID, back.Value)
	return nil
}

func post(ctx context.Context, url string, in, out any) error {
	b, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func kubectl() string {
	p, err := testbin.Path("kubectl")
	if err != nil {
		return "kubectl"
	}
	return p
}

func annotationList(a map[string]string) string {
	var b strings.Builder
	for _, k := range []string{contract.AnnotationInject, contract.AnnotationRole, contract.AnnotationRefresh,
		contract.AnnotationSecretPrefix + "tokenizer-key", contract.AnnotationFormatPrefix + "tokenizer-key", contract.AnnotationSecretPrefix + "all"} {
		fmt.Fprintf(&b, "    %s: %q\n", k, a[k])
	}
	return b.String()
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ")
}

func say(format string, args ...any) {
	fmt.Printf("\n==> "+format+"\n", args...)
}
