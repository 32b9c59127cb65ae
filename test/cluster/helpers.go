package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-injector/vault-injector/test/images"
	"github.com/vault-injector/vault-injector/test/testbin"
)

// ImportImage imports an image tarball (test/images) into the node's containerd, in the
// namespace the kubelet uses. Pods then run it with imagePullPolicy Never or IfNotPresent.
func (c *Cluster) ImportImage(ctx context.Context, tarPath string) error {
	ctr, err := testbin.Path("ctr")
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, ctr, "--address", c.ContainerdSocket, "-n", "k8s.io", "images", "import", tarPath).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr images import %s: %w: %s", tarPath, err, out)
	}
	return nil
}

// BuildAndImport builds each image from the project's sources (test/images) and imports it.
func (c *Cluster) BuildAndImport(ctx context.Context, imgs ...images.Image) error {
	for _, img := range imgs {
		began := time.Now()
		tar, err := images.Build(ctx, c.opts.ImageDir, img)
		if err != nil {
			return err
		}
		if err := c.ImportImage(ctx, tar); err != nil {
			return err
		}
		c.logf("image %s built and imported in %s", img.Ref(), since(began))
	}
	return nil
}

// Kubectl runs the cached kubectl against the cluster and returns its combined output.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) ([]byte, error) {
	bin, err := testbin.Path("kubectl")
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return out, nil
}

// CreateNamespace creates a namespace and waits until pods can be admitted in it (its default
// ServiceAccount and kube-root-ca.crt exist).
func (c *Cluster) CreateNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.clientset.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return c.poll(ctx, "namespace "+name+" ready", func(ctx context.Context) (bool, error) {
		if _, err := c.clientset.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return false, nil
		}
		_, err := c.clientset.CoreV1().ConfigMaps(name).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err == nil, nil
	})
}

// WaitForPod polls the pod until cond says done (true) or fails (error), or ctx ends.
func (c *Cluster) WaitForPod(ctx context.Context, ns, name string, cond func(*corev1.Pod) (bool, error)) (*corev1.Pod, error) {
	var pod *corev1.Pod
	err := c.poll(ctx, "pod "+ns+"/"+name, func(ctx context.Context) (bool, error) {
		p, err := c.clientset.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		pod = p
		return cond(p)
	})
	return pod, err
}

// WaitForPodReady waits for the pod's Ready condition and fails fast on a pod that cannot
// get there (see PodReady).
func (c *Cluster) WaitForPodReady(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	return c.WaitForPod(ctx, ns, name, PodReady)
}

// PodReady is a WaitForPod condition: Ready, or an error for a pod that failed, or one whose
// container is stuck in a state that does not resolve by waiting.
func PodReady(p *corev1.Pod) (bool, error) {
	if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
		return false, fmt.Errorf("pod %s is %s: %s", p.Name, p.Status.Phase, p.Status.Message)
	}
	statuses := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, st := range statuses {
		if w := st.State.Waiting; w != nil && stuckReasons[w.Reason] {
			return false, fmt.Errorf("pod %s container %s: %s: %s", p.Name, st.Name, w.Reason, w.Message)
		}
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue, nil
		}
	}
	return false, nil
}

var stuckReasons = map[string]bool{
	"ErrImageNeverPull": true, "ImagePullBackOff": true, "ErrImagePull": true, "InvalidImageName": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "CrashLoopBackOff": true,
	"RunContainerError": true,
}

// WaitForJob waits until the Job completes; a failed Job is an error naming its condition.
func (c *Cluster) WaitForJob(ctx context.Context, ns, name string) (*batchv1.Job, error) {
	var job *batchv1.Job
	err := c.poll(ctx, "job "+ns+"/"+name, func(ctx context.Context) (bool, error) {
		j, err := c.clientset.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		job = j
		for _, cond := range j.Status.Conditions {
			if cond.Status != corev1.ConditionTrue {
				continue
			}
			switch cond.Type {
			case batchv1.JobComplete:
				return true, nil
			case batchv1.JobFailed:
				return false, fmt.Errorf("job %s failed: %s: %s", name, cond.Reason, cond.Message)
			}
		}
		return false, nil
	})
	return job, err
}

// PodLogs returns a container's log through the API server and the kubelet (`kubectl logs`).
func (c *Cluster) PodLogs(ctx context.Context, ns, pod, container string) (string, error) {
	b, err := c.clientset.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
	return string(b), err
}

// poll checks cond every 100ms until it is done or fails; ctx bounds it, and a component
// that died turns the wait into an error at once.
func (c *Cluster) poll(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		done, err := cond(ctx)
		if err != nil || done {
			return err
		}
		if err := c.diedErr(); err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}
