package vault

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/contract"
)

// vaultAnswers are answers a broken or hostile Vault may send, each for every request.
var vaultAnswers = []string{
	`{"lease_id":"db/creds/x/1","lease_duration":10000000000,"renewable":true,"data":{"k":"v"}}`,
	`{"lease_id":"db/creds/x/1","lease_duration":-5,"renewable":true,"data":{"k":"v"}}`,
	`{"auth":{"client_token":"hvs.x","lease_duration":9223372036854775807,"renewable":true}}`,
	`{"data":{"ttl":1e300,"renewable":true,"id":"hvs.x"},"auth":{"client_token":"hvs.x","lease_duration":-1}}`,
	`{"data":{"ttl":"forever"}}`,
	`{"data":{"path":"secret/","type":"kv","options":{"version":"2"}},"lease_duration":99999999999}`,
	`{"errors":["x"]}`, `null`, `[]`, `{`,
}

// TestHugeLeaseDoesNotPanic: a lease_duration of 1e10 s panicked the sidecar's lease watch
// ("invalid argument to N"), so it crash-looped. Every duration from Vault is clamped.
func TestHugeLeaseDoesNotPanic(t *testing.T) {
	s := &Secret{LeaseID: "db/creds/x/1", LeaseDuration: 10_000_000_000, Renewable: true}
	if s.TTL() != MaxTTL {
		t.Errorf("TTL %s, want %s", s.TTL(), MaxTTL)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = keepAlive(ctx, lifetime{kind: "lease", ttl: s.TTL(), renewable: true}, fixed(time.Millisecond), nil)
	for _, n := range []int{-1 << 62, -1, 0, 1, int(MaxTTL/time.Second) + 1, 1 << 62} {
		if d := Seconds(n); d < 0 || d > MaxTTL {
			t.Errorf("Seconds(%d) = %s", n, d)
		}
	}
}

// FuzzVaultAnswer sends one answer to every request of every operation that decodes Vault's
// answers (read with KV detection, write, login, lookup and renewal of the token, lease
// renewal), then runs the lease and token lifetimes it got: nothing may panic.
func FuzzVaultAnswer(f *testing.F) {
	for _, a := range vaultAnswers {
		f.Add(a)
	}
	f.Fuzz(func(t *testing.T, answer string) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(answer))
		}))
		defer srv.Close()
		auth := contract.Auth{Method: contract.AuthKubernetes, Path: "auth/kubernetes", Role: "app", TokenFile: tokenFile(t)}
		c, err := New(&contract.Config{Vault: contract.Vault{Address: srv.URL}, Auth: auth})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		done, stop := context.WithCancel(ctx)
		stop() // the lifetimes compute their schedule, then return at once
		check := func(ttl time.Duration, renewable bool) {
			if ttl < 0 || ttl > MaxTTL {
				t.Fatalf("duration %s from Vault escaped the clamp", ttl)
			}
			_ = keepAlive(done, lifetime{kind: "lease", ttl: ttl, renewable: renewable}, fixed(time.Millisecond), nil)
		}
		for _, m := range []Method{NewMethod(c, auth), NewMethod(c, contract.Auth{Method: contract.AuthJWT, Path: "auth/jwt", Role: "app", TokenFile: auth.TokenFile})} {
			if tok, err := m.Login(ctx); err == nil {
				check(tok.TTL, tok.Renewable)
			}
		}
		if tok, err := c.LookupToken(ctx, "hvs.x"); err == nil {
			check(tok.TTL, tok.Renewable)
		}
		if tok, err := c.RenewToken(ctx, "hvs.x", time.Hour); err == nil {
			check(tok.TTL, tok.Renewable)
		}
		for _, op := range []func() (*Secret, error){
			func() (*Secret, error) { return c.Read(ctx, "secret/app") },
			func() (*Secret, error) { return c.Write(ctx, "pki/issue/web", map[string]any{"common_name": "a"}) },
		} {
			if s, err := op(); err == nil {
				check(s.TTL(), s.Renewable)
				_ = s.Values()
			}
		}
	})
}

// fixed is a backoff of one delay.
type fixed time.Duration

func (f fixed) Next() time.Duration { return time.Duration(f) }
func (f fixed) Reset()              {}
