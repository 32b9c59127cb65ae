package vault

import (
	"strings"

	"github.com/vault-injector/vault-injector/contract"
)

// NewMethod is the login auth configures, over c's connection: kubernetes auth unless
// auth.Method says jwt or token (contract.Auth). Each method reads its credential file afresh
// at every login, because the kubelet rotates projected tokens.
func NewMethod(c *APIClient, auth contract.Auth) Method {
	switch auth.Method {
	case contract.AuthToken:
		return &tokenFileLogin{tokens: c, file: auth.TokenFile}
	case contract.AuthJWT:
		return &jwtLogin{c: c, path: loginPath(auth.Path), role: auth.Role, file: auth.TokenFile}
	}
	return &kubernetesLogin{c: c, mount: mount(auth.Path), role: auth.Role, file: auth.TokenFile}
}

// mount is the auth mount without the "auth/" prefix: "auth/k8s-prod/" -> "k8s-prod".
func mount(authPath string) string {
	return strings.TrimPrefix(strings.Trim(authPath, "/"), "auth/")
}

func loginPath(authPath string) string { return "auth/" + mount(authPath) + "/login" }
