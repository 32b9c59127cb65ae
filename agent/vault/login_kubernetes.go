package vault

import (
	"context"

	k8sauth "github.com/hashicorp/vault/api/auth/kubernetes"
)

// kubernetesLogin is Vault's kubernetes auth through api/auth/kubernetes: the projected
// service-account token and the role, which Vault checks with the TokenReview API.
type kubernetesLogin struct {
	c                     *APIClient
	ns, mount, role, file string // ns: a namespace prefix of the auth path (splitAuthPath)
}

// Login implements Method. The KubernetesAuth is built afresh each time because it reads the
// token file when built, and the kubelet rotates that file.
func (k *kubernetesLogin) Login(ctx context.Context) (Token, error) {
	path := loginPath(k.ns, "auth/"+k.mount+"/login")
	auth, err := k8sauth.NewKubernetesAuth(k.role,
		k8sauth.WithMountPath(k.mount), k8sauth.WithServiceAccountTokenPath(k.file))
	if err != nil {
		return Token{}, &Error{Op: "login", Path: path, Err: err}
	}
	// A clone without a token: Auth().Login sets the new token on the client it is given, and
	// the session, not the login, decides when reads start using it.
	c, err := k.c.with("")
	if err != nil {
		return Token{}, err
	}
	inNamespace(c, k.ns)
	s, err := c.Auth().Login(ctx, auth)
	if err != nil {
		return Token{}, wrap("login", path, err)
	}
	return Token{Value: s.Auth.ClientToken, TTL: Seconds(s.Auth.LeaseDuration), Renewable: s.Auth.Renewable}, nil
}
