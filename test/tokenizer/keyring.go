package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// minKeyLen refuses key files that are obviously not keys (an empty or placeholder render).
const minKeyLen = 16

// maxOldKeys bounds how many earlier keys stay usable for detokenizing after rotations.
const maxOldKeys = 8

const tokenPrefix = "tok_"

var (
	errNoKey      = errors.New("no key loaded")
	errBadToken   = errors.New("malformed token")
	errUnknownKey = errors.New("token was made with a key this service no longer has")
)

type key struct {
	id   string
	aead cipher.AEAD
}

// keyring holds the current key, which tokenizes, and a few earlier ones, so tokens issued
// before a rotation still detokenize.
type keyring struct {
	mu      sync.RWMutex
	current *key
	old     []*key // oldest first
}

// deriveKey turns the file's material (any string from Vault) into an AES-256 key and a public
// key id with HKDF, so the id reveals nothing about the key.
func deriveKey(material []byte) (*key, error) {
	if len(material) < minKeyLen {
		return nil, fmt.Errorf("key material is %d bytes, need at least %d", len(material), minKeyLen)
	}
	okm, err := hkdf.Key(sha256.New, material, nil, "vault-injector tokenizer v1", 32+4)
	if err != nil {
		return nil, fmt.Errorf("deriving key: %w", err)
	}
	block, err := aes.NewCipher(okm[:32])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &key{id: hex.EncodeToString(okm[32:]), aead: aead}, nil
}

// load makes material the current key and reports its id and whether it changed.
func (r *keyring) load(material []byte) (string, bool, error) {
	k, err := deriveKey(material)
	if err != nil {
		return "", false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current != nil && r.current.id == k.id {
		return k.id, false, nil
	}
	if r.current != nil {
		r.old = append(r.old, r.current)
		if len(r.old) > maxOldKeys {
			r.old = r.old[1:]
		}
	}
	r.current = k
	return k.id, true, nil
}

// currentID is the id of the key that tokenizes now, "" before the first load.
func (r *keyring) currentID() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.current == nil {
		return ""
	}
	return r.current.id
}

// tokenize encrypts value under the current key: tok_<keyid>_<base64url(nonce|ciphertext)>.
// The key id is authenticated data, so a token cannot be moved to another key.
func (r *keyring) tokenize(value []byte) (string, error) {
	r.mu.RLock()
	k := r.current
	r.mu.RUnlock()
	if k == nil {
		return "", errNoKey
	}
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := k.aead.Seal(nonce, nonce, value, []byte(k.id))
	return tokenPrefix + k.id + "_" + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// detokenize reverses tokenize with whichever known key made the token.
func (r *keyring) detokenize(token string) ([]byte, error) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	id, payload, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 {
		return nil, errBadToken
	}
	k := r.find(id)
	if k == nil {
		return nil, errUnknownKey
	}
	sealed, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || len(sealed) < k.aead.NonceSize() {
		return nil, errBadToken
	}
	n := k.aead.NonceSize()
	value, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(id))
	if err != nil {
		return nil, errBadToken
	}
	return value, nil
}

func (r *keyring) find(id string) *key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.current != nil && r.current.id == id {
		return r.current
	}
	for _, k := range r.old {
		if k.id == id {
			return k
		}
	}
	return nil
}
