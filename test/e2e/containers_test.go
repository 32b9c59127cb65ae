package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/test/stack"
)

// TestInitContainersAndOwnSidecar: a Deployment whose pod already has a command-running init
// container, a native sidecar of its own and two app containers. The webhook's patch only adds
// (the agent first, mounts appended), so every container keeps its spec: each runs what it says
// and logs it, and the containers that read the secret get it.
func TestInitContainersAndOwnSidecar(t *testing.T) {
	ctx, ns := scenario(t, "containers", 3*time.Minute)
	if err := st.WriteSecret(ctx, "containers", map[string]any{"password": "containers-pw"}); err != nil {
		t.Fatal(err)
	}
	const idle = `trap 'exit 0' TERM; while true; do sleep 1; done`
	shell := func(name, script string) corev1.Container {
		return corev1.Container{
			Name: name, Image: st.ToolboxImage.Ref(), ImagePullPolicy: corev1.PullNever,
			Command: []string{"sh", "-c", script}, SecurityContext: restricted(),
			VolumeMounts: []corev1.VolumeMount{{Name: "work", MountPath: "/work"}},
		}
	}
	setup := shell("setup", `echo setup-ran; cat /vault/secrets/db; echo; echo from-setup > /work/setup; echo setup-done`)
	sidecar := shell("own-sidecar", `echo own-sidecar-ran; echo from-sidecar > /work/sidecar; `+idle)
	sidecar.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
	app := shell("app", `echo app-ran; cat /vault/secrets/db; echo; cat /work/setup; echo app-done; `+idle)
	worker := shell("worker", `echo worker-ran; while [ ! -f /work/sidecar ]; do sleep 0.2; done; cat /work/sidecar; echo worker-done; `+idle)

	tmpl := template("containers", annotations("secret-db", stack.SecretPrefix+"containers", "format-db", "raw:password"), "")
	tmpl.Spec.InitContainers = []corev1.Container{setup, sidecar}
	tmpl.Spec.Containers = []corev1.Container{app, worker}
	tmpl.Spec.Volumes = []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}}
	pod := deploy(ctx, t, ns, "containers", tmpl)

	var inits []string
	for _, c := range pod.Spec.InitContainers {
		inits = append(inits, c.Name)
	}
	if want := []string{contract.AgentContainer, "setup", "own-sidecar"}; !slices.Equal(inits, want) {
		t.Errorf("init containers %v, want %v", inits, want)
	}
	sent := map[string]corev1.Container{"setup": setup, "own-sidecar": sidecar, "app": app, "worker": worker}
	for _, c := range append(pod.Spec.InitContainers[1:], pod.Spec.Containers...) {
		want := sent[c.Name]
		if !slices.Equal(c.Command, want.Command) || !ptr.Equal(c.RestartPolicy, want.RestartPolicy) || c.Image != want.Image {
			t.Errorf("container %s changed: command %q restartPolicy %v image %s", c.Name, c.Command, c.RestartPolicy, c.Image)
		}
	}
	for container, wants := range map[string][]string{
		"setup":       {"setup-ran", "containers-pw", "setup-done"},
		"own-sidecar": {"own-sidecar-ran"},
		"app":         {"app-ran", "containers-pw", "from-setup", "app-done"},
		"worker":      {"worker-ran", "from-sidecar", "worker-done"},
	} {
		log := waitLog(ctx, t, ns, pod.Name, container, wants[len(wants)-1])
		for _, w := range wants {
			if !strings.Contains(log, w) {
				t.Errorf("container %s log lacks %q:\n%s", container, w, log)
			}
		}
	}
}
