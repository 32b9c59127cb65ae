// Package fake is an in-memory vault.Client for unit tests of the agent's loop: secrets by
// path, injectable errors, and token/lease expiry under the test's control.
package fake

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/vault-injector/vault-injector/agent/vault"
)

// Client is a fake vault.Client. The zero value is not usable; use New.
type Client struct {
	mu        sync.Mutex
	secrets   map[string]*vault.Secret
	errs      map[string]error
	loginErr  error
	valid     map[string]bool // tokens the fake Vault accepts
	token     string
	logins    int
	reads     map[string]int
	revoked   []string
	tokenDone chan error
	leaseDone map[string]chan error
	serial    int
	delay     time.Duration
}

var _ vault.Client = (*Client)(nil)

// New returns an empty fake Vault.
func New() *Client {
	return &Client{
		secrets: map[string]*vault.Secret{}, errs: map[string]error{}, valid: map[string]bool{},
		reads: map[string]int{}, tokenDone: make(chan error, 1), leaseDone: map[string]chan error{},
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

// ExpireToken invalidates the current token and fires the token watcher, as Vault does when a
// token reaches its max TTL.
func (c *Client) ExpireToken() {
	c.mu.Lock()
	delete(c.valid, c.token)
	c.mu.Unlock()
	c.tokenDone <- nil
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

// Logins, Reads and Revoked report what the agent did.
func (c *Client) Logins() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logins
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

func (c *Client) Login(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loginErr != nil {
		return c.loginErr
	}
	c.logins++
	c.serial++
	c.token = fmt.Sprintf("token-%d", c.serial)
	c.valid[c.token] = true
	return nil
}

func (c *Client) UseToken(ctx context.Context, token string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.valid[token] {
		return &vault.Error{Op: "lookup-self", Path: "auth/token/lookup-self", Status: 403, Errors: []string{"permission denied"}}
	}
	c.token = token
	return nil
}

func (c *Client) Token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

func (c *Client) LookupSelf(ctx context.Context) error { return c.UseToken(ctx, c.Token()) }

func (c *Client) Read(ctx context.Context, path string) (*vault.Secret, error) {
	c.mu.Lock()
	d := c.delay
	c.mu.Unlock()
	time.Sleep(d)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads[path]++
	if !c.valid[c.token] {
		return nil, &vault.Error{Op: "read", Path: path, Status: 403, Errors: []string{"permission denied"}}
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

func (c *Client) WatchToken(ctx context.Context, renewed func()) <-chan error {
	return c.tokenDone
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

func (c *Client) RevokeSelf(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.revoked = append(c.revoked, c.token)
	delete(c.valid, c.token)
	return nil
}
