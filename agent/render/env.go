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
		fmt.Fprintf(&b, "%s=%s\n", ek, shellQuote(scalar(values[k])))
	}
	return []byte(b.String()), nil
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
