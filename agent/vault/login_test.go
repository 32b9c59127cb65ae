package vault

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/vault-injector/vault-injector/contract"
)

// TestKubernetesLoginRereadsTokenFile checks the login request the real kubernetes-auth path
// sends (mount, role, JWT) and that a rotated projected token is used at the next login. The
// full chain against a real API server is the cluster e2e's job.
func TestKubernetesLoginRereadsTokenFile(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]string
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		got, paths = append(got, body), append(paths, r.URL.Path)
		mu.Unlock()
		_, _ = w.Write([]byte(`{"auth":{"client_token":"hvs.issued","lease_duration":3600,"renewable":true}}`))
	}))
	defer srv.Close()
	jwt := filepath.Join(t.TempDir(), "token")
	_ = os.WriteFile(jwt, []byte("jwt-1"), 0o600)
	auth := contract.Auth{Path: "auth/k8s-prod", Role: "app", TokenFile: jwt}
	c, err := New(&contract.Config{Vault: contract.Vault{Address: srv.URL}, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewMethod(c, auth).Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(jwt, []byte("jwt-2"), 0o600) // the kubelet rotated the projected token
	tok, err := NewMethod(c, auth).Login(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Value != "hvs.issued" {
		t.Errorf("token not set from the login response")
	}
	if len(got) != 2 || got[0]["jwt"] != "jwt-1" || got[1]["jwt"] != "jwt-2" || got[1]["role"] != "app" {
		t.Errorf("login bodies %v", got)
	}
	if paths[0] != "/v1/auth/k8s-prod/login" {
		t.Errorf("login path %s", paths[0])
	}
}

func TestLoginErrorsNameThePath(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(403)
		_, _ = w.Write([]byte(`{"errors":["permission denied"]}`))
	}))
	defer srv.Close()
	jwt := filepath.Join(t.TempDir(), "token")
	_ = os.WriteFile(jwt, []byte("jwt"), 0o600)
	auth := contract.Auth{Path: "auth/kubernetes", Role: "app", TokenFile: jwt}
	c, _ := New(&contract.Config{Vault: contract.Vault{Address: srv.URL}, Auth: auth})
	_, err := NewMethod(c, auth).Login(context.Background())
	if err == nil || err.Error() != "login auth/kubernetes/login: Vault answered 403: permission denied" {
		t.Errorf("err = %v", err)
	}
	auth.TokenFile = "/nonexistent"
	if _, err := NewMethod(c, auth).Login(context.Background()); err == nil || StatusOf(err) != 0 {
		t.Errorf("missing token file: %v", err)
	}
}
