package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/vault/api"
)

// The token calls go through a clone of the API client carrying the token they are about, so
// they never change (or depend on) the token reads carry.

// LookupToken implements Tokens.
func (a *APIClient) LookupToken(ctx context.Context, token string) (Token, error) {
	if token == "" {
		return Token{}, &Error{Op: "lookup-self", Path: "auth/token/lookup-self", Err: errors.New("empty token")}
	}
	c, err := a.with(token)
	if err != nil {
		return Token{}, err
	}
	s, err := c.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return Token{}, wrap("lookup-self", "auth/token/lookup-self", err)
	}
	ttl, err := s.TokenTTL()
	if err != nil {
		return Token{}, fmt.Errorf("parsing token ttl: %w", err)
	}
	renewable, _ := s.TokenIsRenewable()
	return Token{Value: token, TTL: clampTTL(ttl), Renewable: renewable}, nil
}

// RenewToken implements Tokens.
func (a *APIClient) RenewToken(ctx context.Context, token string, increment time.Duration) (Token, error) {
	c, err := a.with(token)
	if err != nil {
		return Token{}, err
	}
	s, err := c.Auth().Token().RenewSelfWithContext(ctx, int(increment.Seconds()))
	if err != nil {
		return Token{}, wrap("renew-self", "auth/token/renew-self", err)
	}
	if s == nil || s.Auth == nil {
		return Token{}, &Error{Op: "renew-self", Path: "auth/token/renew-self", Status: 200, Errors: []string{"no auth in the answer"}}
	}
	return Token{Value: token, TTL: Seconds(s.Auth.LeaseDuration), Renewable: s.Auth.Renewable}, nil
}

// RevokeToken implements Tokens.
func (a *APIClient) RevokeToken(ctx context.Context, token string) error {
	c, err := a.with(token)
	if err != nil {
		return err
	}
	if err := c.Auth().Token().RevokeSelfWithContext(ctx, ""); err != nil {
		return wrap("revoke-self", "auth/token/revoke-self", err)
	}
	return nil
}

// SetToken implements Tokens.
func (a *APIClient) SetToken(token string) { a.c.SetToken(token) }

// with is a clone of the API client (same transport and namespace header) carrying token.
func (a *APIClient) with(token string) (*api.Client, error) {
	c, err := a.c.CloneWithHeaders()
	if err != nil {
		return nil, fmt.Errorf("cloning the Vault client: %w", err)
	}
	c.SetToken(token)
	return c, nil
}
