package render

import (
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

// TestEnvRefusesShellVariables: a secret key "path" rendered PATH='...', and sourcing the file
// broke the app's PATH. Such keys are refused with the key named; near misses are fine.
func TestEnvRefusesShellVariables(t *testing.T) {
	for key, name := range map[string]string{
		"path": "PATH", "Path": "PATH", "home": "HOME", "ifs": "IFS", "ld_preload": "LD_PRELOAD",
		"ld-library-path": "LD_LIBRARY_PATH", "bash-env": "BASH_ENV", "BASH_FUNC_x%%": "BASH_FUNC_X__",
		"ps4": "PS4", "env": "ENV", "glibc.tunables": "GLIBC_TUNABLES", "dyld_insert_libraries": "DYLD_INSERT_LIBRARIES",
		"node-options": "NODE_OPTIONS", "pythonpath": "PYTHONPATH", "PYTHONSTARTUP": "PYTHONSTARTUP",
		"perl5opt": "PERL5OPT", "perl5lib": "PERL5LIB", "rubyopt": "RUBYOPT", "java_tool_options": "JAVA_TOOL_OPTIONS",
		"_java_options": "_JAVA_OPTIONS", "http_proxy": "HTTP_PROXY", "https-proxy": "HTTPS_PROXY", "no_proxy": "NO_PROXY",
	} {
		_, err := Format(contract.FormatEnv, map[string]any{key: "/tmp/evil", "user": "app"})
		if err == nil || !strings.Contains(err.Error(), `key "`+key+`" becomes `+name) {
			t.Errorf("key %q: err = %v", key, err)
		}
		if err != nil && strings.Contains(err.Error(), "/tmp/evil") {
			t.Errorf("key %q: the error holds the value: %v", key, err)
		}
	}
	out, err := Format(contract.FormatEnv, map[string]any{"paths": "a", "home_dir": "b", "xpath": "c", "user": "d", "ld": "e", "pwd": "f", "hostname": "g"})
	if err != nil || string(out) != "HOME_DIR='b'\nHOSTNAME='g'\nLD='e'\nPATHS='a'\nPWD='f'\nUSER='d'\nXPATH='c'\n" {
		t.Errorf("near misses: %q, %v", out, err)
	}
}
