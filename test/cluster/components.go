package cluster

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/vault-injector/vault-injector/test/testbin"
)

// ServiceCIDR is the (virtual) ClusterIP range. Without Options.ServiceRouting nothing routes
// it: Services are records only. With it, kube-proxy's rules do, inside the pod bridge.
const ServiceCIDR = "10.96.0.0/24"

// ServiceAccountIssuer is the issuer of service-account tokens. Vault's kubernetes auth does
// not need to pin it (it asks the TokenReview API).
const ServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// creds are the files the bring-up made for the components.
type creds struct {
	apiserverCert, apiserverKey     string
	kubeletClientCert, kubeletClKey string // the API server's identity towards kubelets
	kubeletCert, kubeletKey         string // the kubelet's serving certificate
	saPub, saKey                    string
	kcmKubeconfig, schedKubeconfig  string
	kubeletKubeconfig               string
	proxyKubeconfig                 string
}

// makeCreds writes the CA, every certificate and the kubeconfigs (admin included).
func (c *Cluster) makeCreds() (*creds, error) {
	p, err := newPKI(c.path("pki"))
	if err != nil {
		return nil, err
	}
	c.CAFile = p.caFile
	cr := &creds{kcmKubeconfig: c.path("pki", "kcm.kubeconfig"), schedKubeconfig: c.path("pki", "scheduler.kubeconfig"),
		kubeletKubeconfig: c.path("pki", "kubelet.kubeconfig"), proxyKubeconfig: c.path("pki", "kube-proxy.kubeconfig")}
	gw := net.ParseIP(c.Gateway)
	steps := []func() error{
		func() (err error) {
			cr.apiserverCert, cr.apiserverKey, err = p.issue("apiserver", certSpec{cn: "kube-apiserver", server: true,
				ips: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 96, 0, 1), gw},
				dns: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}})
			return err
		},
		func() (err error) {
			// system:masters lets the API server use every kubelet API (logs, exec, proxy).
			cr.kubeletClientCert, cr.kubeletClKey, err = p.issue("apiserver-kubelet-client", certSpec{cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}})
			return err
		},
		func() (err error) {
			cr.kubeletCert, cr.kubeletKey, err = p.issue("kubelet", certSpec{cn: c.NodeName, server: true, ips: []net.IP{gw}, dns: []string{c.NodeName}})
			return err
		},
		func() (err error) { cr.saPub, cr.saKey, err = p.serviceAccountKeys(); return err },
		func() error {
			return p.kubeconfig(c.Kubeconfig, c.APIServerURL, "admin", certSpec{cn: "vi-admin", orgs: []string{"system:masters"}})
		},
		func() error {
			return p.kubeconfig(cr.kcmKubeconfig, c.APIServerURL, "kcm", certSpec{cn: "system:kube-controller-manager"})
		},
		func() error {
			return p.kubeconfig(cr.schedKubeconfig, c.APIServerURL, "scheduler", certSpec{cn: "system:kube-scheduler"})
		},
		func() error {
			// The default ClusterRoleBinding system:node-proxier grants this user what
			// kube-proxy reads.
			return p.kubeconfig(cr.proxyKubeconfig, c.APIServerURL, "kube-proxy", certSpec{cn: "system:kube-proxy"})
		},
		func() error {
			// The Node authorizer and NodeRestriction know the kubelet by this name and group.
			return p.kubeconfig(cr.kubeletKubeconfig, c.APIServerURL, "kubelet-client", certSpec{cn: "system:node:" + c.NodeName, orgs: []string{"system:nodes"}})
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return cr, nil
}

// start launches a component and records it in the state at once.
func (c *Cluster) start(name string, args []string) error {
	bin, err := testbin.Path(name)
	if err != nil {
		return err
	}
	p, err := spawn(c.path("logs"), name, bin, args, nil)
	if err != nil {
		return err
	}
	c.Procs = append(c.Procs, p)
	return c.save()
}

