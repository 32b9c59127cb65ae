package cluster

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// Host-wide resources of a run, all named after its id so that tear-down, and the clean-up of
// crashed runs, touch nothing else: the bridge "vi<id>", the cgroup "/vi<id>" in every cgroup
// v1 hierarchy, mounts under the run dir.

const cgroupFS = "/sys/fs/cgroup"

// podNet is the /16 the runs' pod subnets come from: 10.88.<n>.0/24, one per concurrent run.
const podNetPrefix = "10.88."

// lockBase serialises the host-wide steps of concurrent runs (stale clean-up, subnet choice).
func lockBase(base string) (unlock func(), err error) {
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(base, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() { _ = f.Close() }, nil
}

// freeSubnet picks the lowest 10.88.<n>.0/24 that no interface on this host uses.
func freeSubnet() (subnet, gateway string, err error) {
	used := map[string]bool{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", "", err
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			used[ipn.IP.Mask(net.CIDRMask(24, 32)).String()] = true
		}
	}
	for n := 0; n < 256; n++ {
		base := podNetPrefix + strconv.Itoa(n) + "."
		if !used[base+"0"] {
			return base + "0/24", base + "1", nil
		}
	}
	return "", "", fmt.Errorf("no free /24 left in %s0.0/16", podNetPrefix)
}

// createBridge makes the pod bridge with the gateway address before anything starts: host
// services (Vault) can listen on the gateway at once, and the kubelet uses it as node IP, so no
// traffic of the cluster goes through another interface. The CNI bridge plugin adopts it.
func createBridge(name, gateway string) error {
	for _, args := range [][]string{
		{"link", "add", "name", name, "type", "bridge"},
		{"addr", "add", gateway + "/24", "dev", name},
		{"link", "set", name, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

func deleteBridge(name string) error {
	if _, err := net.InterfaceByName(name); err != nil {
		return nil // already gone
	}
	if out, err := exec.Command("ip", "link", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip link del %s: %w: %s", name, err, out)
	}
	return nil
}

// cgroupHierarchies lists the mounted cgroup hierarchies: the v1 ones (cpu, memory,
// name=systemd, ...) and, with withUnified, the hybrid host's v2 "unified" one, where runc
// creates the same paths.
func cgroupHierarchies(withUnified bool) []string {
	entries, _ := os.ReadDir(cgroupFS)
	var out []string
	for _, e := range entries {
		if e.Name() == "unified" && !withUnified {
			continue
		}
		dir := filepath.Join(cgroupFS, e.Name())
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err == nil {
			out = append(out, dir)
		}
	}
	return out
}

// createCgroupRoot makes the run's cgroup root in every hierarchy: the kubelet refuses a
// cgroupRoot that does not exist, and a root per run keeps two kubelets on one host from
// treating each other's pods as orphans.
func createCgroupRoot(root string) error {
	for _, h := range cgroupHierarchies(false) {
		dir := filepath.Join(h, root)
		if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
			return fmt.Errorf("creating cgroup %s: %w", dir, err)
		}
		if filepath.Base(h) != "cpuset" {
			continue
		}
		// A new cpuset cgroup starts with no CPUs and no memory nodes; tasks cannot join it.
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			v, err := os.ReadFile(filepath.Join(h, f))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
				return fmt.Errorf("setting %s of %s: %w", f, dir, err)
			}
		}
	}
	return nil
}

// cgroupProcs lists the PIDs in root's subtree (containers the kubelet left behind).
func cgroupProcs(root string) []int {
	var pids []int
	for _, h := range cgroupHierarchies(true) {
		_ = filepath.WalkDir(filepath.Join(h, root), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	return pids
}

// removeCgroupRoot removes root's (now empty) cgroups, deepest first.
func removeCgroupRoot(root string) error {
	var firstErr error
	for _, h := range cgroupHierarchies(true) {
		var dirs []string
		_ = filepath.WalkDir(filepath.Join(h, root), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(dirs[i]); err != nil && !os.IsNotExist(err) && firstErr == nil {
				firstErr = fmt.Errorf("removing cgroup %s: %w", dirs[i], err)
			}
		}
	}
	return firstErr
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.Count(out[i], "/") > strings.Count(out[j], "/") })
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountAll lazily unmounts everything under dir, deepest first, repeating because the
// kubelet bind-mounts its root dir onto itself (one path, several stacked mounts).
func unmountAll(dir string) error {
	for range 10 {
		mps, err := mountsUnder(dir)
		if err != nil || len(mps) == 0 {
			return err
		}
		for _, mp := range mps {
			_ = syscall.Unmount(mp, syscall.MNT_DETACH)
		}
	}
	mps, _ := mountsUnder(dir)
	if len(mps) > 0 {
		return fmt.Errorf("still mounted under %s: %v", dir, mps)
	}
	return nil
}
