package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/hashicorp/vault/api"
)

// TooLargeError is a Vault response over the configured limit (maxSecretBytes). The API client
// reads a whole response into two buffers before decoding it, so a 100 MiB answer once took the
// agent to 912 MB; the limit stops the read instead.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("Vault's answer is larger than %d bytes (maxSecretBytes): refused", e.Limit)
}

// limitTransport cuts every response body at max bytes: one announced as larger fails before a
// byte is read, any other fails its read past the limit.
type limitTransport struct {
	next http.RoundTripper
	max  int64
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, &TooLargeError{Limit: t.max}
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.max, limit: t.max}
	return resp, nil
}

type limitedBody struct {
	rc    io.ReadCloser
	left  int64
	limit int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, &TooLargeError{Limit: b.limit}
	}
	// Read one byte past the limit to tell "exactly max" from "more".
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, &TooLargeError{Limit: b.limit}
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// read is Logical().ReadWithContext without api.ParseSecret, which copies the whole body into
// two buffers before decoding it: the secret is decoded straight from the (limited) body.
func (a *APIClient) read(ctx context.Context, path string) (*api.Secret, error) {
	ctx, cancel := context.WithTimeout(ctx, a.c.ClientTimeout())
	defer cancel()
	resp, err := a.c.Logical().ReadRawWithContext(ctx, path)
	if resp != nil {
		defer resp.Body.Close()
	}
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		// As the API client: a 404 may still carry warnings or data (a deleted KV v2 version).
		s, derr := decodeSecret(resp.Body)
		if derr != nil || s == nil || (len(s.Warnings) == 0 && len(s.Data) == 0) {
			return nil, derr
		}
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeSecret(resp.Body)
}

// decodeSecret decodes one response, numbers as json.Number as the API client does; an empty
// body is no secret.
func decodeSecret(r io.Reader) (*api.Secret, error) {
	var s api.Secret
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	return &s, nil
}
