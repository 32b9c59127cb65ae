package server

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// Once draining, every response ends its connection, so a keep-alive client (the API server)
// opens its next connection to another replica instead of reusing one that is about to close.
func TestCloseWhenDraining(t *testing.T) {
	var draining atomic.Bool
	srv := httptest.NewServer(closeWhenDraining(&draining, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})))
	defer srv.Close()
	for _, drain := range []bool{false, true} {
		draining.Store(drain)
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.Close != drain {
			t.Errorf("draining %v: response closes the connection: %v", drain, resp.Close)
		}
	}
}
