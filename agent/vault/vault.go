// Package vault is the agent's narrow view of Vault. A Session owns the agent's token: it logs
// in with a Method (kubernetes, jwt, a token file), reuses or leaves a handed-over token, renews
// the token, notices when it is lost and revokes it at the end. Client reads or writes a
// logical path (with KV v2 detection) and watches leases, with the token its session installed.
// The rest of the agent depends on these interfaces only, so unit tests run against the
// in-memory fake in vault/fake.
package vault

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Client is what rendering needs from Vault. Every call carries the token the Session last
// installed with Tokens.SetToken.
type Client interface {
	// Read reads a logical path; for KV v2 mounts "secret/x" is read as "secret/data/x".
	Read(ctx context.Context, path string) (*Secret, error)
	// Write writes data to path and returns the response, for endpoints that issue secrets on
	// write (e.g. pki/issue/<role>).
	Write(ctx context.Context, path string, data map[string]any) (*Secret, error)
	// WatchLease renews a secret's lease until it can no longer be extended; the channel then
	// yields (nil or the last renewal error) and the secret must be fetched again. renewed is
	// called after each successful renewal. A secret without a lease never fires.
	WatchLease(ctx context.Context, s *Secret, renewed func()) <-chan error
}

// Tokens is what a Session needs from Vault. Each call names the token it is about rather than
// using the one reads carry, so a renewal keeps renewing the token it watches even after a
// login replaced it, and checking a handed-over token changes nothing until it is accepted.
type Tokens interface {
	// LookupToken asks Vault about token (lookup-self): an error if Vault does not accept it.
	LookupToken(ctx context.Context, token string) (Token, error)
	// RenewToken renews token (renew-self) by increment and returns its new lifetime.
	RenewToken(ctx context.Context, token string, increment time.Duration) (Token, error)
	// RevokeToken revokes token (revoke-self), and with it the leases it created.
	RevokeToken(ctx context.Context, token string) error
	// SetToken makes token the one Client's reads and writes carry.
	SetToken(token string)
}

// Conn is a connection to Vault: what the runner reads with and its Session keeps the token of.
type Conn interface {
	Client
	Tokens
}

// Method is one way to log in. Each Login asks Vault for a new token and leaves every client's
// current token alone; the Session decides what to do with the new one.
type Method interface {
	Login(ctx context.Context) (Token, error)
}

// Token is a Vault token and its lifetime as Vault last reported it. Never log Value.
type Token struct {
	Value     string
	TTL       time.Duration // 0: does not expire
	Renewable bool
}

// Secret is one Vault response, shaped like Vault Agent's template data so that templates
// written for Vault Agent (".Data.data.key" for KV v2, ".Data.key" otherwise) work unchanged.
type Secret struct {
	// Path is the path actually read (after the KV v2 "data/" rewrite).
	Path string
	// RequestID is Vault's id of the request that answered (request_id), which Vault Agent
	// templates print with the whole secret.
	RequestID     string
	LeaseID       string
	LeaseDuration int // seconds, as Vault reports it
	Renewable     bool
	Data          map[string]any
	Warnings      []string
	// KVVersion is 1 or 2 for KV mounts, 0 for any other engine.
	KVVersion int `json:"-"`
}

// Values is the secret's payload: the inner "data" of a KV v2 read, Data otherwise. It is what
// the json, yaml, env and raw formats render.
func (s *Secret) Values() map[string]any {
	if s.KVVersion == 2 {
		if m, ok := s.Data["data"].(map[string]any); ok {
			return m
		}
		return map[string]any{}
	}
	return s.Data
}

// Leased reports whether the secret has a lease that must be renewed and re-fetched.
func (s *Secret) Leased() bool { return s.LeaseID != "" && s.LeaseDuration > 0 }

// TTL is the lease duration, clamped (see Seconds).
func (s *Secret) TTL() time.Duration { return Seconds(s.LeaseDuration) }

// MaxTTL bounds every duration Vault reports: Vault's own default max_lease_ttl is 32 days, and
// a lease_duration of 1e10 s overflowed time.Duration into a negative value that panicked the
// lease watch, so the sidecar crash-looped.
const MaxTTL = 366 * 24 * time.Hour

// Seconds is a count of seconds from Vault as a duration within [0, MaxTTL].
func Seconds(n int) time.Duration {
	return clampTTL(time.Duration(min(max(n, 0), int(MaxTTL/time.Second))) * time.Second)
}

func clampTTL(d time.Duration) time.Duration { return min(max(d, 0), MaxTTL) }

// Error is a failed Vault operation. Its message is a single line that names the operation, the
// path and Vault's answer (status and messages), and never carries a secret value: it is what
// `agent run --once` prints when it gives up.
type Error struct {
	Op     string // "read", "write", "login", "lookup-self", ...
	Path   string
	Status int      // HTTP status; 0 when Vault was not reached
	Errors []string // Vault's error messages
	Err    error    // transport or other cause when Status is 0
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: ", e.Op, e.Path)
	if e.Status != 0 {
		fmt.Fprintf(&b, "Vault answered %d", e.Status)
		if len(e.Errors) > 0 {
			b.WriteString(": " + strings.Join(e.Errors, "; "))
		}
	} else {
		fmt.Fprintf(&b, "%v", e.Err)
	}
	return oneLine(b.String())
}

func (e *Error) Unwrap() error { return e.Err }

// oneLine folds Vault's multi-line messages ("1 error occurred:\n\t* permission denied") so the
// failure reason fits in one stderr line and one log field.
func oneLine(s string) string {
	s = multiErrorHead.ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, "\n\t* ", "; ")
	s = strings.TrimPrefix(strings.ReplaceAll(s, ": ; ", ": "), "; ")
	return strings.Join(strings.Fields(s), " ")
}

// multiErrorHead is go-multierror's "N error(s) occurred:" header, noise in a one-line reason.
var multiErrorHead = regexp.MustCompile(`\d+ errors? occurred:`)

// StatusOf returns the HTTP status of a Vault error, or 0.
func StatusOf(err error) int {
	var ve *Error
	if errors.As(err, &ve) {
		return ve.Status
	}
	return 0
}

// HasStatus reports whether any Vault error in err's tree (joined errors included) has the
// HTTP status code.
func HasStatus(err error, code int) bool {
	switch x := err.(type) {
	case nil:
		return false
	case *Error:
		return x.Status == code
	case interface{ Unwrap() []error }:
		for _, e := range x.Unwrap() {
			if HasStatus(e, code) {
				return true
			}
		}
		return false
	}
	return HasStatus(errors.Unwrap(err), code)
}
