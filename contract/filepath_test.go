package contract_test

import (
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
	"github.com/vault-injector/vault-injector/internal/atomicdir"
)

// TestFilePathOneValidator: "file-x: ." was admitted by the webhook and refused by the agent,
// so the pod never got its secrets. ValidateFilePath is the one check both run; every path it
// accepts must also be writable by the agent's atomic writer, and what it refuses is refused
// with the reason.
func TestFilePathOneValidator(t *testing.T) {
	for _, p := range []string{"db.json", "tls/ca.pem", "a/b/c", "données/clé.json", ".hidden", "a.", "x..y", strings.Repeat("é", 127) + "x"} {
		if err := contract.ValidateFilePath(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
			continue
		}
		if _, err := atomicdir.Write(t.TempDir(), []atomicdir.File{{Path: p, Data: []byte("x"), Mode: 0o400}}); err != nil {
			t.Errorf("%q: accepted by ValidateFilePath, refused by the writer: %v", p, err)
		}
	}
	for p, want := range map[string]string{
		"": "empty", ".": "secrets directory itself", "..": "'..' is not allowed", "a/..b": "'..' is not allowed",
		"/etc/x": "absolute", "a//b": "not clean", "a/": "not clean", "./a": "not clean", `a\\b`: "not clean",
		".version": "version file", "db\u200b": "invisible character U+200B", "\ufeffdb": "invisible character U+FEFF",
		"a\u2028b": "invisible character U+2028", "a\u2029b": "invisible character U+2029", "a\u202eb": "bidirectional-text control",
		"a\x00b": "control character U+0000", "a\xffb": "not valid UTF-8", strings.Repeat("x", 256): "256 bytes long",
	} {
		err := contract.ValidateFilePath(p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", p, err, want)
		}
	}
}
