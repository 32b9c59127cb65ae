package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

func TestErrorIsOneLine(t *testing.T) {
	e := &Error{Op: "read", Path: "secret/data/app", Status: 403, Errors: []string{"1 error occurred:\n\t* permission denied\n\n"}}
	if got, want := e.Error(), "read secret/data/app: Vault answered 403: permission denied"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	e = &Error{Op: "login", Path: "auth/kubernetes/login", Err: errors.New("dial tcp: connection\nrefused")}
	if strings.Contains(e.Error(), "\n") || StatusOf(e) != 0 {
		t.Errorf("transport error: %q", e.Error())
	}
	if !HasStatus(errors.Join(errors.New("x"), e, fmt.Errorf("w: %w", &Error{Status: 404})), 404) {
		t.Error("StatusOf does not see through joined errors")
	}
}

func TestValues(t *testing.T) {
	inner := map[string]any{"k": "v"}
	if got := (&Secret{KVVersion: 2, Data: map[string]any{"data": inner}}).Values(); got["k"] != "v" {
		t.Errorf("kv2 values %v", got)
	}
	if got := (&Secret{KVVersion: 1, Data: inner}).Values(); got["k"] != "v" {
		t.Errorf("kv1 values %v", got)
	}
}

// fakeVault answers the mounts preflight and reads, counting preflights.
func fakeVault(t *testing.T, mounts map[string]string, preflights *atomic.Int64) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := strings.CutPrefix(r.URL.Path, "/v1/sys/internal/ui/mounts/"); ok {
			preflights.Add(1)
			for m, body := range mounts {
				if strings.HasPrefix(p+"/", m) {
					_, _ = w.Write([]byte(body))
					return
				}
			}
			w.WriteHeader(403)
			_, _ = w.Write([]byte(`{"errors":["permission denied"]}`))
			return
		}
		_, _ = w.Write([]byte(`{"data":{"path":"` + strings.TrimPrefix(r.URL.Path, "/v1/") + `","data":{"k":"v"}}}`))
	}))
}

func TestKVDetectionRewritesAndCaches(t *testing.T) {
	var n atomic.Int64
	srv := fakeVault(t, map[string]string{
		"secret/": `{"data":{"path":"secret/","type":"kv","options":{"version":"2"}}}`,
		"kv1/":    `{"data":{"path":"kv1/","type":"kv","options":null}}`,
		"db/":     `{"data":{"path":"db/","type":"database"}}`,
	}, &n)
	defer srv.Close()
	c, err := New(&contract.Config{Vault: contract.Vault{Address: srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		in, read string
		kv       int
	}{
		{"secret/app", "secret/data/app", 2},
		{"/secret/data/app/", "secret/data/app", 2},
		{"secret/a/b", "secret/data/a/b", 2},
		{"kv1/app", "kv1/app", 1},
		{"db/creds/x", "db/creds/x", 0},
		{"other/denied", "other/denied", 0},
	}
	for _, tc := range cases {
		s, err := c.Read(context.Background(), tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if s.Path != tc.read || s.KVVersion != tc.kv {
			t.Errorf("%s: read %s (kv %d), want %s (kv %d)", tc.in, s.Path, s.KVVersion, tc.read, tc.kv)
		}
	}
	// secret/, kv1/ and db/ are asked once each; the unknown mount is asked every time.
	if got := n.Load(); got != 4 {
		t.Errorf("%d preflight requests, want 4 (cached per mount)", got)
	}
}

func TestOneLineMultiError(t *testing.T) {
	in := "read x: Vault answered 403: 2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"
	if got, want := oneLine(in), "read x: Vault answered 403: permission denied; invalid token"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
