package vaultserver

import (
	"context"
	"fmt"

	"github.com/hashicorp/vault/api"
)

// PutPolicy writes an ACL policy with the root token.
func (s *Server) PutPolicy(ctx context.Context, name, hcl string) error {
	c, err := s.Client()
	if err != nil {
		return err
	}
	return c.Sys().PutPolicyWithContext(ctx, name, hcl)
}

// CreateToken makes an orphan token with the policies and TTL (e.g. "1h"); explicitMax, if
// set, caps its renewals. Orphan, so revoking it does not depend on the root token's tree.
func (s *Server) CreateToken(ctx context.Context, ttl, explicitMax string, policies ...string) (string, error) {
	c, err := s.Client()
	if err != nil {
		return "", err
	}
	sec, err := c.Auth().Token().CreateOrphanWithContext(ctx, &api.TokenCreateRequest{
		Policies: policies, TTL: ttl, ExplicitMaxTTL: explicitMax, NoDefaultPolicy: false,
	})
	if err != nil {
		return "", err
	}
	if sec == nil || sec.Auth == nil {
		return "", fmt.Errorf("token create returned no auth")
	}
	return sec.Auth.ClientToken, nil
}

// TokenValid reports whether Vault still accepts token.
func (s *Server) TokenValid(ctx context.Context, token string) bool {
	c, err := s.Client()
	if err != nil {
		return false
	}
	c.SetToken(token)
	_, err = c.Auth().Token().LookupSelfWithContext(ctx)
	return err == nil
}
