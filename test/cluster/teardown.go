package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Host paths outside any run dir where the kubelet and containerd leave per-pod entries; only
// entries that belong to the run are removed (see cleanHostPaths).
const (
	containerLogLinks = "/var/log/containers"
	cniResultsDir     = "/var/lib/cni/results"
)

// teardown undoes a run from its state alone, so it serves Stop, `cluster down` in another
// process, and stale runs. The order is the one measured in docs/real-cluster.md: pods first
// (while the kubelet can still stop sandboxes and release their addresses), then the node
// agents, containerd and its shims, the control plane, and last the host resources.
func teardown(s *State, base string, logf func(string, ...any)) error {
	if err := s.normalize(); err != nil {
		return err
	}
	var errs []error
	stopProcs(s, 5*time.Second, "kube-scheduler", "kube-controller-manager")
	if p, ok := s.proc("kubelet"); ok && p.alive() {
		deletePods(s, logf)
	}
	stopProcs(s, 10*time.Second, "kubelet", "kube-proxy")
	if _, ok := s.proc("kube-proxy"); ok {
		cleanupKubeProxy(logf)
	}
	// Whatever the kubelet did not stop: every process in the run's cgroup tree.
	for _, pid := range cgroupProcs(s.CgroupRoot) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	stopProcs(s, 10*time.Second, "containerd")
	// Shims re-parent themselves away from containerd; each names its containerd's socket.
	for _, p := range procsWithArg(func(a string) bool { return a == s.ContainerdSocket }) {
		p.stop(2 * time.Second)
	}
	stopProcs(s, 10*time.Second, "kube-apiserver", "etcd")
	// Anything else still holding a path in the run dir (a crashed bring-up's stray child).
	for _, p := range procsWithArg(func(a string) bool { return strings.Contains(a, s.RunDir+"/") }) {
		p.stop(2 * time.Second)
	}
	if err := unmountAll(s.RunDir); err != nil {
		errs = append(errs, err)
	}
	if err := deleteBridge(s.Bridge); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroupRoot(s.CgroupRoot); err != nil {
		errs = append(errs, err)
	}
	cleanHostPaths(s)
	if err := restoreHostIfLast(base, s.ID); err != nil {
		errs = append(errs, fmt.Errorf("restoring kernel settings: %w", err))
	}
	// Never remove a dir something is still mounted under: RemoveAll would descend into it.
	if mps, _ := mountsUnder(s.RunDir); len(mps) == 0 {
		if err := os.RemoveAll(s.RunDir); err != nil {
			errs = append(errs, err)
		}
	} else {
		errs = append(errs, fmt.Errorf("kept %s: still mounted: %v", s.RunDir, mps))
	}
	return errors.Join(errs...)
}

func stopProcs(s *State, grace time.Duration, names ...string) {
	for _, name := range names {
		if p, ok := s.proc(name); ok {
			p.stop(grace)
		}
	}
}

// deletePods deletes every pod with a short grace period and waits for the kubelet to report
// them gone, which it does once their sandboxes are stopped and their IPs released. The
// controllers are already stopped, so nothing recreates them, and nothing would remove the
// Job controller's tracking finalizer either: the harness drops finalizers itself.
func deletePods(s *State, logf func(string, ...any)) {
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		return
	}
	cfg.Timeout = 5 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) == 0 {
		return
	}
	logf("deleting %d pods", len(pods.Items))
	grace := int64(2)
	for _, p := range pods.Items {
		_ = cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
		if len(p.Finalizers) > 0 {
			_, _ = cs.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		}
	}
	for ctx.Err() == nil {
		left, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err == nil && len(left.Items) == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	logf("pods still present after 45s; killing their processes")
}

