package cluster

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// State is everything tear-down needs, saved to <run dir>/state.json after every step of the
// bring-up, so a crashed run (or `cluster down` in another process) can undo exactly what was
// done: the PIDs it started, its bridge, its cgroup root, its run dir.
type State struct {
	ID     string `json:"id"`
	RunDir string `json:"runDir"`
	// Owner is the process the cluster lives with (a test binary). A cluster whose owner is
	// gone is stale and the next Start removes it. Zero for a detached `cluster up`, which
	// lives until `cluster down`.
	Owner            Proc   `json:"owner"`
	NodeName         string `json:"nodeName"`
	Bridge           string `json:"bridge"`
	Subnet           string `json:"subnet"`
	Gateway          string `json:"gateway"`
	CgroupRoot       string `json:"cgroupRoot"`
	APIServerURL     string `json:"apiServerURL"`
	Kubeconfig       string `json:"kubeconfig"`
	CAFile           string `json:"caFile"`
	ContainerdSocket string `json:"containerdSocket"`
	Procs            []Proc `json:"procs"`
}

const stateFileName = "state.json"

// path joins elements under the run dir; every file of a run lives there.
func (s *State) path(elem ...string) string {
	return filepath.Join(append([]string{s.RunDir}, elem...)...)
}

// save writes the state atomically, so a crash mid-write leaves the previous version.
func (s *State) save() error {
	return writeStateFile(s.path(stateFileName), s)
}

func writeStateFile(file string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

// LoadState reads a state file written by Start or by `cluster up -state`.
func LoadState(file string) (*State, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", file, err)
	}
	if s.RunDir == "" || s.ID == "" {
		return nil, fmt.Errorf("%s names no run", file)
	}
	return &s, nil
}

// normalize re-derives every host-wide name from the run id instead of trusting the file: an
// empty cgroup root or socket path would otherwise match every process on the host.
func (s *State) normalize() error {
	if !isRunID(s.ID) || filepath.Base(s.RunDir) != s.ID || !filepath.IsAbs(s.RunDir) {
		return fmt.Errorf("state names no harness run (id %q, dir %q)", s.ID, s.RunDir)
	}
	s.Bridge, s.CgroupRoot = "vi"+s.ID, "/vi"+s.ID
	s.ContainerdSocket = s.path("containerd.sock")
	return nil
}

// live reports whether the run is still wanted: detached runs always are (until `down`),
// owned runs while their owner lives.
func (s *State) live() bool {
	if s.Owner.PID == 0 {
		return true
	}
	return s.Owner.alive()
}

// Proc returns the component process called name, if it was started.
func (s *State) proc(name string) (Proc, bool) {
	for _, p := range s.Procs {
		if p.Name == name {
			return p, true
		}
	}
	return Proc{}, false
}

// SaveStateTo writes the cluster's state to file as well, for `cluster down` to read.
func (c *Cluster) SaveStateTo(file string) error {
	return writeStateFile(file, &c.State)
}
