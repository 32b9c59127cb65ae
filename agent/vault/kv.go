package vault

import (
	"context"
	"strings"
	"sync"

	"github.com/hashicorp/vault/api"
)

// kvCache remembers the KV version of each mount, so detection costs one request per mount
// for the agent's lifetime, not one per read.
type kvCache struct {
	mu     sync.Mutex
	mounts map[string]int // mount path with trailing "/" -> KV version (0 = not KV)
}

// resolve returns the path to read and the KV version of its mount. KV v2 paths without the
// "data/" segment get it inserted, so "secret/app" and "secret/data/app" read the same secret.
func (k *kvCache) resolve(ctx context.Context, c *api.Client, path string) (string, int, error) {
	mount, version, ok := k.lookup(path)
	if !ok {
		var err error
		mount, version, err = detect(ctx, c, path)
		if err != nil {
			return "", 0, err
		}
		if mount == "" {
			// Unknown mount (no permission to ask): read the path as given.
			return path, 0, nil
		}
		k.store(mount, version)
	}
	if version != 2 {
		return path, version, nil
	}
	rel := strings.TrimPrefix(path, mount)
	if strings.HasPrefix(rel, "data/") {
		return path, 2, nil
	}
	return mount + "data/" + rel, 2, nil
}

func (k *kvCache) lookup(path string) (string, int, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	best, version, found := "", 0, false
	for m, v := range k.mounts {
		if strings.HasPrefix(path+"/", m) && len(m) > len(best) {
			best, version, found = m, v, true
		}
	}
	return best, version, found
}

func (k *kvCache) store(mount string, version int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.mounts == nil {
		k.mounts = map[string]int{}
	}
	k.mounts[mount] = version
}

// detect asks Vault which mount serves path and, for KV, which version: the same preflight
// request the Vault CLI makes (sys/internal/ui/mounts/<path>), which any token with some
// capability under the mount may call.
func detect(ctx context.Context, c *api.Client, path string) (string, int, error) {
	s, err := c.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+path)
	switch status := StatusOf(wrap("", "", err)); {
	case err != nil && (status == 403 || status == 404):
		return "", 0, nil
	case err != nil:
		return "", 0, wrap("read", "sys/internal/ui/mounts/"+path, err)
	case s == nil || s.Data == nil:
		return "", 0, nil
	}
	mount, _ := s.Data["path"].(string)
	if mount == "" {
		return "", 0, nil
	}
	typ, _ := s.Data["type"].(string)
	if typ != "kv" && typ != "generic" {
		return mount, 0, nil
	}
	version := 1
	if opts, ok := s.Data["options"].(map[string]any); ok {
		if v, _ := opts["version"].(string); v == "2" {
			version = 2
		}
	}
	return mount, version, nil
}
