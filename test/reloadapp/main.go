// Command reloadapp is the e2e suite's app for reload notifications (issue 13): it reads one
// secret file at start and reads it again when told, on a POST to /-/reload (the agent's
// reload-http) or on SIGHUP (reload-signal). It reports what it read on stdout
// ("READ reloads=<n> via=<how> value=<content>") and at GET /state as JSON.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", ":8080", "address of /state and /-/reload")
	file := flag.String("file", "/vault/secrets/value", "the secret file to read")
	flag.Parse()
	a := &app{file: *file}
	if err := a.load("start"); err != nil {
		fmt.Fprintln(os.Stderr, "reloadapp:", err)
		os.Exit(1)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		for range hup {
			_ = a.load("signal")
		}
	}()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reloadapp:", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: a.handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	_ = srv.Serve(ln)
}

// State is what the app last read and how often it was told to read again.
type State struct {
	Value   string   `json:"value"`
	Reloads int      `json:"reloads"`
	Via     []string `json:"via"` // how each reload arrived: http, signal
}

type app struct {
	file string
	mu   sync.Mutex
	st   State
}

func (a *app) load(via string) error {
	b, err := os.ReadFile(a.file)
	a.mu.Lock()
	defer a.mu.Unlock()
	if via != "start" {
		a.st.Reloads++
		a.st.Via = append(a.st.Via, via)
	}
	if err != nil {
		fmt.Printf("READ reloads=%d via=%s error=%q\n", a.st.Reloads, via, err)
		return err
	}
	a.st.Value = strings.TrimSpace(string(b))
	fmt.Printf("READ reloads=%d via=%s value=%s\n", a.st.Reloads, via, a.st.Value)
	return nil
}

func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, _ *http.Request) {
		if err := a.load("http"); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /state", func(w http.ResponseWriter, _ *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		_ = json.NewEncoder(w).Encode(a.st)
	})
	return mux
}
