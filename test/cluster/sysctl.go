package cluster

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
)

// kubeletSysctls are the kernel settings the kubelet rewrites at start-up (unless
// protectKernelDefaults, which makes it refuse to start instead). The harness saves the host's
// values before the first kubelet of the host starts and restores them when the last run
// stops, so a test run leaves the machine's kernel settings as it found them.
var kubeletSysctls = []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops"}

const sysctlFileName = "sysctl-defaults.json"

// saveSysctls records the host's values unless an earlier live run already did (its record is
// the pre-kubelet one). It reports whether this run made the record.
func saveSysctls(base string) (bool, error) {
	file := filepath.Join(base, sysctlFileName)
	if _, err := os.Stat(file); err == nil {
		return false, nil
	}
	vals := map[string]string{}
	for _, k := range kubeletSysctls {
		b, err := os.ReadFile(filepath.Join("/proc/sys", k))
		if err != nil {
			return false, err
		}
		vals[k] = strings.TrimSpace(string(b))
	}
	b, _ := json.Marshal(vals)
	return true, os.WriteFile(file, b, 0o644)
}

// restoreSysctls puts the saved values back and forgets them; the caller makes sure no other
// run's kubelet is still up.
func restoreSysctls(base string) error {
	file := filepath.Join(base, sysctlFileName)
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var vals map[string]string
	if err := json.Unmarshal(b, &vals); err != nil {
		return err
	}
	for k, v := range vals {
		if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644); err != nil {
			return err
		}
	}
	return os.Remove(file)
}
