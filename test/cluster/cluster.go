// Package cluster runs a real single-node Kubernetes cluster on this machine for the
// end-to-end tests and `make demo`: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, containerd + runc and a kubelet, with a CNI bridge on a private /24.
//
// Everything a run creates is private to it and named after its id: a run dir (config, certs,
// logs, containerd and kubelet state), free loopback ports, the bridge "vi<id>", the cgroup
// root "/vi<id>". Stop undoes exactly that, by PID, in the order docs/real-cluster.md gives,
// and Start first removes what crashed runs left behind. See docs/real-cluster.md for the
// host quirks the settings work around.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/vault-injector/vault-injector/test/freeport"
	"github.com/vault-injector/vault-injector/test/testbin"
)

// Options configure Start. The zero value is a usable default.
type Options struct {
	// BaseDir holds the run dirs, one per cluster; default <tmp>/vi-cluster.
	BaseDir string
	// NodeName is the node's name; default "vi-node".
	NodeName string
	// ImageDir caches built image tarballs; default $VI_CACHE/images.
	ImageDir string
	// Logf receives progress lines; default: timestamped lines on stderr.
	Logf func(format string, args ...any)
	// Detached clusters are not tied to the calling process: they live until Stop or
	// `cluster down`, even after the caller exits (`cluster up`). Otherwise the next Start on
	// this host removes the cluster once its caller has gone.
	Detached bool
	// ServiceRouting runs kube-proxy (iptables mode) so that ClusterIPs route, from pods and
	// from the host, as in production: the API server calls webhook Services and pods reach
	// the API server at the kubernetes Service. One run per host at a time (see proxy.go).
	ServiceRouting bool
}

func (o *Options) defaults() {
	if o.BaseDir == "" {
		o.BaseDir = filepath.Join(os.TempDir(), "vi-cluster")
	}
	if o.NodeName == "" {
		o.NodeName = "vi-node"
	}
	if o.ImageDir == "" {
		o.ImageDir = filepath.Join(testbin.CacheDir(), "images")
	}
	if o.Logf == nil {
		o.Logf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "[cluster %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
		}
	}
}

// Cluster is a running cluster. Its State says where everything is.
type Cluster struct {
	State
	opts       Options
	restConfig *rest.Config
	clientset  *kubernetes.Clientset
	stopOnce   sync.Once
	stopErr    error
	// BringUp is how long Start took, from nothing to a Ready node with its default
	// ServiceAccount.
	BringUp time.Duration
}

// Start brings a cluster up and returns once the node is Ready and pods can be admitted. On
// failure it tears down whatever it started.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	opts.defaults()
	began := time.Now()
	if err := checkBinaries(opts); err != nil {
		return nil, err
	}
	c, err := newRun(opts)
	if err != nil {
		if c != nil {
			_ = c.Stop()
		}
		return nil, err
	}
	if err := c.bringUp(ctx); err != nil {
		opts.Logf("bring-up failed, tearing down: %v", err)
		if stopErr := c.Stop(); stopErr != nil {
			opts.Logf("tear-down after failed bring-up: %v", stopErr)
		}
		return nil, err
	}
	c.BringUp = time.Since(began)
	c.opts.Logf("cluster up in %s: KUBECONFIG=%s", c.BringUp.Round(10*time.Millisecond), c.Kubeconfig)
	return c, nil
}

// checkBinaries finds every program before the host is touched, naming all that are missing.
func checkBinaries(opts Options) error {
	var errs []error
	names := []string{"etcd", "containerd", "ctr", "runc", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kubectl"}
	if opts.ServiceRouting {
		names = append(names, "kube-proxy", "iptables")
	}
	for _, name := range names {
		if _, err := testbin.Path(name); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := os.Stat(filepath.Join(CNIBinDir, "bridge")); err != nil {
		errs = append(errs, fmt.Errorf("CNI plugins missing (%w): run test/tools/install.sh debs", err))
	}
	return errors.Join(errs...)
}

// StartT is Start for tests: it fails t on error and stops the cluster in t.Cleanup.
func StartT(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = func(format string, args ...any) { t.Logf("[cluster] "+format, args...) }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("starting the test cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			keepLogs(t, c)
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the test cluster: %v", err)
		}
	})
	return c
}

