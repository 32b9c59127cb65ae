package cluster

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/vault-injector/vault-injector/test/images"
)

// CNIBinDir is where Debian's containernetworking-plugins installs bridge, host-local and
// loopback.
const CNIBinDir = "/usr/lib/cni"

// containerdConfig is containerd 1.6's config (version 2) with every path inside the run dir.
// Settings that differ from the defaults, and why:
//   - restrict_oom_score_adj: this VM lacks CAP_SYS_RESOURCE, so a negative oom_score_adj
//     fails sandbox creation ("can't get final child's PID from pipe: EOF").
//   - netns_mounts_under_state_dir: pod network namespaces are mounted in the run dir instead
//     of the shared /var/run/netns, so tear-down finds them.
//   - runc Root: runc's container state inside the run dir, not /run/containerd/runc.
//   - disable_apparmor: there is no AppArmor on these hosts.
//   - sandbox_image: our own pause image, imported before any pod; nothing is ever pulled.
func containerdConfig(s *State) string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
oom_score = 0
# Snapshotters this host cannot use; disabled so their load errors do not bury real ones.
disabled_plugins = ["io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = %q

[debug]
  level = "warn"

[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
    max_conf_num = 1
`, s.path("containerd", "root"), s.path("containerd", "state"), s.ContainerdSocket,
		s.path("containerd", "opt"), images.Pause().Ref(), s.path("runc"), CNIBinDir, s.path("cni", "net.d"))
}

// cniConfig is the pod network: the run's bridge, host-local IPAM on its /24 (leases stored in
// the run dir), no masquerading and no routes beyond the subnet, so a pod can reach the other
// pods and the host's gateway address (where Vault listens) and nothing else.
//
// With serviceRouting pods also get a route to the ClusterIP range through the gateway, where
// kube-proxy's rules translate it; still nothing beyond the machine.
func cniConfig(s *State, serviceRouting bool) ([]byte, error) {
	ipam := map[string]any{
		"type":    "host-local",
		"ranges":  [][]map[string]string{{{"subnet": s.Subnet, "gateway": s.Gateway}}},
		"dataDir": s.path("cni", "ipam"),
	}
	if serviceRouting {
		ipam["routes"] = []map[string]string{{"dst": ServiceCIDR, "gw": s.Gateway}}
	}
	return json.MarshalIndent(map[string]any{
		"cniVersion": "1.0.0",
		"name":       "vi" + s.ID,
		"plugins": []map[string]any{{
			"type":        "bridge",
			"bridge":      s.Bridge,
			"isGateway":   true,
			"ipMasq":      false,
			"hairpinMode": true,
			"ipam":        ipam,
		}},
	}, "", "  ")
}

// kubeletPorts are the kubelet's listening ports, chosen free per run.
type kubeletPorts struct{ server, healthz int }

// kubeletConfig is the KubeletConfiguration (JSON is valid YAML). Settings that differ from
// the defaults, and why:
//   - failCgroupV1 false: these hosts are cgroup v1, which 1.36 refuses by default.
//   - cgroupfs driver and a per-run cgroupRoot (see createCgroupRoot).
//   - failSwapOn false: tolerate swap if a host has it.
//   - image GC off and tiny eviction thresholds: images can never be re-pulled here.
//   - webhook authn/authz and the run CA: `kubectl logs/exec` go API server → kubelet with
//     the API server's client certificate.
//   - resolvConf "": pods get no host DNS server (the host's may be off-machine).
//   - makeIPTablesUtilChains false: no host iptables changes.
//   - podLogsDir, volumePluginDir: inside the run dir, not /var/log/pods and /usr/libexec.
func kubeletConfig(s *State, ports kubeletPorts, certFile, keyFile string) ([]byte, error) {
	return json.MarshalIndent(map[string]any{
		"apiVersion":                  "kubelet.config.k8s.io/v1beta1",
		"kind":                        "KubeletConfiguration",
		"address":                     s.Gateway,
		"port":                        ports.server,
		"readOnlyPort":                0,
		"healthzBindAddress":          "127.0.0.1",
		"healthzPort":                 ports.healthz,
		"tlsCertFile":                 certFile,
		"tlsPrivateKeyFile":           keyFile,
		"containerRuntimeEndpoint":    "unix://" + s.ContainerdSocket,
		"cgroupDriver":                "cgroupfs",
		"cgroupRoot":                  s.CgroupRoot,
		"failCgroupV1":                false,
		"failSwapOn":                  false,
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
		"evictionHard": map[string]string{
			"memory.available": "100Mi", "nodefs.available": "1%",
			"imagefs.available": "1%", "nodefs.inodesFree": "1%",
		},
		"authentication": map[string]any{
			"anonymous": map[string]bool{"enabled": false},
			"webhook":   map[string]bool{"enabled": true},
			"x509":      map[string]string{"clientCAFile": s.CAFile},
		},
		"authorization":          map[string]string{"mode": "Webhook"},
		"resolvConf":             "",
		"makeIPTablesUtilChains": false,
		"podLogsDir":             s.path("pod-logs"),
		"volumePluginDir":        s.path("kubelet", "volume-plugins"),
		"staticPodPath":          "",
		"serializeImagePulls":    false,
		// Faster than the 1m default: a pod sees a changed ConfigMap or Secret volume sooner.
		"syncFrequency": "10s",
	}, "", "  ")
}

// writeFile writes data to a file under the run dir, creating its directory.
func writeFile(file string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, data, 0o644)
}

func itoa(i int) string { return strconv.Itoa(i) }
