// Package fake is an in-memory Vault for unit tests of the agent's loop and token session:
// secrets by path, injectable errors, tokens the fake accepts or forgets, and lease expiry
// under the test's control. A Client is a vault.Conn and, through Login, a vault.Method.
package fake

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/vault-injector/vault-injector/agent/vault"
)

// TokenTTL is the lifetime of the fake's tokens unless SetTokenTTL says otherwise: short, so a
// session renews often and notices an ExpireToken within 2/3 of it.
const TokenTTL = 300 * time.Millisecond

// Client is a fake Vault. The zero value is not usable; use New.
type Client struct {
	mu          sync.Mutex
	secrets     map[string]*vault.Secret
	errs        map[string]error
	loginErr    error
	renewErr    error
	revokeHangs bool
	valid       map[string]bool // tokens the fake Vault accepts
	tokenTTL    time.Duration
	token       string // the one reads carry
	logins      int
	renewals    int
	reads       map[string]int
	revoked     []string
	leaseDone   map[string]chan error
	serial      int
	delay       time.Duration
}

var (
	_ vault.Conn   = (*Client)(nil)
	_ vault.Method = (*Client)(nil)
)

// New returns an empty fake Vault.
func New() *Client {
	return &Client{
		secrets: map[string]*vault.Secret{}, errs: map[string]error{}, valid: map[string]bool{},
		reads: map[string]int{}, leaseDone: map[string]chan error{}, tokenTTL: TokenTTL,
	}
}

// Put stores a secret at path. leaseSeconds > 0 gives every read a fresh lease ID.
func (c *Client) Put(path string, kv int, data map[string]any, leaseSeconds int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secrets[path] = &vault.Secret{Path: path, KVVersion: kv, Data: data, LeaseDuration: leaseSeconds}
}

// Fail makes reads of path fail with err (nil clears it).
func (c *Client) Fail(path string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs[path] = err
}

// Delay makes every read take d (a slow Vault).
func (c *Client) Delay(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.delay = d
}

// FailLogin makes logins fail with err (nil clears it).
func (c *Client) FailLogin(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loginErr = err
}

// FailRenewal makes token renewals fail with err (nil clears it).
func (c *Client) FailRenewal(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.renewErr = err
}

// HangRevoke makes revocations wait until their context ends (a Vault that stopped answering).
func (c *Client) HangRevoke() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.revokeHangs = true
}

// SetTokenTTL sets the lifetime of tokens issued, looked up or renewed from now on; 0 makes
// them never expire (no renewal).
func (c *Client) SetTokenTTL(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tokenTTL = d
}

// ExpireToken makes Vault forget the token reads carry, as when it reaches its max TTL or is
// revoked: reads with it are refused (403), and so is its next renewal.
func (c *Client) ExpireToken() {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.valid, c.token)
}

// ExpireLease fires the watcher of the lease last issued for path.
func (c *Client) ExpireLease(path string) {
	c.mu.Lock()
	ch := c.leaseDone[path]
	c.mu.Unlock()
	if ch != nil {
		ch <- nil
	}
}

// AddToken makes Vault accept token (e.g. a handed-over one).
func (c *Client) AddToken(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.valid[token] = true
}

// Logins, Renewals, Reads, Revoked and Token report what the agent did.
func (c *Client) Logins() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logins
}

func (c *Client) Renewals() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.renewals
}

func (c *Client) Reads(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads[path]
}

func (c *Client) Revoked() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.revoked...)
}

// Token is the token reads carry (the one the session installed).
func (c *Client) Token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// Login implements vault.Method: a new token "token-<n>".
func (c *Client) Login(ctx context.Context) (vault.Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loginErr != nil {
		return vault.Token{}, c.loginErr
	}
	c.logins++
	c.serial++
	t := fmt.Sprintf("token-%d", c.serial)
	c.valid[t] = true
	return c.tokenLocked(t), nil
}

func (c *Client) tokenLocked(t string) vault.Token {
	return vault.Token{Value: t, TTL: c.tokenTTL, Renewable: c.tokenTTL > 0}
}

func denied(op, path string) error {
	return &vault.Error{Op: op, Path: path, Status: 403, Errors: []string{"permission denied"}}
}

func (c *Client) LookupToken(ctx context.Context, token string) (vault.Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid[token] {
		return vault.Token{}, denied("lookup-self", "auth/token/lookup-self")
	}
	return c.tokenLocked(token), nil
}

func (c *Client) RenewToken(ctx context.Context, token string, increment time.Duration) (vault.Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.renewErr != nil:
		return vault.Token{}, c.renewErr
	case !c.valid[token]:
		return vault.Token{}, denied("renew-self", "auth/token/renew-self")
	}
	c.renewals++
	return c.tokenLocked(token), nil
}

func (c *Client) RevokeToken(ctx context.Context, token string) error {
	c.mu.Lock()
	hang := c.revokeHangs
	c.mu.Unlock()
	if hang {
		<-ctx.Done()
		return &vault.Error{Op: "revoke-self", Path: "auth/token/revoke-self", Err: ctx.Err()}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.revoked = append(c.revoked, token)
	delete(c.valid, token)
	return nil
}

func (c *Client) SetToken(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token = token
}

func (c *Client) Read(ctx context.Context, path string) (*vault.Secret, error) {
	c.mu.Lock()
	d := c.delay
	c.mu.Unlock()
	time.Sleep(d)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads[path]++
	if !c.valid[c.token] {
		return nil, denied("read", path)
	}
	if err := c.errs[path]; err != nil {
		return nil, err
	}
	s, ok := c.secrets[path]
	if !ok {
		return nil, &vault.Error{Op: "read", Path: path, Status: 404, Errors: []string{"no secret at this path"}}
	}
	out := *s
	out.Data = maps.Clone(s.Data)
	if s.LeaseDuration > 0 {
		c.serial++
		out.LeaseID = fmt.Sprintf("%s/lease-%d", path, c.serial)
		out.Renewable = true
	}
	return &out, nil
}

func (c *Client) Write(ctx context.Context, path string, data map[string]any) (*vault.Secret, error) {
	return c.Read(ctx, path)
}

func (c *Client) WatchLease(ctx context.Context, s *vault.Secret, renewed func()) <-chan error {
	if !s.Leased() {
		return make(chan error)
	}
	ch := make(chan error, 1)
	c.mu.Lock()
	c.leaseDone[s.Path] = ch
	c.mu.Unlock()
	return ch
}
