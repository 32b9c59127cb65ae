package cluster

import (
	"context"
	"fmt"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-injector/vault-injector/test/freeport"
	"github.com/vault-injector/vault-injector/test/images"
)

// ports of one run, all free at the time they are chosen.
type ports struct {
	etcd, etcdPeer, apiserver, kcm, scheduler int
	kubelet                                   kubeletPorts
	proxy                                     proxyPorts
}

func choosePorts(gateway string) (ports, error) {
	var p ports
	for _, slot := range []struct {
		port *int
		host string
	}{
		{&p.etcd, "127.0.0.1"}, {&p.etcdPeer, "127.0.0.1"}, {&p.apiserver, gateway},
		{&p.kcm, "127.0.0.1"}, {&p.scheduler, "127.0.0.1"},
		{&p.kubelet.server, gateway}, {&p.kubelet.healthz, "127.0.0.1"},
		{&p.proxy.healthz, "127.0.0.1"}, {&p.proxy.metrics, "127.0.0.1"},
	} {
		port, err := freeport.On(slot.host)
		if err != nil {
			return p, err
		}
		*slot.port = port
	}
	return p, nil
}

// bringUp starts the components, overlapping what can overlap: etcd, containerd and the API
// server start together (the API server retries etcd), the pause image builds meanwhile, and
// the kubelet starts once containerd answers and the pause image is in.
func (c *Cluster) bringUp(ctx context.Context) error {
	began := time.Now()
	pauseTar := make(chan error, 1)
	var pausePath string
	go func() {
		var err error
		pausePath, err = images.Build(ctx, c.opts.ImageDir, images.Pause())
		pauseTar <- err
	}()
	p, err := choosePorts(c.Gateway)
	if err != nil {
		return err
	}
	// On the gateway, not loopback: pods reach it through the kubernetes Service, whose
	// endpoint is this address, and host clients reach it there too.
	c.APIServerURL = "https://" + net.JoinHostPort(c.Gateway, itoa(p.apiserver))
	cr, err := c.makeCreds()
	if err != nil {
		return fmt.Errorf("making certificates: %w", err)
	}
	if err := c.loadClient(); err != nil {
		return err
	}
	c.logf("run %s in %s: pod subnet %s on bridge %s (gateway/node IP %s)", c.ID, c.RunDir, c.Subnet, c.Bridge, c.Gateway)
	for _, start := range []func() error{
		func() error { return c.startEtcd(p.etcd, p.etcdPeer) },
		c.startContainerd,
		func() error { return c.startAPIServer(cr, p.etcd, p.apiserver) },
	} {
		if err := start(); err != nil {
			return err
		}
	}
	c.logf("started etcd, containerd, kube-apiserver; waiting for the API server")
	if err := c.waitFor(ctx, "kube-apiserver /readyz", time.Minute, c.apiReady); err != nil {
		return err
	}
	c.logf("kube-apiserver ready after %s", since(began))
	if err := c.startControllerManager(cr, p.kcm); err != nil {
		return err
	}
	if err := c.startScheduler(cr, p.scheduler); err != nil {
		return err
	}
	if c.opts.ServiceRouting {
		if err := c.startKubeProxy(cr, p.proxy); err != nil {
			return err
		}
	}
	if err := c.waitFor(ctx, "containerd socket", 30*time.Second, c.containerdUp); err != nil {
		return err
	}
	if err := <-pauseTar; err != nil {
		return fmt.Errorf("building the pause image: %w", err)
	}
	if err := c.ImportImage(ctx, pausePath); err != nil {
		return err
	}
	if err := c.startKubelet(cr, p.kubelet); err != nil {
		return err
	}
	c.logf("started controller-manager, scheduler, kubelet; waiting for node %s", c.NodeName)
	if err := c.waitFor(ctx, "node Ready", 2*time.Minute, c.nodeReady); err != nil {
		return err
	}
	c.logf("node %s Ready after %s", c.NodeName, since(began))
	return c.waitFor(ctx, "default ServiceAccount and kube-root-ca.crt", time.Minute, c.namespaceReady)
}

func since(t time.Time) time.Duration { return time.Since(t).Round(10 * time.Millisecond) }

// waitFor polls cond until it holds, a component dies, or the timeout passes.
func (c *Cluster) waitFor(ctx context.Context, what string, timeout time.Duration, cond func(context.Context) bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.poll(ctx, what, func(ctx context.Context) (bool, error) { return cond(ctx), nil }); err != nil {
		return fmt.Errorf("%w (component logs: %s)", err, c.LogDir())
	}
	return nil
}

func (c *Cluster) apiReady(ctx context.Context) bool {
	body, err := c.clientset.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err == nil && string(body) == "ok"
}

func (c *Cluster) containerdUp(context.Context) bool {
	conn, err := net.Dial("unix", c.ContainerdSocket)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

func (c *Cluster) nodeReady(ctx context.Context) bool {
	n, err := c.clientset.CoreV1().Nodes().Get(ctx, c.NodeName, metav1.GetOptions{})
	if err != nil {
		return false
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// namespaceReady: pods are admitted only once their namespace has its `default`
// ServiceAccount (the ServiceAccount admission plugin) and kube-root-ca.crt (projected
// service-account volumes).
func (c *Cluster) namespaceReady(ctx context.Context) bool {
	if _, err := c.clientset.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		return false
	}
	_, err := c.clientset.CoreV1().ConfigMaps("default").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
	return err == nil
}
