package main

import (
	"errors"
	"strings"
	"testing"
)

func TestKeyringRoundTripAndRotation(t *testing.T) {
	var r keyring
	if _, err := r.tokenize([]byte("x")); !errors.Is(err, errNoKey) {
		t.Fatalf("tokenize without key: %v", err)
	}
	id1, changed, err := r.load([]byte("first-key-material-0123456789"))
	if err != nil || !changed {
		t.Fatalf("load: %v %v", changed, err)
	}
	tok1, err := r.tokenize([]byte("4111 1111 1111 1111"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(tok1, "4111") || keyIDOf(tok1) != id1 {
		t.Fatalf("token %q (key %s)", tok1, id1)
	}
	if _, changed, _ := r.load([]byte("first-key-material-0123456789")); changed {
		t.Error("reloading the same key reported a change")
	}
	id2, changed, err := r.load([]byte("second-key-material-abcdefghij"))
	if err != nil || !changed || id2 == id1 {
		t.Fatalf("rotate: id %s→%s changed=%v err=%v", id1, id2, changed, err)
	}
	tok2, _ := r.tokenize([]byte("4111 1111 1111 1111"))
	if keyIDOf(tok2) != id2 {
		t.Errorf("new token uses key %s, want %s", keyIDOf(tok2), id2)
	}
	for _, tok := range []string{tok1, tok2} {
		v, err := r.detokenize(tok)
		if err != nil || string(v) != "4111 1111 1111 1111" {
			t.Errorf("detokenize %s = %q, %v", tok, v, err)
		}
	}
}

func TestKeyringRefuses(t *testing.T) {
	var r keyring
	if _, _, err := r.load([]byte("short")); err == nil {
		t.Error("short key accepted")
	}
	if _, _, err := r.load([]byte("some-key-material-0123456789")); err != nil {
		t.Fatal(err)
	}
	tok, _ := r.tokenize([]byte("secret"))
	other := &keyring{}
	_, _, _ = other.load([]byte("another-key-material-0123456789"))
	tampered := tok[:len(tok)-2] + "AA"
	moved := tokenPrefix + other.currentID() + tok[len(tokenPrefix)+8:]
	for name, c := range map[string]struct {
		token string
		want  error
	}{
		"garbage":     {"hello", errBadToken},
		"tampered":    {tampered, errBadToken},
		"unknown key": {moved, errUnknownKey},
		"bad base64":  {tokenPrefix + r.currentID() + "_!!", errBadToken},
	} {
		if _, err := r.detokenize(c.token); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", name, err, c.want)
		}
	}
	if _, err := other.detokenize(tok); !errors.Is(err, errUnknownKey) {
		t.Errorf("other keyring: %v", err)
	}
}

func TestKeyringKeepsBoundedHistory(t *testing.T) {
	var r keyring
	_, _, _ = r.load([]byte("key-number-00-material"))
	first, _ := r.tokenize([]byte("v"))
	for i := 1; i <= maxOldKeys+1; i++ {
		_, _, _ = r.load([]byte("key-number-" + string(rune('a'+i)) + "-material"))
	}
	if _, err := r.detokenize(first); !errors.Is(err, errUnknownKey) {
		t.Errorf("key older than %d rotations still usable: %v", maxOldKeys, err)
	}
}
