package contract

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"text/template"
	"text/template/parse"
)

// TokenPaths are the Vault paths no secret may read: each answers with the agent's own Vault
// token or one derived from it (lookup-self, renew-self, create ...), and the agent never
// hands its token to the app. Matched as a path prefix, after an Enterprise namespace too
// ("team-a/auth/token/lookup-self").
var TokenPaths = []string{"auth/token/"}

// ValidateVaultPath accepts a clean relative Vault path such as secret/data/app or
// database/creds/app. It is the one check of a secret's path, at admission, when the agent
// starts, and for every path a template asks for.
func ValidateVaultPath(v string) error {
	if v == "" {
		return errors.New("must be a Vault path such as secret/data/app or database/creds/app")
	}
	if strings.HasPrefix(v, "/") || strings.HasSuffix(v, "/") || path.Clean(v) != v {
		return errors.New("must be a clean relative Vault path such as secret/data/app: no leading or trailing '/', '//', '.' or '..'")
	}
	for _, r := range v {
		if r <= ' ' || r == 0x7f || r == '?' || r == '#' || r == '%' {
			return fmt.Errorf("must not contain %q: use a plain Vault path such as secret/data/app", r)
		}
	}
	return RefuseTokenPath(v)
}

// RefuseTokenPath refuses a path under TokenPaths, in any spelling Vault would route there
// (extra or leading slashes, "." segments). Templates' paths get this check only: Vault Agent
// templates may spell paths loosely.
func RefuseTokenPath(v string) error {
	c := strings.Trim(path.Clean("/"+v), "/") + "/"
	for _, p := range TokenPaths {
		if strings.HasPrefix(c, p) || strings.Contains("/"+c, "/"+p) {
			return fmt.Errorf("is under %s, which answers with the agent's own Vault token: the agent never gives its token to the app; read the secret itself, or ask Vault for a token of the app's own", p)
		}
	}
	return nil
}

// TemplateVaultPaths are the constant paths a template passes to secret and pkiCert, for
// checking before it runs; paths the template computes are checked when it asks for them.
func TemplateVaultPaths(t *template.Template) []string {
	var paths []string
	WalkTemplates(t, func(n parse.Node) {
		if x, ok := n.(*parse.CommandNode); ok && len(x.Args) > 1 {
			if id, ok := x.Args[0].(*parse.IdentifierNode); ok && (id.Ident == "secret" || id.Ident == "pkiCert") {
				if s, ok := x.Args[1].(*parse.StringNode); ok {
					paths = append(paths, s.Text)
				}
			}
		}
	})
	return paths
}

// CheckTemplatePaths refuses a template that asks for a token path by a constant.
func CheckTemplatePaths(t *template.Template) error {
	for _, p := range TemplateVaultPaths(t) {
		if err := RefuseTokenPath(p); err != nil {
			return fmt.Errorf("secret %q %w", p, err)
		}
	}
	return nil
}
