package vault

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

func TestOperation(t *testing.T) {
	for _, tc := range []struct{ method, path, want string }{
		{"PUT", "/v1/auth/kubernetes/login", "login"},
		{"POST", "/v1/auth/clusters/prod/login", "login"},
		{"PUT", "/v1/auth/token/renew-self", "renew-self"},
		{"GET", "/v1/auth/token/lookup-self", "lookup-self"},
		{"PUT", "/v1/auth/token/revoke-self", "revoke-self"},
		{"PUT", "/v1/sys/leases/renew", "renew"},
		{"GET", "/v1/sys/internal/ui/mounts/secret/app", "mounts"},
		{"GET", "/v1/secret/data/app", "read"},
		{"PUT", "/v1/pki/issue/web", "write"},
	} {
		if got := operation(tc.method, tc.path); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}

type recorder struct {
	mu   sync.Mutex
	reqs []string
}

func (r *recorder) Request(op, status string, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, op+" "+status)
}

func (r *recorder) Expiry(string, string, time.Time) {}

func TestTimedTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) }))
	defer srv.Close()
	rec := &recorder{}
	ref := &observerRef{}
	var o Observer = rec
	ref.Store(&o)
	c := &http.Client{Transport: &timedTransport{next: http.DefaultTransport, obs: ref}}
	resp, err := c.Get(srv.URL + "/v1/secret/data/app")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp, err := c.Get("http://127.0.0.1:1/v1/auth/token/lookup-self"); err == nil {
		resp.Body.Close()
		t.Fatal("port 1 answered")
	}
	if len(rec.reqs) != 2 || rec.reqs[0] != "read 403" || rec.reqs[1] != "lookup-self error" {
		t.Fatalf("observed %q", rec.reqs)
	}
}
