package vault

import (
	"context"
	"errors"
	"os"
	"strings"
)

// jwtLogin is Vault's jwt method: the projected token and the role posted to
// auth/<mount>/login. Vault checks the token's signature and audience itself, so no token
// reviewer is involved.
type jwtLogin struct {
	c                    *APIClient
	ns, path, role, file string // ns: a namespace prefix of the auth path (splitAuthPath)
}

// Login implements Method, reading the token file afresh (the kubelet rotates it).
func (j *jwtLogin) Login(ctx context.Context) (Token, error) {
	where := loginPath(j.ns, j.path)
	b, err := os.ReadFile(j.file)
	if err != nil {
		return Token{}, &Error{Op: "login", Path: where, Err: err}
	}
	c, err := j.c.with("")
	if err != nil {
		return Token{}, err
	}
	inNamespace(c, j.ns)
	s, err := c.Logical().WriteWithContext(ctx, j.path, map[string]any{
		"role": j.role, "jwt": strings.TrimSpace(string(b)),
	})
	if err != nil {
		return Token{}, wrap("login", where, err)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return Token{}, &Error{Op: "login", Path: where, Err: errors.New("no token in Vault's answer")}
	}
	return Token{Value: s.Auth.ClientToken, TTL: Seconds(s.Auth.LeaseDuration), Renewable: s.Auth.Renewable}, nil
}
