// Package freeport finds free TCP ports for the real servers the tests start, so parallel runs
// never collide on fixed ports.
package freeport

import (
	"fmt"
	"net"
	"testing"
)

// On returns a port that is free on host (e.g. 127.0.0.1 or the pod bridge's gateway) now. The
// caller binds it right away; another process could take it in between, which tests accept.
func On(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("finding a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// For is On inside a test: it fails the test when no port can be found.
func For(t testing.TB, host string) int {
	t.Helper()
	port, err := On(host)
	if err != nil {
		t.Fatal(err)
	}
	return port
}
