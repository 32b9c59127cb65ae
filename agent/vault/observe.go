package vault

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Observer receives what the agent's metrics need from the client: how long each Vault request
// took, and when each lease expires (and, through SessionEvents.Expires, the token). It never
// sees a value or a token.
type Observer interface {
	// Request is called after each HTTP request to Vault. status is the HTTP status code, or
	// "error" when Vault was not reached (or its answer was refused).
	Request(op, status string, d time.Duration)
	// Expiry says when the token (kind "token") or a lease (kind "lease", id its lease ID)
	// ends; a zero time means it is no longer watched.
	Expiry(kind, id string, at time.Time)
}

// SetObserver makes o receive the client's requests and expiries from now on.
func (a *APIClient) SetObserver(o Observer) { a.obs.Store(&o) }

type observerRef struct{ atomic.Pointer[Observer] }

func (r *observerRef) get() Observer {
	if p := r.Load(); p != nil {
		return *p
	}
	return nil
}

func (r *observerRef) expiry(kind, id string, at time.Time) {
	if o := r.get(); o != nil {
		o.Expiry(kind, id, at)
	}
}

// timedTransport times every request at the HTTP level, so logins, reads, renewals and the KV
// preflight are all measured the same way, whichever API helper sent them.
type timedTransport struct {
	next http.RoundTripper
	obs  *observerRef
}

func (t *timedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	if o := t.obs.get(); o != nil {
		status := "error"
		if err == nil {
			status = strconv.Itoa(resp.StatusCode)
		}
		o.Request(operation(req.Method, req.URL.Path), status, time.Since(start))
	}
	return resp, err
}

// operation names a request by what it does, never by its path: paths are the user's own.
func operation(method, path string) string {
	p := strings.TrimPrefix(path, "/v1/")
	switch {
	case strings.HasPrefix(p, "auth/") && strings.HasSuffix(p, "/login"):
		return "login"
	case p == "auth/token/renew-self", p == "auth/token/lookup-self", p == "auth/token/revoke-self":
		return strings.TrimPrefix(p, "auth/token/")
	case p == "sys/leases/renew":
		return "renew"
	case strings.HasPrefix(p, "sys/internal/ui/mounts"):
		return "mounts"
	case method == http.MethodGet:
		return "read"
	}
	return "write"
}
