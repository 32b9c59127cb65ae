package corpus

import (
	"strings"
	"testing"
)

// TestFiles holds the oracle to the destinations vault-k8s' own tests expect (agent-inject/agent:
// TestFilePathAndName, TestSecretAnnotationsWithPreserveCase..., the token sink in
// TestConfigVaultAgentTemplateConfig).
func TestFiles(t *testing.T) {
	for _, c := range []struct {
		ann  map[string]string
		want string
	}{
		{map[string]string{"agent-inject-secret-foo": "db/creds/foo"}, "/vault/secrets/foo"},
		{map[string]string{"agent-inject-secret-foo": "db/creds/foo", "agent-inject-file-foo": "nested/foofile"}, "/vault/secrets/nested/foofile"},
		{map[string]string{"agent-inject-secret-foo": "db/creds/foo", "agent-inject-file-foo": "/special/volume/foofile"}, "/vault/secrets/special/volume/foofile"},
		{map[string]string{"agent-inject-secret-foo": "db/creds/foo", "agent-inject-file-foo": "/special/foofile", "secret-volume-path": "/new/mount/path"}, "/new/mount/path/special/foofile"},
		{map[string]string{"agent-inject-secret-foo": "db/creds/foo", "agent-inject-file-foo": "nested/foofile", "secret-volume-path-foo": "/new/mount/path/"}, "/new/mount/path/nested/foofile"},
		{map[string]string{"agent-inject-secret-FOOBAR": "test2"}, "/vault/secrets/foobar"},
		{map[string]string{"agent-inject-secret-FOOBAR_EXPLICIT": "test2", "preserve-secret-case-FOOBAR_EXPLICIT": "true"}, "/vault/secrets/FOOBAR_EXPLICIT"},
		{map[string]string{"agent-inject-secret-Ab": "x", "preserve-secret-case": "true"}, "/vault/secrets/Ab"},
		{map[string]string{"agent-inject-template-just-template": "{{ . }}"}, "/vault/secrets/just-template"},
		{map[string]string{"agent-inject-secret-": "test5", "agent-inject-secret-empty": " "}, ""},
		{map[string]string{"agent-inject-token": "true", "secret-volume-path": "/etc/x"}, "/etc/x/token"},
	} {
		ann := map[string]string{}
		for k, v := range c.ann {
			ann[Prefix+k] = v
		}
		if got := strings.Join(Files(ann), ","); got != c.want {
			t.Errorf("%v: vault-k8s writes %q, the oracle says %q", c.ann, c.want, got)
		}
	}
}
