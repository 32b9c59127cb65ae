package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vault-injector/vault-injector/test/background"
	"github.com/vault-injector/vault-injector/test/wait"
)

// startServer runs the tokenizer on a free loopback port with keyFile and returns its URL.
func startServer(t *testing.T, keyFile string) string {
	t.Helper()
	ready := make(chan string, 1)
	cfg := config{listen: "127.0.0.1:0", keyFile: keyFile, poll: 20 * time.Millisecond}
	server := background.Start(t, func(ctx context.Context) error {
		return run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), cfg, ready)
	})
	select {
	case addr := <-ready:
		return "http://" + addr
	case <-server.Done():
		t.Fatalf("run: %v", server.Err())
	}
	return ""
}

func post(t *testing.T, url string, in, out any) int {
	t.Helper()
	b, _ := json.Marshal(in)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func getKeyID(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/key")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var k keyResponse
	_ = json.NewDecoder(resp.Body).Decode(&k)
	return k.KeyID
}

// swapKey publishes a new key the way the injector does: a new directory, then an atomic swap
// of the `..data` symlink that the key file path goes through.
func swapKey(t *testing.T, dir, material string) {
	t.Helper()
	gen, err := os.MkdirTemp(dir, "..gen")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(gen, "key"), []byte(material+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(gen), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

func TestServiceRoundTripAndRotation(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.Symlink("..data/key", keyFile); err != nil {
		t.Fatal(err)
	}
	url := startServer(t, keyFile)

	// No key yet: not ready, and tokenize says so instead of using some default key.
	var e map[string]string
	if code := post(t, url+"/tokenize", tokenizeRequest{Value: "v"}, &e); code != http.StatusServiceUnavailable {
		t.Fatalf("tokenize without key: %d %v", code, e)
	}

	swapKey(t, dir, "key-one-0123456789abcdef")
	wait.For(t, 5*time.Second, "first key", func() bool { return getKeyID(t, url) != "" })
	first := getKeyID(t, url)
	var tok tokenizeResponse
	if code := post(t, url+"/tokenize", tokenizeRequest{Value: "alice@example.com"}, &tok); code != 200 || tok.KeyID != first {
		t.Fatalf("tokenize: %d %+v", code, tok)
	}

	swapKey(t, dir, "key-two-0123456789abcdef")
	wait.For(t, 5*time.Second, "rotated key", func() bool { return getKeyID(t, url) != first })
	var tok2 tokenizeResponse
	post(t, url+"/tokenize", tokenizeRequest{Value: "bob@example.com"}, &tok2)
	if tok2.KeyID == first {
		t.Fatalf("token after rotation still uses the old key")
	}
	for tk, want := range map[string]string{tok.Token: "alice@example.com", tok2.Token: "bob@example.com"} {
		var out detokenizeResponse
		if code := post(t, url+"/detokenize", detokenizeRequest{Token: tk}, &out); code != 200 || out.Value != want {
			t.Errorf("detokenize: %d %q, want %q", code, out.Value, want)
		}
	}

	// A broken render keeps the last good key.
	swapKey(t, dir, "tiny")
	time.Sleep(100 * time.Millisecond)
	if id := getKeyID(t, url); id != tok2.KeyID {
		t.Errorf("key after bad render = %s, want %s", id, tok2.KeyID)
	}
}

func TestServiceRejectsBadRequests(t *testing.T) {
	url := startServer(t, filepath.Join(t.TempDir(), "missing"))
	resp, err := http.Post(url+"/detokenize", "application/json", bytes.NewReader([]byte(`{"tok":1}`)))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown field: %d", resp.StatusCode)
	}
	resp, err = http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz without key: %d", resp.StatusCode)
	}
}
