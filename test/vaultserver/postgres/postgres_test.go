package postgres

import (
	"context"
	"strings"
	"testing"
)

func TestStartQueryStop(t *testing.T) {
	s := New(t)
	out, err := s.Query(context.Background(), s.User, s.Password, "select 40+2")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "42" {
		t.Fatalf("query returned %q", out)
	}
	if _, err := s.Query(context.Background(), s.User, "wrong", "select 1"); err == nil {
		t.Fatal("wrong password accepted: password auth is off")
	}
}
