// Package fakehttp is a fake Vault HTTP API on a loopback port, for tests (and the benchmark)
// that need the agent's real Vault client: token lookup and renewal, lease renewal, the KV
// mounts preflight, KV v2 reads, with failures injected per endpoint and requests counted.
// Everything under secret/ is a KV v2 mount; other paths are plain logical reads.
package fakehttp

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Endpoints, as counted by Count and failed by Fail.
const (
	LookupSelf = "lookup-self"
	RenewSelf  = "renew-self"
	RenewLease = "renew-lease"
	RevokeSelf = "revoke-self"
	Read       = "read"
)

// Server is the fake Vault. Configure it before the agent starts or under its lock via the
// methods; all methods are safe for concurrent use.
type Server struct {
	URL string
	srv *httptest.Server

	mu        sync.Mutex
	tokenTTL  int // seconds
	leaseTTL  int
	fail      map[string]int
	counts    map[string]int
	data      map[string]map[string]any // path -> KV v2 data (or plain data outside secret/)
	leases    map[string]int            // path -> lease seconds, for paths outside secret/
	streams   map[string]func(w io.Writer)
	leasedRev int
}

// Start serves a fake Vault whose tokens live tokenTTL seconds (0: never expire).
func Start(tokenTTL int) *Server {
	s := &Server{tokenTTL: tokenTTL, fail: map[string]int{}, counts: map[string]int{},
		data: map[string]map[string]any{}, leases: map[string]int{}, streams: map[string]func(io.Writer){}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Put stores a secret's data at path (e.g. "secret/app" for KV v2, "database/creds/app").
// leaseTTL > 0 makes reads outside secret/ return a renewable lease of that many seconds.
func (s *Server) Put(path string, data map[string]any, leaseTTL int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[path] = data
	s.leases[path] = leaseTTL
	delete(s.streams, path)
	if leaseTTL > 0 {
		s.leaseTTL = leaseTTL // what lease renewals grant
	}
}

// Stream makes reads of path answer whatever body writes (a response of any size, produced as
// it is sent), with status 200.
func (s *Server) Stream(path string, body func(w io.Writer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams[path] = body
}

// Fail makes an endpoint answer status (0: answer normally again).
func (s *Server) Fail(endpoint string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[endpoint] = status
}

// Count is how many requests an endpoint got.
func (s *Server) Count(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[endpoint]
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/v1/")
	ep := endpoint(p)
	s.mu.Lock()
	s.counts[ep]++
	status := s.fail[ep]
	s.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"errors":["injected failure %d"]}`, status)
		return
	}
	switch ep {
	case LookupSelf:
		s.mu.Lock()
		ttl := s.tokenTTL
		s.mu.Unlock()
		writeJSON(w, map[string]any{"data": map[string]any{"ttl": ttl, "renewable": ttl > 0}})
	case RenewSelf:
		s.mu.Lock()
		ttl := s.tokenTTL
		s.mu.Unlock()
		writeJSON(w, map[string]any{"auth": map[string]any{"client_token": "t", "lease_duration": ttl, "renewable": true}})
	case RenewLease:
		s.mu.Lock()
		ttl := s.leaseTTL
		s.mu.Unlock()
		writeJSON(w, map[string]any{"lease_id": "l", "lease_duration": ttl, "renewable": true})
	case RevokeSelf:
		w.WriteHeader(http.StatusNoContent)
	case "mounts":
		if strings.HasPrefix(strings.TrimPrefix(p, "sys/internal/ui/mounts/"), "secret/") {
			writeJSON(w, map[string]any{"data": map[string]any{"path": "secret/", "type": "kv", "options": map[string]any{"version": "2"}}})
			return
		}
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"errors":["permission denied"]}`))
	default:
		s.read(w, p)
	}
}

func (s *Server) read(w http.ResponseWriter, p string) {
	key := strings.Replace(p, "secret/data/", "secret/", 1)
	s.mu.Lock()
	stream, data, leaseTTL := s.streams[key], s.data[key], s.leases[key]
	if data != nil && !strings.HasPrefix(key, "secret/") && leaseTTL > 0 {
		s.leasedRev++
	}
	rev := s.leasedRev
	s.mu.Unlock()
	switch {
	case stream != nil:
		stream(w)
	case data == nil:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"errors":[]}`))
	case strings.HasPrefix(key, "secret/"):
		writeJSON(w, map[string]any{"data": map[string]any{"data": data, "metadata": map[string]any{"version": 1}}})
	case leaseTTL > 0:
		writeJSON(w, map[string]any{"lease_id": fmt.Sprintf("%s/%d", key, rev), "lease_duration": leaseTTL, "renewable": true, "data": data})
	default:
		writeJSON(w, map[string]any{"data": data})
	}
}

func endpoint(p string) string {
	switch {
	case p == "auth/token/lookup-self":
		return LookupSelf
	case p == "auth/token/renew-self":
		return RenewSelf
	case p == "auth/token/revoke-self":
		return RevokeSelf
	case p == "sys/leases/renew" || p == "sys/renew":
		return RenewLease
	case strings.HasPrefix(p, "sys/internal/ui/mounts/"):
		return "mounts"
	}
	return Read
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
