package cluster

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/vault-injector/vault-injector/test/testbin"
)

// Service routing (Options.ServiceRouting): kube-proxy in iptables mode, so that ClusterIPs
// work as in production, from pods (PREROUTING) and from host processes such as the API server
// calling a webhook Service (OUTPUT). Its rules live in the host's one set of KUBE-* chains,
// hence at most one run on a host routes Services; tear-down removes them (kube-proxy
// --cleanup). A route sends the ClusterIP range into the pod bridge with the gateway as
// source: without it host-originated Service traffic would take the default route off the
// machine before any rule applies, and with it nothing leaves the bridge even if a rule is
// missing.

// proxyPorts are kube-proxy's health and metrics ports, on loopback.
type proxyPorts struct{ healthz, metrics int }

// kubeProxyConfig is the KubeProxyConfiguration. Settings that differ from the defaults, and
// why:
//   - conntrack sizes and timeouts 0: leave the host's conntrack sysctls as they are.
//   - localhostNodePorts false: no route_localnet sysctl change; nothing uses NodePorts.
//   - nodePortAddresses the gateway only: no NodePort opens on another interface.
//   - clusterCIDR the run's pod subnet (local-traffic detection).
func kubeProxyConfig(s *State, ports proxyPorts, kubeconfig string) ([]byte, error) {
	return json.MarshalIndent(map[string]any{
		"apiVersion":         "kubeproxy.config.k8s.io/v1alpha1",
		"kind":               "KubeProxyConfiguration",
		"clientConnection":   map[string]any{"kubeconfig": kubeconfig},
		"hostnameOverride":   s.NodeName,
		"bindAddress":        s.Gateway,
		"healthzBindAddress": "127.0.0.1:" + itoa(ports.healthz),
		"metricsBindAddress": "127.0.0.1:" + itoa(ports.metrics),
		"mode":               "iptables",
		"clusterCIDR":        s.Subnet,
		"nodePortAddresses":  []string{s.Gateway + "/32"},
		"iptables":           map[string]any{"localhostNodePorts": false, "syncPeriod": "30s", "minSyncPeriod": "0s"},
		"conntrack": map[string]any{
			"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s",
		},
	}, "", "  ")
}

func (c *Cluster) startKubeProxy(cr *creds, ports proxyPorts) error {
	cfg, err := kubeProxyConfig(&c.State, ports, cr.proxyKubeconfig)
	if err != nil {
		return err
	}
	cfgFile := c.path("kube-proxy", "config.yaml")
	if err := writeFile(cfgFile, cfg); err != nil {
		return err
	}
	return c.start("kube-proxy", []string{"--config=" + cfgFile})
}

// addServiceRoute routes the ClusterIP range into the run's bridge, source the gateway. The
// route goes away with the bridge.
func addServiceRoute(bridge, gateway string) error {
	args := []string{"route", "add", ServiceCIDR, "dev", bridge, "src", gateway}
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// otherServiceRouter names a live run, other than self, that routes Services: the host has
// one set of kube-proxy chains, so a second kube-proxy would rewrite the first one's rules.
func otherServiceRouter(base, self string) string {
	for _, s := range runStates(base) {
		if s.ID == self {
			continue
		}
		if p, ok := s.proc("kube-proxy"); ok && p.alive() {
			return s.ID
		}
	}
	return ""
}

// cleanupKubeProxy removes kube-proxy's chains and rules from the host, once the run's
// kube-proxy has stopped. Only a run that started one calls it.
func cleanupKubeProxy(logf func(string, ...any)) {
	bin, err := testbin.Path("kube-proxy")
	if err != nil {
		logf("kube-proxy cleanup: %v", err)
		return
	}
	cmd := exec.Command(bin, "--cleanup")
	done := make(chan struct{})
	var out []byte
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
		if err != nil {
			logf("kube-proxy --cleanup: %v: %s", err, out)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		logf("kube-proxy --cleanup did not finish in 30s")
	}
	// --cleanup leaves the filter table's KUBE-FIREWALL chain and its two jumps (measured with
	// 1.36); a host without kube-proxy has none.
	for _, args := range [][]string{
		{"-D", "INPUT", "-j", "KUBE-FIREWALL"}, {"-D", "OUTPUT", "-j", "KUBE-FIREWALL"},
		{"-F", "KUBE-FIREWALL"}, {"-X", "KUBE-FIREWALL"},
	} {
		_ = exec.Command("iptables", append([]string{"-w", "5"}, args...)...).Run()
	}
}
