package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"time"
)

// watchKeyFile loads the key from file now and again whenever its content changes. It polls
// rather than using inotify: the injector swaps a `..data` symlink, which a watch on the file
// itself would miss, and a read every second is cheap. A missing or bad file keeps the last
// good key (the agent keeps the last good files while Vault is unreachable, too).
func watchKeyFile(ctx context.Context, log *slog.Logger, ring *keyring, file string, every time.Duration) {
	var last []byte
	var lastErr string
	check := func() {
		material, err := readKey(file)
		if err == nil && bytes.Equal(material, last) {
			return
		}
		var id string
		var changed bool
		if err == nil {
			id, changed, err = ring.load(material)
		}
		if err != nil {
			// Log each distinct problem once, not once per poll.
			if err.Error() != lastErr {
				log.Warn("key file not usable, keeping the current key", "file", file, "err", err)
				lastErr = err.Error()
			}
			return
		}
		last, lastErr = material, ""
		if changed {
			log.Info("key loaded", "file", file, "keyId", id)
		}
	}
	check()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check()
		}
	}
}

// readKey reads the key material; surrounding whitespace (a template's trailing newline) is
// not part of the key.
func readKey(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return bytes.TrimSpace(b), nil
}