// keepLogs copies a failed test's component logs out of the run dir before tear-down removes
// it, so CI output can point at them.
func keepLogs(t testing.TB, c *Cluster) {
	dst := filepath.Join(os.TempDir(), "vi-cluster-logs-"+c.ID)
	if err := os.CopyFS(dst, os.DirFS(c.LogDir())); err != nil {
		t.Logf("keeping cluster logs: %v", err)
		return
	}
	t.Logf("cluster component logs kept in %s", dst)
}

// newRun removes stale runs, then claims a run dir, a pod subnet and a bridge, under the
// host-wide lock so concurrent runs never pick the same.
func newRun(opts Options) (*Cluster, error) {
	unlock, err := lockBase(opts.BaseDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	cleanStale(opts.BaseDir, opts.Logf)
	if opts.ServiceRouting {
		if other := otherServiceRouter(opts.BaseDir, ""); other != "" {
			return nil, fmt.Errorf("run %s already routes Services on this host (kube-proxy); one at a time", other)
		}
	}
	idBytes := make([]byte, 3)
	_, _ = rand.Read(idBytes)
	id := hex.EncodeToString(idBytes)
	c := &Cluster{opts: opts, State: State{
		ID: id, RunDir: filepath.Join(opts.BaseDir, id), NodeName: opts.NodeName,
		Bridge: "vi" + id, CgroupRoot: "/vi" + id,
	}}
	if !opts.Detached {
		c.Owner = Proc{Name: "owner", PID: os.Getpid()}
		c.Owner.Start, _ = startTime(os.Getpid())
	}
	c.ContainerdSocket = c.path("containerd.sock")
	c.Kubeconfig = c.path("kubeconfig")
	if err := os.MkdirAll(c.path("logs"), 0o755); err != nil {
		return nil, err
	}
	if c.Subnet, c.Gateway, err = freeSubnet(); err != nil {
		return nil, err
	}
	// Saved before any host change: a crash from here on leaves a state to clean up from.
	if err := c.save(); err != nil {
		return nil, err
	}
	if err := createBridge(c.Bridge, c.Gateway); err != nil {
		return c, err
	}
	if opts.ServiceRouting {
		if err := addServiceRoute(c.Bridge, c.Gateway); err != nil {
			return c, err
		}
	}
	if _, err := saveSysctls(opts.BaseDir); err != nil {
		return c, err
	}
	return c, createCgroupRoot(c.CgroupRoot)
}

// Stop tears the cluster down (see teardown); it is safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		began := time.Now()
		// Under the host-wide lock: teardown decides whether it is the last run to stop.
		unlock, err := lockBase(c.opts.BaseDir)
		if err != nil {
			c.stopErr = err
			return
		}
		defer unlock()
		c.stopErr = teardown(&c.State, c.opts.BaseDir, c.opts.Logf)
		c.opts.Logf("cluster %s stopped in %s", c.ID, time.Since(began).Round(10*time.Millisecond))
	})
	return c.stopErr
}

// RESTConfig is the admin (system:masters) client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.restConfig) }

// Clientset is an admin client.
func (c *Cluster) Clientset() *kubernetes.Clientset { return c.clientset }

// GatewayIP is the host's address on the pod bridge (also the node IP). A host process that
// pods must reach, such as the Vault dev server, listens here; see ListenAddr.
func (c *Cluster) GatewayIP() string { return c.Gateway }

// ListenAddr returns gateway:port with a free port, for a host server that pods must reach,
// e.g. Vault's `-dev-listen-address`.
func (c *Cluster) ListenAddr() (string, error) {
	port, err := freeport.On(c.Gateway)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(c.Gateway, itoa(port)), nil
}

// LogDir holds one log file per component (etcd.log, kubelet.log, ...).
func (c *Cluster) LogDir() string { return c.path("logs") }

func (c *Cluster) logf(format string, args ...any) { c.opts.Logf(format, args...) }

// clientFromKubeconfig builds the admin client once the kubeconfig exists.
func (c *Cluster) loadClient() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	c.restConfig, c.clientset = cfg, cs
	return nil
}

// diedErr reports a component that exited during bring-up, with the end of its log: a
// misconfiguration shows at once instead of as a timeout.
func (c *Cluster) diedErr() error {
	for _, p := range c.Procs {
		if !p.alive() {
			b, _ := os.ReadFile(p.Log)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) > 15 {
				lines = lines[len(lines)-15:]
			}
			return fmt.Errorf("%s exited; last lines of %s:\n%s", p.Name, p.Log, strings.Join(lines, "\n"))
		}
	}
	return nil
}
