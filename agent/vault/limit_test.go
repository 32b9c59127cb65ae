package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/vault-injector/vault-injector/agent/vault/fakehttp"
	"github.com/vault-injector/vault-injector/contract"
)

// hugeSecret writes a KV v2 answer of about n bytes, as it is sent.
func hugeSecret(n int) func(w io.Writer) {
	return func(w io.Writer) {
		_, _ = io.WriteString(w, `{"data":{"data":{"blob":"`)
		chunk := strings.Repeat("x", 64<<10)
		for sent := 0; sent < n; sent += len(chunk) {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
		_, _ = io.WriteString(w, `"}}}`)
	}
}

// TestResponseSizeCapped reads answers over the limit, streamed without a length and announced
// with one: both fail with an error naming the path and the limit, without reading the rest.
func TestResponseSizeCapped(t *testing.T) {
	srv := fakehttp.Start(0)
	t.Cleanup(srv.Close)
	srv.Stream("secret/big", hugeSecret(3<<20))
	announced := `{"data":{"data":{"blob":"` + strings.Repeat("x", 2<<20) + `"}}}`
	srv.Stream("secret/announced", func(w io.Writer) {
		w.(http.ResponseWriter).Header().Set("Content-Length", fmt.Sprint(len(announced)))
		_, _ = io.WriteString(w, announced)
	})
	srv.Put("secret/small", map[string]any{"k": strings.Repeat("v", 1000)}, 0)
	c, _ := tokenClient(t, srv, contract.Backoff{})
	c2, err := New(&contract.Config{Vault: contract.Vault{Address: srv.URL}, MaxSecretBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"secret/big", "secret/announced"} {
		_, err := c.Read(context.Background(), p)
		var tl *TooLargeError
		if !errors.As(err, &tl) || tl.Limit != contract.DefaultMaxSecretBytes {
			t.Fatalf("%s: err = %v, want TooLargeError", p, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "read secret/data/"+strings.TrimPrefix(p, "secret/")) ||
			!strings.Contains(msg, "1048576 bytes (maxSecretBytes)") || strings.Contains(msg, "http://") {
			t.Errorf("%s: message %q", p, msg)
		}
		// A larger configured limit lets the same answer through.
		if s, err := c2.Read(context.Background(), p); err != nil || len(s.Values()["blob"].(string)) < 2<<20-100 {
			t.Errorf("%s with a 4 MiB limit: %v", p, err)
		}
	}
	if s, err := c.Read(context.Background(), "secret/small"); err != nil || len(s.Values()["k"].(string)) != 1000 {
		t.Errorf("a small secret: %v", err)
	}
}
