package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

// writeToFile against a real Vault: the secret's key lands in its own file under the secrets
// dir with the mode asked for, beside the template's own file; a path outside is refused when
// the agent starts, naming it.
func TestWriteToFileRealVault(t *testing.T) {
	e := newEnv(t)
	e.putKV2("tls", map[string]any{"cert": "CERT", "key": "KEY"})
	cfg := e.config(contract.Secret{Name: "cert.pem", Path: "secret/data/tls", Compat: contract.CompatVaultAgent,
		Template: `{{ with secret "secret/data/tls" }}{{ .Data.data.cert }}{{ writeToFile "` + "DIR" + `/private/key.pem" "" "" "0400" .Data.data.key }}{{ end }}`})
	cfg.Secrets[0].Template = strings.Replace(cfg.Secrets[0].Template, "DIR", cfg.SecretsDir, 1)
	code, logs, stderr := e.runOnce(cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, logs)
	}
	if got := readFile(t, filepath.Join(cfg.SecretsDir, "cert.pem")); got != "CERT" {
		t.Errorf("cert.pem = %q", got)
	}
	key := filepath.Join(cfg.SecretsDir, "private", "key.pem")
	st, err := os.Stat(key)
	if got := readFile(t, key); got != "KEY" || err != nil || st.Mode().Perm() != 0o400 {
		t.Errorf("key.pem = %q, %v, %v; want KEY with mode 0400", got, st, err)
	}
	noLeaks(t, logs+stderr, "KEY")

	cfg.Secrets[0].Template = `{{ writeToFile "/tmp/key.pem" "" "" "0400" "x" }}`
	code, _, stderr = e.runOnce(cfg)
	if code == 0 || !strings.Contains(stderr, `writeToFile path "/tmp/key.pem" is outside the secrets volume`) {
		t.Errorf("exit %d: %s; want the path refused", code, stderr)
	}
}
