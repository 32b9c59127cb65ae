package cluster

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNormalizeRefusesForeignState(t *testing.T) {
	for name, s := range map[string]State{
		"empty":          {},
		"no run id":      {ID: "tmp", RunDir: "/tmp"},
		"dir mismatch":   {ID: "abc123", RunDir: "/tmp/vi-cluster/other"},
		"relative dir":   {ID: "abc123", RunDir: "abc123"},
		"uppercase id":   {ID: "ABC123", RunDir: "/tmp/ABC123"},
		"too long an id": {ID: "abc1234", RunDir: "/tmp/abc1234"},
	} {
		if err := s.normalize(); err == nil {
			t.Errorf("%s: normalize accepted %+v", name, s)
		}
	}
	// Host-wide names come from the id, whatever the file said: an empty cgroup root would
	// match every process on the host.
	s := State{ID: "abc123", RunDir: "/tmp/vi-cluster/abc123", CgroupRoot: "", Bridge: "eth0"}
	if err := s.normalize(); err != nil {
		t.Fatal(err)
	}
	if s.CgroupRoot != "/viabc123" || s.Bridge != "viabc123" || s.ContainerdSocket != "/tmp/vi-cluster/abc123/containerd.sock" {
		t.Errorf("normalized = %+v", s)
	}
}

func TestStateRoundTripAndLiveness(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "abc123")
	self := Proc{PID: os.Getpid()}
	self.Start, _ = startTime(self.PID)
	s := &State{ID: "abc123", RunDir: dir, Owner: self, Procs: []Proc{{Name: "etcd", PID: 1}}}
	if err := s.save(); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(filepath.Join(dir, stateFileName))
	if err != nil {
		t.Fatal(err)
	}
	if !got.live() {
		t.Error("a run owned by this live process is not live")
	}
	got.Owner.Start++ // a recycled PID: same number, other process
	if got.live() {
		t.Error("a run whose owner PID was recycled is live")
	}
	got.Owner = Proc{}
	if !got.live() {
		t.Error("a detached run is not live")
	}
	if p, ok := got.proc("etcd"); !ok || p.PID != 1 {
		t.Errorf("proc(etcd) = %+v %v", p, ok)
	}
}

func TestRunStatesFindsDirsWithoutState(t *testing.T) {
	base := t.TempDir()
	for _, d := range []string{"abc123", "not-a-run", "0f0f0f"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	states := runStates(base)
	if len(states) != 2 {
		t.Fatalf("runStates = %d entries, want the 2 run dirs", len(states))
	}
	for _, s := range states {
		if s.live() {
			t.Errorf("a run dir without state counts as live: %+v", s)
		}
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/tmp/a\040b\134c`); got != `/tmp/a b\c` {
		t.Errorf("unescapeMount = %q", got)
	}
}

func TestConfigsCarryTheHostWorkarounds(t *testing.T) {
	s := &State{ID: "abc123", RunDir: "/tmp/vi-cluster/abc123", Subnet: "10.88.3.0/24", Gateway: "10.88.3.1"}
	if err := s.normalize(); err != nil {
		t.Fatal(err)
	}
	ctrd := containerdConfig(s)
	for _, want := range []string{"restrict_oom_score_adj = true", "netns_mounts_under_state_dir = true", "SystemdCgroup = false", `"/tmp/vi-cluster/abc123/cni/net.d"`} {
		if !strings.Contains(ctrd, want) {
			t.Errorf("containerd config lacks %s", want)
		}
	}
	var kubelet map[string]any
	b, _ := kubeletConfig(s, kubeletPorts{1, 2}, "c", "k")
	if err := json.Unmarshal(b, &kubelet); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"failCgroupV1": false, "cgroupDriver": "cgroupfs", "failSwapOn": false, "cgroupRoot": "/viabc123", "address": "10.88.3.1", "imageGCHighThresholdPercent": 100.0} {
		if kubelet[k] != want {
			t.Errorf("kubelet %s = %v, want %v", k, kubelet[k], want)
		}
	}
	var cni struct {
		Plugins []struct {
			Bridge string
			IPMasq bool
			IPAM   struct{ Routes []any }
		}
	}
	b, _ = cniConfig(s, false)
	if err := json.Unmarshal(b, &cni); err != nil {
		t.Fatal(err)
	}
	if p := cni.Plugins[0]; p.Bridge != "viabc123" || p.IPMasq || len(p.IPAM.Routes) != 0 {
		t.Errorf("cni plugin = %+v", p)
	}
}