// cleanHostPaths removes this run's entries from the host paths that are not configurable:
// container log links pointing into the run dir, and the CNI result caches of its network and
// of its sandboxes' loopback networks (left behind when containerd died before a CNI DEL).
func cleanHostPaths(s *State) {
	links, _ := os.ReadDir(containerLogLinks)
	for _, l := range links {
		p := filepath.Join(containerLogLinks, l.Name())
		if target, err := os.Readlink(p); err == nil && strings.HasPrefix(target, s.RunDir+"/") {
			_ = os.Remove(p)
		}
	}
	sandboxes, _ := os.ReadDir(s.path("containerd", "root", "io.containerd.grpc.v1.cri", "sandboxes"))
	results, _ := os.ReadDir(cniResultsDir)
	for _, r := range results {
		mine := strings.HasPrefix(r.Name(), "vi"+s.ID+"-")
		for _, sb := range sandboxes {
			mine = mine || strings.Contains(r.Name(), "-"+sb.Name()+"-")
		}
		if mine {
			_ = os.Remove(filepath.Join(cniResultsDir, r.Name()))
		}
	}
}

// Paths the kubelet hardcodes; the last run to stop removes its socket and the dirs if empty.
var kubeletHostPaths = []string{"/var/lib/kubelet/device-plugins/kubelet.sock", "/var/lib/kubelet/device-plugins", "/var/lib/kubelet", containerLogLinks}

// restoreHostIfLast restores the host's kernel settings, and removes the kubelet's
// hardcoded host paths, once no other run's kubelet is up.
func restoreHostIfLast(base, self string) error {
	for _, s := range runStates(base) {
		if s.ID == self {
			continue
		}
		if p, ok := s.proc("kubelet"); ok && p.alive() {
			return nil
		}
	}
	for _, p := range kubeletHostPaths {
		_ = syscall.Rmdir(p)
		if filepath.Ext(p) == ".sock" {
			_ = os.Remove(p)
		}
	}
	return restoreSysctls(base)
}

// runStates reads the state of every run dir under base; a dir without a readable state gets
// a minimal one (its id and path), enough to remove it.
func runStates(base string) []*State {
	entries, _ := os.ReadDir(base)
	var out []*State
	for _, e := range entries {
		if !e.IsDir() || !isRunID(e.Name()) {
			continue
		}
		dir := filepath.Join(base, e.Name())
		s, err := LoadState(filepath.Join(dir, stateFileName))
		if err != nil {
			s = &State{ID: e.Name(), RunDir: dir, Bridge: "vi" + e.Name(), CgroupRoot: "/vi" + e.Name(), Owner: Proc{PID: -1}}
		}
		out = append(out, s)
	}
	return out
}

func isRunID(name string) bool {
	if len(name) != 6 {
		return false
	}
	for _, r := range name {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

// cleanStale tears down every run whose owner has gone (a test binary that crashed or was
// killed before its Stop), and removes harness bridges and cgroups that belong to no run dir.
// Every run on a host must therefore use the same BaseDir (the default does).
func cleanStale(base string, logf func(string, ...any)) {
	known := map[string]bool{}
	for _, s := range runStates(base) {
		known[s.Bridge] = true
		if s.live() {
			continue
		}
		logf("removing stale run %s (its owner is gone)", s.ID)
		if err := teardown(s, base, logf); err != nil {
			logf("stale run %s: %v", s.ID, err)
		}
	}
	ifaces, _ := os.ReadDir("/sys/class/net")
	for _, i := range ifaces {
		name := i.Name()
		if strings.HasPrefix(name, "vi") && isRunID(name[2:]) && !known[name] {
			logf("removing orphaned bridge %s", name)
			_ = deleteBridge(name)
		}
	}
	// Empty cgroups of runs whose dir is gone; rmdir leaves any that still hold processes.
	for _, h := range cgroupHierarchies(true) {
		entries, _ := os.ReadDir(h)
		for _, e := range entries {
			if name := e.Name(); e.IsDir() && strings.HasPrefix(name, "vi") && isRunID(name[2:]) && !known[name] {
				_ = removeCgroupRoot("/" + name)
			}
		}
	}
}

// Down tears down the cluster described by a state file (written by `cluster up`), then
// removes the file.
func Down(stateFile string, logf func(string, ...any)) error {
	s, err := LoadState(stateFile)
	if err != nil {
		return err
	}
	base := filepath.Dir(s.RunDir)
	unlock, err := lockBase(base)
	if err != nil {
		return err
	}
	defer unlock()
	if err := teardown(s, base, logf); err != nil {
		return err
	}
	return os.Remove(stateFile)
}
