package render

import (
	"fmt"
	"strings"
)

// envFile renders KEY='value' lines, sorted by key, that `source`, `set -a; . file` and
// docker-style env parsers read safely: keys are upper-cased and reduced to [A-Z0-9_], values
// are single-quoted so nothing in them is expanded.
func envFile(values map[string]any) ([]byte, error) {
	var b strings.Builder
	seen := make(map[string]string, len(values))
	for _, k := range keys(values) {
		ek := envKey(k)
		if prev, dup := seen[ek]; dup {
			return nil, fmt.Errorf("format env: keys %q and %q both become %s", prev, k, ek)
		}
		seen[ek] = k
		if reservedEnv(ek) {
			return nil, fmt.Errorf("format env: key %q becomes %s, which sourcing the file would set in the app's shell, replacing what the shell or the dynamic loader relies on; rename the key in Vault, or use a template", k, ek)
		}
		fmt.Fprintf(&b, "%s=%s\n", ek, shellQuote(scalar(values[k])))
	}
	return []byte(b.String()), nil
}

// ReservedEnv and ReservedEnvPrefixes are the variables the env format refuses to set: sourcing
// `PATH='…'` or `LD_PRELOAD='…'` from a secret would break or hijack the app's shell and every
// program it starts (search paths, the dynamic loader and libc, shell parsing and startup
// files, prompts that the shell expands, bash's read-only variables), the hooks through which
// interpreters and runtimes load code (NODE_OPTIONS, PYTHONPATH, JAVA_TOOL_OPTIONS ...), and the
// proxy variables that would route the app's traffic elsewhere. Names common as secret
// keys whose clobbering is harmless (USER, HOSTNAME, PWD) are not on it. The list is in
// docs/agent.md.
var (
	ReservedEnv = []string{
		"PATH", "HOME", "IFS", "ENV", "CDPATH", "SHELL", "SHELLOPTS", "BASHOPTS", "PS1", "PS2", "PS3",
		"PS4", "PROMPT_COMMAND", "OPTIND", "OPTARG", "UID", "EUID", "PPID", "TMPDIR",
		"GLIBC_TUNABLES", "GCONV_PATH", "LOCPATH", "NLSPATH", "HOSTALIASES", "RESOLV_HOST_CONF",
		// Interpreter and runtime hooks: each makes the app's runtime load or run code it names.
		"NODE_OPTIONS", "NODE_PATH", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PYTHONINSPECT",
		"PERL5OPT", "PERL5LIB", "PERLLIB", "PERL5DB", "RUBYOPT", "RUBYLIB",
		"JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH",
		// Proxies: they would send the app's traffic, credentials included, through another host.
		"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "FTP_PROXY",
	}
	ReservedEnvPrefixes = []string{"LD_", "DYLD_", "BASH_"}
)

func reservedEnv(name string) bool {
	for _, r := range ReservedEnv {
		if name == r {
			return true
		}
	}
	for _, p := range ReservedEnvPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// envKey makes a shell variable name: "db-password" -> "DB_PASSWORD", "1x" -> "_1X".
func envKey(k string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(k) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		s = "_" + s
	}
	return s
}

// shellQuote wraps s in single quotes; an embedded quote becomes '\” (close, escaped quote,
// reopen), the only character single quotes cannot hold.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
