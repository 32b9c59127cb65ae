package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestReloadOnPost(t *testing.T) {
	file := filepath.Join(t.TempDir(), "value")
	if err := os.WriteFile(file, []byte("one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &app{file: file}
	if err := a.load("start"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.handler())
	defer srv.Close()
	if err := os.WriteFile(file, []byte("two\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st := state(t, srv.URL); st.Value != "one" || st.Reloads != 0 {
		t.Fatalf("before the reload: %+v", st)
	}
	resp, err := http.Post(srv.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := a.load("signal"); err != nil {
		t.Fatal(err)
	}
	if st := state(t, srv.URL); st.Value != "two" || st.Reloads != 2 || !slices.Equal(st.Via, []string{"http", "signal"}) {
		t.Fatalf("after two reloads: %+v", st)
	}
}

func state(t *testing.T, url string) State {
	t.Helper()
	resp, err := http.Get(url + "/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st State
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}
