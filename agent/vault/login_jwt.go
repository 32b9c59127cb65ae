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
	c                *APIClient
	path, role, file string
}

// Login implements Method, reading the token file afresh (the kubelet rotates it).
func (j *jwtLogin) Login(ctx context.Context) (Token, error) {
	b, err := os.ReadFile(j.file)
	if err != nil {
		return Token{}, &Error{Op: "login", Path: j.path, Err: err}
	}
	c, err := j.c.with("")
	if err != nil {
		return Token{}, err
	}
	s, err := c.Logical().WriteWithContext(ctx, j.path, map[string]any{
		"role": j.role, "jwt": strings.TrimSpace(string(b)),
	})
	if err != nil {
		return Token{}, wrap("login", j.path, err)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return Token{}, &Error{Op: "login", Path: j.path, Err: errors.New("no token in Vault's answer")}
	}
	return Token{Value: s.Auth.ClientToken, TTL: Seconds(s.Auth.LeaseDuration), Renewable: s.Auth.Renewable}, nil
}
