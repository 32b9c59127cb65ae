// Command tokenizer is the test "tokenization service" of the end-to-end suite: it turns values
// into opaque tokens and back over HTTP, with an encryption key that it reads only from the
// file the injector renders (never from the environment or the image), and picks up a rotated
// key without restarting.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type config struct {
	listen  string
	keyFile string
	poll    time.Duration
}

func main() {
	var cfg config
	flag.StringVar(&cfg.listen, "listen", ":8080", "address to serve the API on")
	flag.StringVar(&cfg.keyFile, "key-file", "/vault/secrets/tokenizer-key", "file holding the key material, as rendered by the injector")
	flag.DurationVar(&cfg.poll, "poll", time.Second, "how often the key file is checked for a new key")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(ctx, log, cfg, nil); err != nil {
		log.Error("tokenizer stopped", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx ends. ready, when non-nil, receives the bound address (tests listen on
// port 0).
func run(ctx context.Context, log *slog.Logger, cfg config, ready chan<- string) error {
	if cfg.poll <= 0 {
		return fmt.Errorf("-poll must be positive, got %s", cfg.poll)
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	ring := &keyring{}
	go watchKeyFile(ctx, log, ring, cfg.keyFile, cfg.poll)
	srv := &http.Server{Handler: newHandler(ring), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	log.Info("serving", "addr", ln.Addr().String(), "keyFile", cfg.keyFile)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
