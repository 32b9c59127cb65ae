package vault

import (
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/vault-injector/vault-injector/contract"
)

// NewMethod is the login auth configures, over c's connection: kubernetes auth unless
// auth.Method says jwt or token (contract.Auth). Each method reads its credential file afresh
// at every login, because the kubelet rotates projected tokens.
func NewMethod(c *APIClient, auth contract.Auth) Method {
	ns, m := splitAuthPath(auth.Path)
	switch auth.Method {
	case contract.AuthToken:
		return &tokenFileLogin{tokens: c, file: auth.TokenFile}
	case contract.AuthJWT:
		return &jwtLogin{c: c, ns: ns, path: "auth/" + m + "/login", role: auth.Role, file: auth.TokenFile}
	}
	return &kubernetesLogin{c: c, ns: ns, mount: m, role: auth.Role, file: auth.TokenFile}
}

// splitAuthPath splits an auth path into a Vault Enterprise namespace prefix and the mount
// without "auth/": "auth/k8s-prod/" -> ("", "k8s-prod"); "us-west-org/auth/kubernetes" ->
// ("us-west-org", "kubernetes"), which Vault Agent (and so vault-k8s) logs in to at
// us-west-org/auth/kubernetes/login: a namespace prefix of the path.
func splitAuthPath(authPath string) (ns, mount string) {
	p := strings.Trim(authPath, "/")
	if m, ok := strings.CutPrefix(p, "auth/"); ok {
		return "", m
	}
	if i := strings.Index(p, "/auth/"); i > 0 {
		return p[:i], p[i+len("/auth/"):]
	}
	return "", p
}

// inNamespace points clone c at the child namespace ns of its own: a namespace header plus a
// path is the same request to Vault as the path prefixed with the namespace, and it keeps
// api/auth/kubernetes, which always logs in at auth/<mount>/login.
func inNamespace(c *api.Client, ns string) {
	if ns == "" {
		return
	}
	if parent := strings.Trim(c.Namespace(), "/"); parent != "" {
		ns = parent + "/" + ns
	}
	c.SetNamespace(ns)
}

// loginPath names a login in errors as Vault Agent would address it.
func loginPath(ns, path string) string {
	if ns == "" {
		return path
	}
	return ns + "/" + path
}
