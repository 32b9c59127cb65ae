// Package kubetest starts a real etcd + kube-apiserver for integration tests: controller-runtime's
// envtest over the pinned binaries that test/tools/install.sh builds (found by test/testbin),
// with a private HOME and an admin kubeconfig for kubectl. A missing binary fails the test.
package kubetest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/vault-injector/vault-injector/test/testbin"
)

// Cluster is a running API server.
type Cluster struct {
	Config *rest.Config
	Client kubernetes.Interface
	// Kubeconfig is the path of an admin (system:masters) kubeconfig.
	Kubeconfig string
	kubectl    string
}

// Start runs etcd and kube-apiserver until the test ends. It sets HOME and KUBEBUILDER_ASSETS
// for the test (envtest writes under HOME), so callers cannot use t.Parallel.
func Start(t *testing.T) *Cluster {
	t.Helper()
	assets := t.TempDir()
	for _, name := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if err := os.Symlink(testbin.Must(t, name), filepath.Join(assets, name)); err != nil {
			t.Fatalf("linking %s: %v", name, err)
		}
	}
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBEBUILDER_ASSETS", assets)
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		// Generous: the machine is shared with large builds.
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting etcd + kube-apiserver: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the API server: %v", err)
		}
	})
	user, err := env.AddUser(envtest.User{Name: "kubetest-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatalf("adding admin user: %v", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatalf("admin kubeconfig: %v", err)
	}
	c := &Cluster{Config: cfg, Kubeconfig: filepath.Join(t.TempDir(), "kubeconfig"), kubectl: filepath.Join(assets, "kubectl")}
	if err := os.WriteFile(c.Kubeconfig, kc, 0o600); err != nil {
		t.Fatalf("writing kubeconfig: %v", err)
	}
	if c.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatalf("client: %v", err)
	}
	return c
}

// Kubectl runs kubectl against the cluster with stdin and returns stdout and stderr (where
// kubectl prints the API server's warnings); on failure stderr is also in the error.
func (c *Cluster) Kubectl(stdin []byte, args ...string) (stdout, stderr string, err error) {
	return Kubectl(c.kubectl, stdin, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
}

// Kubectl runs the kubectl binary at path (e.g. for `kubectl kustomize`, which needs no cluster).
func Kubectl(path string, stdin []byte, args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(path, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), errb.String(), &Error{Args: args, Err: err, Stderr: strings.TrimSpace(errb.String())}
	}
	return out.String(), errb.String(), nil
}

// Error is a failed kubectl run with its stderr.
type Error struct {
	Args   []string
	Err    error
	Stderr string
}

func (e *Error) Error() string {
	return "kubectl " + strings.Join(e.Args, " ") + ": " + e.Err.Error() + ": " + e.Stderr
}

func (e *Error) Unwrap() error { return e.Err }