// startEtcd runs etcd on a tmpfs: nothing survives the run, and fsync costs nothing.
func (c *Cluster) startEtcd(clientPort, peerPort int) error {
	dir := c.path("etcd")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1g,mode=0700"); err != nil {
		return fmt.Errorf("mounting tmpfs for etcd: %w", err)
	}
	client, peer := "http://127.0.0.1:"+itoa(clientPort), "http://127.0.0.1:"+itoa(peerPort)
	return c.start("etcd", []string{
		"--name=vi", "--data-dir=" + dir,
		"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=vi=" + peer, "--logger=zap", "--log-level=warn",
	})
}

func (c *Cluster) startAPIServer(cr *creds, etcdPort, port int) error {
	return c.start("kube-apiserver", []string{
		"--etcd-servers=http://127.0.0.1:" + itoa(etcdPort),
		// The gateway: the kubernetes Service's endpoint (the lease reconciler keeps it), so
		// pods reach the API server at its ClusterIP once kube-proxy routes it.
		"--bind-address=" + c.Gateway, "--advertise-address=" + c.Gateway, "--secure-port=" + itoa(port),
		"--cert-dir=" + c.path("apiserver"),
		"--tls-cert-file=" + cr.apiserverCert, "--tls-private-key-file=" + cr.apiserverKey,
		"--client-ca-file=" + c.CAFile,
		"--service-account-issuer=" + ServiceAccountIssuer,
		"--service-account-key-file=" + cr.saPub, "--service-account-signing-key-file=" + cr.saKey,
		"--service-cluster-ip-range=" + ServiceCIDR,
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction,ServiceAccount,MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
		"--kubelet-client-certificate=" + cr.kubeletClientCert, "--kubelet-client-key=" + cr.kubeletClKey,
		"--kubelet-certificate-authority=" + c.CAFile,
		"--kubelet-preferred-address-types=InternalIP",
		"--allow-privileged=true", "--profiling=false",
	})
}

func (c *Cluster) startControllerManager(cr *creds, port int) error {
	return c.start("kube-controller-manager", []string{
		"--kubeconfig=" + cr.kcmKubeconfig,
		"--authentication-kubeconfig=" + cr.kcmKubeconfig, "--authorization-kubeconfig=" + cr.kcmKubeconfig,
		// The tokens controller and the root-CA publisher: without them no `default`
		// ServiceAccount and no kube-root-ca.crt ConfigMap, so no pod is admitted.
		"--service-account-private-key-file=" + cr.saKey, "--root-ca-file=" + c.CAFile,
		"--use-service-account-credentials=true",
		"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=" + itoa(port),
		"--cert-dir=" + c.path("kcm"), "--profiling=false",
		// Not the default under /usr/libexec: a run creates nothing outside its dir.
		"--flex-volume-plugin-dir=" + c.path("kcm", "volume-plugins"),
	})
}

func (c *Cluster) startScheduler(cr *creds, port int) error {
	return c.start("kube-scheduler", []string{
		"--kubeconfig=" + cr.schedKubeconfig,
		"--authentication-kubeconfig=" + cr.schedKubeconfig, "--authorization-kubeconfig=" + cr.schedKubeconfig,
		"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=" + itoa(port),
		"--cert-dir=" + c.path("scheduler"), "--profiling=false",
	})
}

func (c *Cluster) startContainerd() error {
	cfg := c.path("containerd", "config.toml")
	if err := writeFile(cfg, []byte(containerdConfig(&c.State))); err != nil {
		return err
	}
	conf, err := cniConfig(&c.State, c.opts.ServiceRouting)
	if err != nil {
		return err
	}
	if err := writeFile(c.path("cni", "net.d", "10-vi.conflist"), conf); err != nil {
		return err
	}
	return c.start("containerd", []string{"--config=" + cfg})
}

func (c *Cluster) startKubelet(cr *creds, ports kubeletPorts) error {
	cfg, err := kubeletConfig(&c.State, ports, cr.kubeletCert, cr.kubeletKey)
	if err != nil {
		return err
	}
	cfgFile := c.path("kubelet", "config.yaml")
	if err := writeFile(cfgFile, cfg); err != nil {
		return err
	}
	return c.start("kubelet", []string{
		"--config=" + cfgFile, "--kubeconfig=" + cr.kubeletKubeconfig,
		"--root-dir=" + c.path("kubelet", "root"), "--cert-dir=" + c.path("kubelet", "pki"),
		"--node-ip=" + c.Gateway, "--hostname-override=" + c.NodeName,
	})
}
